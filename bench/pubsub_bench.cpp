// pubsub_bench: what one node's pub/sub costs, in process, on one core.
//   forward: a network of whole engines (tests/support/engine_net.hpp: real Noise links,
//            real signatures, stand-in DHT packet crypto) subscribed to one topic and shaped
//            (Shape below) so that one relaying node receives each message from a mesh peer
//            that is not the author, plus the duplicates a real mesh sends it, verifies the
//            signature once and forwards the message to its 6 other mesh links. The report
//            is the CPU time the relay spends per message, as messages per second of its
//            CPU, with the copies it received and sent per message.
//   idle:    the resident memory of an idle `kadmium node` (spawned with --spawn).
// A benchmark, not a test: figures go to docs/benchmarks.md.
//
//   pubsub_bench [--messages 20000] [--size 200] [--burst 100] [--links 6] [--duplicates 6] [--profile-relay]
//   pubsub_bench --idle-rss build/bin/kadmium
// --profile-relay sends the relay's calls through EngineNet::profiled_call, for
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*profiled_call*'
// (instructions of the relay alone).
#include "core/crypto.hpp"
#include "pubsub/topic.hpp"
#include "tests/support/engine_net.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;

// The shape of the forward benchmark's network (host indices):
//   0 author -- 1 upstream -- 2 relay -- 3.. downstream (`links` of them, all linked to
//   each other), and the first `duplicates` downstream nodes also linked to the upstream.
// The author flood-publishes to the upstream alone (its only link), so the relay receives
// each message from a mesh peer that is not the author, as every node beyond the first hop
// does, and forwards it to its `links` downstream mesh peers. A downstream node linked to
// the upstream has the message before the relay's copy reaches it and forwards it to the
// relay too: `duplicates` copies crossing the relay's own forwards, as on a real mesh with
// link delays (the simulator's 10,000-node mesh: ~5.6 duplicates per delivery).
struct Shape {
    static constexpr std::size_t author = 0, upstream = 1, relay = 2, first_downstream = 3;
    std::size_t links = 6;
    std::size_t duplicates = 6;

    std::size_t nodes() const { return first_downstream + links; }
    bool downstream(std::size_t i) const { return i >= first_downstream && i < nodes(); }
    bool may_link(std::size_t a, std::size_t b) const {
        if (a > b) std::swap(a, b);
        if (a == author) return b == upstream;
        if (a == upstream) return b == relay || (downstream(b) && b - first_downstream < duplicates);
        if (a == relay) return downstream(b);
        return downstream(a) && downstream(b);
    }
};

std::vector<std::size_t> indices_of(test::EngineNet& net, std::vector<pubsub::NodeId> const& ids) {
    std::vector<std::size_t> out;
    for (auto const& id : ids)
        for (std::size_t i = 0; i < net.size(); ++i)
            if (core::node_id_of(net.host(i).identity.public_key) == id) out.push_back(i);
    std::sort(out.begin(), out.end());
    return out;
}

std::string list(std::vector<std::size_t> const& v) {
    std::string s;
    for (auto i : v) s += (s.empty() ? "" : ",") + std::to_string(i);
    return s;
}

int forward(std::size_t messages, std::size_t size, std::size_t burst, Shape shape, bool profile) {
    test::EngineNet net;
    net.may_link = [shape](std::size_t a, std::size_t b) { return shape.may_link(a, b); };
    for (std::size_t i = 0; i < shape.nodes(); ++i) net.add();
    for (std::size_t i = 1; i < shape.nodes(); ++i) net.engine(i).bootstrap(net.now(), net.host(0).address);
    net.run_for(5s);
    for (std::size_t i = 0; i < shape.nodes(); ++i) (void)net.engine(i).subscribe(net.now(), "bench");
    net.run_for(30s);
    auto const key = pubsub::topic_key("bench");
    std::size_t const relay = Shape::relay, source = Shape::author;
    auto const mesh = indices_of(net, net.engine(relay).pubsub().mesh(key));
    auto const upstream_mesh = indices_of(net, net.engine(Shape::upstream).pubsub().mesh(key));
    std::printf("forward: relay %zu mesh {%s}, upstream %zu mesh {%s}, author %zu mesh {%s}\n", relay,
                list(mesh).c_str(), Shape::upstream, list(upstream_mesh).c_str(), source,
                list(indices_of(net, net.engine(source).pubsub().mesh(key))).c_str());
    if (mesh.size() != shape.links + 1)
        std::printf("         (the relay's mesh is not the intended upstream + %zu downstream)\n", shape.links);

    core::Bytes payload(size, std::byte{'x'});
    net.measure = true;
    net.host(relay).profiled = profile;
    for (auto i = 0u; i < net.size(); ++i) net.host(i).cpu = {}, net.host(i).timed_calls = 0, net.host(i).datagrams_in = 0;
    auto const timer_cost = test::EngineNet::timer_cost();
    auto const before = net.engine(relay).pubsub().stats();
    auto const frames_before = net.engine(relay).stats().frames_out;
    std::size_t published = 0;
    // Publish in bursts (default 100) with a millisecond between them: a burst's forwards
    // to one peer leave in one link frame, as a busy node's writes coalesce per link. The
    // mesh heartbeat still runs every second of virtual time.
    for (std::size_t m = 0; m < messages; ++m) {
        payload[0] = static_cast<std::byte>(m);
        payload[1] = static_cast<std::byte>(m >> 8);
        payload[2] = static_cast<std::byte>(m >> 16);
        if (net.timed(source, [&] { return net.engine(source).publish(net.now(), "bench", payload).ok(); })) ++published;
        if (m % burst == burst - 1) net.run_for(1ms);
    }
    net.run_for(2s);
    net.measure = false;
    auto const& relay_host = net.host(relay);
    std::size_t got = 0;
    for (auto const& d : relay_host.delivered) got += core::as_chars(d.message.payload).size() == size;
    auto const after = net.engine(relay).pubsub().stats();
    auto const frames = net.engine(relay).stats().frames_out - frames_before;
    auto const per_message = [&](std::uint64_t n) { return static_cast<double>(n) / static_cast<double>(std::max<std::size_t>(got, 1)); };
    // Each timed call also counts about one reading of the thread CPU clock (a system call,
    // ~8 us on these VMs): the relay's own work is the raw figure minus calls * that cost.
    auto own_s = [&](test::EngineHost const& h) {
        auto const clock = timer_cost * static_cast<std::int64_t>(h.timed_calls);
        return std::chrono::duration<double>(h.cpu - std::min(clock, h.cpu)).count();
    };
    double const raw_s = std::chrono::duration<double>(relay_host.cpu).count();
    double const cpu_s = own_s(relay_host);
    auto const per_s = [&](double s) { return s > 0 ? static_cast<double>(got) / s : 0.0; };
    auto const each_us = [&](double s) { return s * 1e6 / static_cast<double>(std::max<std::size_t>(got, 1)); };
    std::printf("         %zu messages of %zu B published in bursts of %zu; the relay delivered %zu; per message it received %.2f copies\n"
                "         (%.2f duplicates), verified %.2f signatures, forwarded %.2f copies (%.2f skipped by flood hints),\n"
                "         sent %.2f link frames; %llu DHT datagrams while measuring\n",
                published, size, burst, got, per_message(after.received - before.received),
                per_message(after.duplicate - before.duplicate),
                per_message(after.signature_verifies - before.signature_verifies),
                per_message(after.forwarded - before.forwarded),
                per_message(after.flood_hint_skips - before.flood_hint_skips), per_message(frames),
                static_cast<unsigned long long>(relay_host.datagrams_in));
    std::printf("         relay CPU %.3f s: %.0f messages/s validated and forwarded, %.1f us each\n"
                "         (raw %.3f s = %.0f/s, %.1f us, less %llu timed calls x %.2f us of clock reads)\n",
                cpu_s, per_s(cpu_s), each_us(cpu_s), raw_s, per_s(raw_s), each_us(raw_s),
                static_cast<unsigned long long>(relay_host.timed_calls),
                std::chrono::duration<double, std::micro>(timer_cost).count());
    double const src_s = own_s(net.host(source));
    std::printf("         author CPU %.3f s (signing and sending): %.1f us per publish\n", src_s,
                src_s * 1e6 / static_cast<double>(std::max<std::size_t>(published, 1)));
    return got == published ? 0 : 1;
}

long rss_kb(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

int idle_rss(std::string const& bin) {
    auto dir = std::filesystem::temp_directory_path() / ("pubsub-bench-idle-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::execl(bin.c_str(), bin.c_str(), "node", "--listen", "127.0.0.1:0", "--data", dir.c_str(), "--api", "127.0.0.1:0",
                "--metrics", "127.0.0.1:0", "--log-level", "warn", static_cast<char*>(nullptr));
        std::_Exit(127);
    }
    std::this_thread::sleep_for(5s);
    long const kb = rss_kb(pid);
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::filesystem::remove_all(dir);
    std::printf("idle node RSS after 5 s: %.1f MB\n", static_cast<double>(kb) / 1024.0);
    return kb > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    // As the node does at start (node/asio_runtime.cpp): sodium_init() picks libsodium's
    // fastest implementations for this CPU (ChaCha20, Poly1305, BLAKE2b). Without it the
    // portable ones run, and link crypto and ids cost more here than in a node.
    core::crypto_init();
    std::size_t messages = 20000, size = 200, burst = 100;
    Shape shape;
    bool profile = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--messages") messages = std::stoul(next());
        else if (a == "--size") size = std::stoul(next());
        else if (a == "--burst") burst = std::max<std::size_t>(1, std::stoul(next()));
        else if (a == "--links") shape.links = std::stoul(next());
        else if (a == "--duplicates") shape.duplicates = std::stoul(next());
        else if (a == "--profile-relay") profile = true;
        else if (a == "--idle-rss") return idle_rss(next());
        else {
            std::fprintf(stderr,
                         "usage: pubsub_bench [--messages N] [--size B] [--burst N] [--links L] [--duplicates K]\n"
                         "                    [--profile-relay]\n"
                         "       pubsub_bench --idle-rss KADMIUM\n");
            return 2;
        }
    }
    if (shape.links < 1 || shape.links > 7 || shape.duplicates > shape.links || size < 8 || size > 64 * 1024) {
        std::fprintf(stderr, "pubsub_bench: need 1 <= --links <= 7 (the relay's mesh is at most D_hi = 8), "
                             "--duplicates <= --links and 8 <= --size <= 65536\n");
        return 2;
    }
    return forward(messages, size, burst, shape, profile);
}
