// pubsub_bench: what one node's pub/sub costs, in process, on one core.
//   forward: a network of whole engines (tests/support/engine_net.hpp: real Noise links,
//            real signatures, stand-in DHT packet crypto) subscribed to one topic; one node
//            publishes N messages; the report is the CPU time a relaying node spends to
//            validate (signature once) and forward each message to its mesh links, as
//            messages per second of that node's CPU.
//   idle:    the resident memory of an idle `kadmium node` (spawned with --spawn).
// A benchmark, not a test: figures go to docs/benchmarks.md.
//
//   pubsub_bench [--messages 20000] [--size 200] [--nodes 8]
//   pubsub_bench --idle-rss build/bin/kadmium
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

int forward(std::size_t messages, std::size_t size, std::size_t nodes) {
    test::EngineNet net;
    for (std::size_t i = 0; i < nodes; ++i) net.add();
    for (std::size_t i = 1; i < nodes; ++i) net.engine(i).bootstrap(net.now(), net.host(0).address);
    net.run_for(5s);
    for (std::size_t i = 0; i < nodes; ++i) (void)net.engine(i).subscribe(net.now(), "bench");
    net.run_for(20s);
    std::size_t const source = 0;
    // The relay: the node with the largest mesh other than the source.
    std::size_t relay = 1;
    for (std::size_t i = 1; i < nodes; ++i)
        if (net.engine(i).pubsub().topics().at(0).mesh_peers > net.engine(relay).pubsub().topics().at(0).mesh_peers) relay = i;
    auto const mesh = net.engine(relay).pubsub().topics().at(0).mesh_peers;

    core::Bytes payload(size, std::byte{'x'});
    net.measure = true;
    for (auto i = 0u; i < nodes; ++i) net.host(i).cpu = {}, net.host(i).timed_calls = 0;
    auto const timer_cost = test::EngineNet::timer_cost();
    auto const frames_before = net.engine(relay).stats().frames_out;
    std::size_t published = 0;
    // Publish in bursts of 100 with a millisecond between them (the mesh heartbeat still
    // runs every second of virtual time).
    for (std::size_t m = 0; m < messages; ++m) {
        payload[0] = static_cast<std::byte>(m);
        payload[1] = static_cast<std::byte>(m >> 8);
        payload[2] = static_cast<std::byte>(m >> 16);
        if (net.timed(source, [&] { return net.engine(source).publish(net.now(), "bench", payload).ok(); })) ++published;
        if (m % 100 == 99) net.run_for(1ms);
    }
    net.run_for(2s);
    auto const& relay_host = net.host(relay);
    std::size_t got = 0;
    for (auto const& d : relay_host.delivered) got += core::as_chars(d.message.payload).size() == size;
    auto const frames = net.engine(relay).stats().frames_out - frames_before;
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
    std::printf("forward: %zu messages of %zu B published by node %zu; relay node %zu (mesh %zu) delivered %zu,\n"
                "         sent %llu link frames, CPU %.3f s: %.0f messages/s validated and forwarded, %.1f us each\n"
                "         (raw %.3f s = %.0f/s, %.1f us, less %llu timed calls x %.2f us of clock reads)\n",
                published, size, source, relay, mesh, got, static_cast<unsigned long long>(frames), cpu_s, per_s(cpu_s),
                each_us(cpu_s), raw_s, per_s(raw_s), each_us(raw_s), static_cast<unsigned long long>(relay_host.timed_calls),
                std::chrono::duration<double, std::micro>(timer_cost).count());
    double const src_s = own_s(net.host(source));
    std::printf("         source node CPU %.3f s (signing and sending): %.1f us per publish\n", src_s,
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
    std::size_t messages = 20000, size = 200, nodes = 8;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--messages") messages = std::stoul(next());
        else if (a == "--size") size = std::stoul(next());
        else if (a == "--nodes") nodes = std::stoul(next());
        else if (a == "--idle-rss") return idle_rss(next());
        else {
            std::fprintf(stderr, "usage: pubsub_bench [--messages N] [--size B] [--nodes N] | --idle-rss KADMIUM\n");
            return 2;
        }
    }
    if (nodes < 3 || size < 8 || size > 64 * 1024) {
        std::fprintf(stderr, "pubsub_bench: need --nodes >= 3 and 8 <= --size <= 65536\n");
        return 2;
    }
    return forward(messages, size, nodes);
}
