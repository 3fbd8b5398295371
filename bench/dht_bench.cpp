// dht_bench: how many DHT requests one node answers per second on loopback, and the CPU
// time the node spends per request. A load generator, not a test: it speaks the wire
// protocol directly (hello, then sealed PING or FIND_NODE from many client keys), keeps
// a bounded window of requests outstanding, and reads the node's CPU time from /proc.
//
//   dht_bench --spawn build/bin/kadmium [--seconds 10] [--window 256] [--clients 256] [--type find_node]
//   dht_bench --target 127.0.0.1:4000 --pid 1234 ...
// --type store sends STOREs of a 100-byte value under random keys (one record each).
#include "core/crypto.hpp"
#include "core/rng.hpp"
#include "dht/wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace dht;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::string spawn;
    std::string target = "127.0.0.1:0";
    int pid = 0;
    double seconds = 10;
    std::size_t window = 256;
    std::size_t clients = 256;  // a node limits each key to 500 requests/s
    std::string type = "find_node";
};

[[noreturn]] void usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: dht_bench (--spawn KADMIUM_BINARY | --target HOST:PORT --pid PID)\n"
                 "                 [--seconds S] [--window N] [--clients N] [--type ping|find_node|store]\n");
    std::exit(code);
}

std::uint64_t unix_us() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// utime + stime of a process, in seconds.
double cpu_seconds(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(f, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    std::vector<std::string> fields;
    while (rest >> field) fields.push_back(field);
    if (fields.size() < 13) return 0;
    return (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

sockaddr_in to_sockaddr(core::Endpoint const& e) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(e.port);
    std::memcpy(&sa.sin_addr, e.addr.data(), 4);
    return sa;
}

struct Client {
    core::Identity identity;
    std::unique_ptr<core::SodiumCrypto> crypto;
    core::SharedKey key;
    std::uint64_t counter = 0;
};

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        if (a == "--spawn") o.spawn = next();
        else if (a == "--target") o.target = next();
        else if (a == "--pid") o.pid = std::stoi(next());
        else if (a == "--seconds") o.seconds = std::stod(next());
        else if (a == "--window") o.window = std::stoul(next());
        else if (a == "--clients") o.clients = std::stoul(next());
        else if (a == "--type") o.type = next();
        else if (a == "--help" || a == "-h") usage(0);
        else usage(2);
    }
    if (o.type != "ping" && o.type != "find_node" && o.type != "store") usage(2);
    core::crypto_init();

    std::filesystem::path data;
    if (!o.spawn.empty()) {
        data = std::filesystem::temp_directory_path() / ("kadmium-bench-" + std::to_string(::getpid()));
        std::filesystem::create_directories(data);
        o.target = "127.0.0.1:47311";
        o.pid = ::fork();
        if (o.pid == 0) {
            ::execl(o.spawn.c_str(), o.spawn.c_str(), "node", "--listen", o.target.c_str(), "--data", data.c_str(),
                    "--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--log-level", "warn", nullptr);
            std::perror("exec");
            std::_Exit(127);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    }
    auto target = core::Endpoint::parse(o.target);
    if (!target || !target->is_v4() || o.pid <= 0) usage(2);

    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    int buf = 8 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    auto sa = to_sockaddr(*target);
    ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);

    std::vector<Client> clients(o.clients);
    for (auto& c : clients) {
        c.identity = core::Identity::generate();
        c.crypto = std::make_unique<core::SodiumCrypto>(c.identity);
    }

    // Learn the node's key: a hello, answered by a sealed PONG whose header names it.
    core::PublicKey node_key;
    bool have_key = false;
    for (int attempt = 0; attempt < 20 && !have_key; ++attempt) {
        auto hello = wire::encode_hello(clients[0].identity.public_key, 1);
        ::send(fd, hello.data(), hello.size(), 0);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 250) > 0) {
            std::byte in[2048];
            auto n = ::recv(fd, in, sizeof in, 0);
            if (n > 0) {
                if (auto v = wire::parse_sealed({in, static_cast<std::size_t>(n)})) {
                    node_key = v->sender;
                    have_key = true;
                }
            }
        }
    }
    if (!have_key) {
        std::fprintf(stderr, "dht_bench: no answer from %s\n", o.target.c_str());
        if (!o.spawn.empty()) ::kill(o.pid, SIGTERM);
        return 1;
    }
    for (auto& c : clients) c.key = *c.crypto->shared_key(node_key);

    core::Rng rng(1);
    std::uint32_t next_txid = 1;
    std::map<std::uint32_t, Clock::time_point> outstanding;
    std::uint64_t sent = 0, answered = 0, lost = 0;
    std::vector<double> latencies_us;
    auto send_one = [&] {
        auto& c = clients[rng.uniform(clients.size())];
        wire::Message m;
        m.type = o.type == "ping" ? wire::MsgType::ping : o.type == "store" ? wire::MsgType::store : wire::MsgType::find_node;
        m.txid = next_txid++;
        rng.fill(m.target.bytes);
        if (m.type == wire::MsgType::store) {
            // A new 100-byte value under a random key: one LMDB write per request.
            static auto const value = std::make_shared<core::Bytes const>(100, std::byte{0x42});
            m.value = value;
            m.ttl_s = 3600;
        }
        auto body = wire::encode(m);
        auto plain = wire::encode_fragment(0, 0, 1, body);
        c.counter = c.counter == 0 ? unix_us() : c.counter + 1;
        std::array<std::byte, 12> random;
        rng.fill(random);
        auto nonce = wire::make_nonce(c.counter, static_cast<std::uint32_t>(unix_us() / 1'000'000), random);
        auto packet = wire::encode_sealed(*c.crypto, c.key, c.identity.public_key, nonce, plain);
        if (::send(fd, packet.data(), packet.size(), 0) == static_cast<ssize_t>(packet.size())) {
            outstanding[m.txid] = Clock::now();
            ++sent;
        }
    };

    // Warm up (shared keys on the node side), then measure.
    auto run = [&](double seconds, bool measure) {
        auto end = Clock::now() + std::chrono::duration<double>(seconds);
        while (Clock::now() < end) {
            while (outstanding.size() < o.window) send_one();
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                // Anything older than a second is lost (the node dropped it or its queue overflowed).
                auto cutoff = Clock::now() - std::chrono::seconds(1);
                for (auto it = outstanding.begin(); it != outstanding.end();)
                    if (it->second < cutoff) { it = outstanding.erase(it); ++lost; }
                    else ++it;
                continue;
            }
            std::byte in[2048];
            for (int burst = 0; burst < 64; ++burst) {
                auto n = ::recv(fd, in, sizeof in, MSG_DONTWAIT);
                if (n <= 0) break;
                auto v = wire::parse_sealed({in, static_cast<std::size_t>(n)});
                if (!v) continue;
                // We do not decrypt answers (that would measure us, not the node): the
                // txid is inside the box, so count answers and retire the oldest request.
                if (outstanding.empty()) continue;
                auto oldest = outstanding.begin();
                if (measure) {
                    latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - oldest->second).count());
                    ++answered;
                }
                outstanding.erase(oldest);
            }
        }
    };
    run(1.0, false);
    double cpu0 = cpu_seconds(o.pid);
    auto t0 = Clock::now();
    sent = 0;
    lost = 0;
    run(o.seconds, true);
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = cpu_seconds(o.pid) - cpu0;
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double q) { return latencies_us.empty() ? 0.0 : latencies_us[static_cast<std::size_t>(q * (latencies_us.size() - 1))]; };

    std::printf("type=%s clients=%zu window=%zu seconds=%.1f\n", o.type.c_str(), o.clients, o.window, wall);
    std::printf("requests sent:       %llu\n", static_cast<unsigned long long>(sent));
    std::printf("answers:             %llu (%.0f requests/s answered)\n", static_cast<unsigned long long>(answered), answered / wall);
    std::printf("lost (no answer 1s): %llu\n", static_cast<unsigned long long>(lost));
    std::printf("node CPU:            %.2f s (%.0f%% of one core), %.1f us per answered request\n", cpu,
                100 * cpu / wall, answered ? 1e6 * cpu / static_cast<double>(answered) : 0.0);
    std::printf("latency (window %zu): p50 %.0f us, p99 %.0f us\n", o.window, pct(0.5), pct(0.99));

    if (!o.spawn.empty()) {
        ::kill(o.pid, SIGTERM);
        int status = 0;
        ::waitpid(o.pid, &status, 0);
        std::filesystem::remove_all(data);
    }
    return 0;
}
