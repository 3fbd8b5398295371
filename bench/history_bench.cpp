// history_bench: durable-history figures of one real node over its HTTP API (see
// docs/benchmarks.md, "Durable history").
//   fill DATA_DIR TOPIC N        writes N signed messages of TOPIC straight into
//                                DATA_DIR/store (the node must not be running), in
//                                transactions of 5,000: a store of a million in seconds
//   history DATA_DIR TOPIC Q [L] Q sequential GET /v1/history?topic=TOPIC&last=L (50) on
//                                one kept-alive connection; prints p50/p90/p99/max in ms
//   publish DATA_DIR TOPIC C S   C connections (one thread each) POST /v1/publish for S
//                                seconds; each answer means "committed to disk"; prints
//                                publishes/s and latency percentiles
//   batchput DATA_DIR N B        N messages put one at a time inside batches of B puts,
//                                as a node's link input writes behind (one put per
//                                received message, one commit per flush); prints the CPU
//                                time per put and per commit (the node must not be running)
// Reads the node's address and cookie from DATA_DIR/api.addr and api.cookie. Loopback only.
#include "core/crypto.hpp"
#include "node/asio.hpp"
#include "node/beast.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/topic.hpp"
#include "store/message_db.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using tcp = boost::asio::ip::tcp;
namespace http = boost::beast::http;

std::string read_line(std::string const& path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
}

struct Target {
    std::string host, port, cookie;
};

Target target_of(std::string const& dir) {
    auto addr = read_line(dir + "/api.addr");
    auto colon = addr.rfind(':');
    return {addr.substr(0, colon), addr.substr(colon + 1), read_line(dir + "/api.cookie")};
}

class Client {
public:
    explicit Client(Target const& t) : t_(t), stream_(io_) {
        tcp::resolver resolver(io_);
        stream_.connect(resolver.resolve(t.host, t.port));
        stream_.socket().set_option(tcp::no_delay(true));
    }
    // Returns the HTTP status.
    unsigned call(http::verb verb, std::string const& target, std::string const& body) {
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, t_.host);
        req.set(http::field::authorization, "Bearer " + t_.cookie);
        if (!body.empty()) req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.keep_alive(true);
        req.prepare_payload();
        http::write(stream_, req);
        http::response<http::string_body> res;
        http::read(stream_, buffer_, res);
        last_body_ = std::move(res.body());
        return res.result_int();
    }
    std::string const& last_body() const { return last_body_; }

private:
    Target t_;
    boost::asio::io_context io_;
    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
    std::string last_body_;
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void print_percentiles(std::vector<double> v, char const* what) {
    if (v.empty()) return;
    std::sort(v.begin(), v.end());
    auto p = [&](double q) { return v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))]; };
    std::printf("%s: n=%zu p50=%.3f ms p90=%.3f ms p99=%.3f ms max=%.3f ms\n", what, v.size(), p(0.5), p(0.9), p(0.99),
                v.back());
}

// The store of DATA_DIR/store opened straight (the node must not be running), with the
// default retention for a map of `map_bytes`; nullptr after printing the error.
constexpr std::size_t bench_map_bytes = 4ull * 1024 * 1024 * 1024;
struct OpenedStore {
    std::unique_ptr<store::LmdbStore> env;
    std::unique_ptr<store::LmdbMessageStore> messages;
};
std::optional<OpenedStore> open_store(std::string const& dir) {
    core::crypto_init();
    auto env = store::LmdbStore::open(dir, bench_map_bytes);
    if (!env) {
        std::cerr << env.error() << "\n";
        return std::nullopt;
    }
    OpenedStore s{std::move(env).value(), nullptr};
    s.messages = std::make_unique<store::LmdbMessageStore>(*s.env, store::MessageRetention::for_map(bench_map_bytes));
    return s;
}

std::int64_t wall_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int fill(std::string const& dir, std::string const& topic, std::size_t n) {
    auto opened = open_store(dir);
    if (!opened) return 1;
    auto& env = opened->env;
    auto& messages = *opened->messages;
    auto const author = core::Identity::generate();
    auto const key = pubsub::topic_key(topic);
    auto const now_ms = wall_now_ms();
    auto const start = Clock::now();
    std::vector<pubsub::Message> chunk;
    for (std::size_t i = 0; i < n; ++i) {
        auto text = "history bench message " + std::to_string(i) + std::string(100, '.');
        // Spread over the last ~hour, 3.6 ms apart: inside the default retention.
        auto ts = now_ms - static_cast<std::int64_t>(n - i) * 3600'000 / static_cast<std::int64_t>(n);
        chunk.push_back(pubsub::sign_message(author, key, i + 1, ts, core::as_bytes(std::string_view(text))));
        if (chunk.size() == 5000 || i + 1 == n) {
            for (auto st : messages.put_many(chunk)) {
                if (st != pubsub::StoreStatus::stored && st != pubsub::StoreStatus::duplicate) {
                    std::cerr << "put failed: " << env->last_error() << "\n";
                    return 1;
                }
            }
            chunk.clear();
        }
    }
    std::printf("filled %zu messages (%zu in store, %zu bytes) in %.1f s\n", n, messages.message_count(), messages.bytes(),
                ms(Clock::now() - start) / 1000);
    return 0;
}

double thread_cpu_us() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

int batchput(std::string const& dir, std::size_t n, std::size_t batch) {
    auto opened = open_store(dir);
    if (!opened) return 1;
    auto& env = opened->env;
    auto& messages = *opened->messages;
    auto const author = core::Identity::generate();
    auto const key = pubsub::topic_key("batchput");
    auto const now_ms = wall_now_ms();
    std::vector<pubsub::Message> all;  // signed first: only the puts and commits are timed
    for (std::size_t i = 0; i < n; ++i) {
        auto const text = std::string(200, 'x');
        all.push_back(pubsub::sign_message(author, key, i + 1, now_ms - static_cast<std::int64_t>(n - i),
                                           core::as_bytes(std::string_view(text))));
    }
    double put_us = 0, commit_us = 0;
    std::size_t commits = 0;
    for (std::size_t i = 0; i < n; i += batch) {
        env->begin_batch();
        auto const t0 = thread_cpu_us();
        for (std::size_t j = i; j < std::min(n, i + batch); ++j) {
            if (messages.put(all[j]) != pubsub::StoreStatus::stored) {
                std::cerr << "put failed: " << env->last_error() << "\n";
                return 1;
            }
        }
        auto const t1 = thread_cpu_us();
        if (!env->commit_batch()) {
            std::cerr << "commit failed: " << env->last_error() << "\n";
            return 1;
        }
        put_us += t1 - t0;
        commit_us += thread_cpu_us() - t1;
        ++commits;
    }
    std::printf("%zu puts in batches of %zu: %.2f us CPU per put, %.0f us CPU per commit (%zu commits)\n", n, batch,
                put_us / static_cast<double>(n), commit_us / static_cast<double>(commits), commits);
    return 0;
}

int history(std::string const& dir, std::string const& topic, std::size_t queries, std::size_t last) {
    Client c(target_of(dir));
    std::vector<double> lat;
    auto const path = "/v1/history?topic=" + topic + "&last=" + std::to_string(last);
    for (std::size_t i = 0; i < queries + 100; ++i) {
        auto const t0 = Clock::now();
        if (c.call(http::verb::get, path, "") != 200) {
            std::cerr << "history failed: " << c.last_body() << "\n";
            return 1;
        }
        if (i >= 100) lat.push_back(ms(Clock::now() - t0));  // the first 100 warm up
    }
    auto const messages = std::count(c.last_body().begin(), c.last_body().end(), '{') - 1;
    std::printf("last page: %zd messages, %zu bytes\n", messages, c.last_body().size());
    print_percentiles(lat, ("GET /v1/history last=" + std::to_string(last)).c_str());
    return 0;
}

int publish(std::string const& dir, std::string const& topic, std::size_t conns, double seconds) {
    auto const target = target_of(dir);
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> failed{0};
    std::mutex mu;
    std::vector<double> lat;
    std::vector<std::thread> threads;
    auto const start = Clock::now();
    for (std::size_t c = 0; c < conns; ++c) {
        threads.emplace_back([&, c] {
            Client client(target);
            std::vector<double> mine;
            for (std::size_t i = 0; !stop; ++i) {
                auto body = "{\"topic\":\"" + topic + "\",\"data\":\"bench " + std::to_string(c) + " " + std::to_string(i) +
                            std::string(100, '.') + "\"}";
                auto const t0 = Clock::now();
                if (client.call(http::verb::post, "/v1/publish", body) != 200) ++failed;
                else mine.push_back(ms(Clock::now() - t0));
            }
            std::lock_guard lock(mu);
            lat.insert(lat.end(), mine.begin(), mine.end());
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads) t.join();
    auto const elapsed = ms(Clock::now() - start) / 1000;
    std::printf("%zu connections, %.1f s: %zu durable publishes (%.0f/s), %zu failed\n", conns, elapsed, lat.size(),
                lat.size() / elapsed, failed.load());
    print_percentiles(lat, "POST /v1/publish");
    return failed > 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> a(argv, argv + argc);
    try {
        if (a.size() >= 5 && a[1] == "fill") return fill(a[2], a[3], std::stoul(a[4]));
        if (a.size() >= 5 && a[1] == "history")
            return history(a[2], a[3], std::stoul(a[4]), a.size() > 5 ? std::stoul(a[5]) : 50);
        if (a.size() >= 6 && a[1] == "publish") return publish(a[2], a[3], std::stoul(a[4]), std::stod(a[5]));
        if (a.size() >= 5 && a[1] == "batchput") return batchput(a[2], std::stoul(a[3]), std::stoul(a[4]));
    } catch (std::exception const& e) {
        std::cerr << "history_bench: " << e.what() << "\n";
        return 1;
    }
    std::cerr << "usage: history_bench fill DATA_DIR TOPIC N | history DATA_DIR TOPIC QUERIES [LAST] | "
                 "publish DATA_DIR TOPIC CONNECTIONS SECONDS | batchput DATA_DIR N BATCH\n";
    return 2;
}
