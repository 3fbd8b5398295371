// A tiny in-process network of whole node::Engines for engine tests and benchmarks:
// datagrams and stream bytes are delivered at once (no latency), time moves only when the
// network is quiet, to the earliest wakeup. Real link crypto (Noise, secretstream), real
// message signing; stand-in packet crypto for the DHT. Not the simulator (sim/ models
// latency, loss and churn at scale); just enough to run real engines through real bytes,
// deterministically.
#pragma once

#include "core/crypto.hpp"
#include "node/engine.hpp"
#include "pubsub/memory_store.hpp"
#include "store/mem_store.hpp"

#include <time.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace test {

using namespace std::chrono_literals;

struct EngineHost {
    core::Identity identity;
    std::unique_ptr<core::PacketCrypto> crypto;
    std::unique_ptr<store::MemStore> store;
    std::unique_ptr<pubsub::MemoryMessageStore> messages;
    std::unique_ptr<node::Engine> engine;
    core::Endpoint address;
    bool up = true;
    // This host's stream -> (other host, its stream).
    std::map<node::StreamId, std::pair<std::size_t, node::StreamId>> peer_of;
    std::vector<pubsub::Delivered> delivered;
    std::vector<dht::Event> dht_events;
    // Thread CPU time spent inside this host's engine calls (when EngineNet::measure), and
    // how many calls were timed: each timed call also counts about one reading of the
    // thread CPU clock, a system call of several µs on some VMs (EngineNet::timer_cost).
    std::chrono::nanoseconds cpu{0};
    std::uint64_t timed_calls = 0;
    std::uint64_t datagrams_in = 0;  // DHT datagrams handled while measuring
    // Timed calls into this host go through EngineNet::profiled_call, so that callgrind
    // can count this host's work alone: --collect-atstart=no --toggle-collect='*profiled_call*'.
    bool profiled = false;
};

class EngineNet {
public:
    inline static core::WallClockAnchor const wall{core::Instant{}, core::UnixTime{1'700'000'000}};

    explicit EngineNet(node::EngineConfig config = {}, std::uint64_t seed = 1) : config_(std::move(config)), rng_(seed) {
        core::crypto_init();
        config_.dht.allow_loopback_subnet = true;
    }

    // A host with the network's config, or with its own (e.g. a different message limit).
    std::size_t add(std::optional<node::EngineConfig> own_config = std::nullopt) {
        node::EngineConfig config = own_config.value_or(config_);
        config.dht.allow_loopback_subnet = true;
        auto h = std::make_unique<EngineHost>();
        std::array<std::byte, 32> seed;
        rng_.fill(seed);
        h->identity = core::Identity::from_seed(seed);
        h->crypto = std::make_unique<core::StandInCrypto>(h->identity.public_key);
        h->store = std::make_unique<store::MemStore>();
        h->messages = std::make_unique<pubsub::MemoryMessageStore>();
        auto const i = hosts_.size();
        h->address = core::Endpoint::v4(10, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1, 4000);
        h->engine = std::make_unique<node::Engine>(config, h->identity, *h->crypto, *h->store, *h->messages,
                                                   core::Rng(rng_.next()), now_, wall,
                                                   1'700'000'000'000'000ull + static_cast<std::uint64_t>(now_.since_origin.count()),
                                                   std::vector<core::Endpoint>{h->address});
        hosts_.push_back(std::move(h));
        return i;
    }

    // Time every call into an engine and add it to that host's `cpu` (benchmarks).
    bool measure = false;

    // When set, a stream from host i to host j opens only if may_link(i, j): a benchmark
    // shapes the mesh with it (a refused dial fails as an unreachable address would).
    std::function<bool(std::size_t, std::size_t)> may_link;

    // What one timed call adds to `cpu` by itself: the mean thread CPU between two
    // back-to-back clock readings. A benchmark subtracts timed_calls * this from `cpu` to
    // get the engine's own work (and reports both).
    static std::chrono::nanoseconds timer_cost(int samples = 20'000) {
        std::chrono::nanoseconds total{0};
        for (int i = 0; i < samples; ++i) {
            auto const t0 = thread_cpu();
            total += thread_cpu() - t0;
        }
        return total / samples;
    }

    // Runs fn, adding its thread CPU to host i's `cpu` when measuring (for calls a
    // benchmark makes itself, like publish).
    template <class Fn>
    auto timed(std::size_t i, Fn&& fn) {
        if (!measure) return fn();
        auto const t0 = thread_cpu();
        struct Add {
            EngineHost& h;
            std::chrono::nanoseconds t0;
            ~Add() {
                h.cpu += thread_cpu() - t0;
                ++h.timed_calls;
            }
        } add{*hosts_[i], t0};
        if (hosts_[i]->profiled) return profiled_call(fn);
        return fn();
    }

    // Not inlined and not a tail call (the empty asm after the call), so that the frame
    // shows in callgrind and in perf's call chains.
    template <class Fn>
    [[gnu::noinline]] static auto profiled_call(Fn& fn) {
        if constexpr (std::is_void_v<decltype(fn())>) {
            fn();
            asm volatile("" ::: "memory");
        } else {
            auto result = fn();
            asm volatile("" ::: "memory");
            return result;
        }
    }

    EngineHost& host(std::size_t i) { return *hosts_.at(i); }
    node::Engine& engine(std::size_t i) { return *hosts_.at(i)->engine; }
    std::size_t size() const { return hosts_.size(); }
    core::Instant now() const { return now_; }

    // Delivers everything outstanding, repeatedly, until the network is quiet (bounded).
    void settle() {
        for (int pass = 0; pass < 100'000; ++pass) {
            bool any = false;
            for (std::size_t i = 0; i < hosts_.size(); ++i) any |= drain(i);
            if (!any) return;
        }
    }

    // Runs the network for `d` of virtual time: quiet, then jump to the next wakeup.
    void run_for(core::Duration d) {
        auto const end = now_ + d;
        settle();
        for (int steps = 0; steps < 1'000'000; ++steps) {
            std::optional<core::Instant> next;
            for (auto& h : hosts_) {
                if (!h->up) continue;
                auto w = h->engine->next_wakeup();
                if (w && (!next || *w < *next)) next = w;
            }
            if (!next || *next > end) break;
            now_ = std::max(now_, *next);
            for (std::size_t i = 0; i < hosts_.size(); ++i) {
                auto& h = hosts_[i];
                if (!h->up) continue;
                if (auto w = h->engine->next_wakeup(); w && *w <= now_) timed(i, [&] { h->engine->handle_timeout(now_); });
            }
            settle();
        }
        now_ = end;
    }

    // Host i crashes: its engine is gone, its peers see their streams close.
    void crash(std::size_t i) {
        auto& h = *hosts_.at(i);
        for (auto const& [sid, other] : h.peer_of) {
            auto& o = *hosts_.at(other.first);
            o.peer_of.erase(other.second);
            if (o.up) o.engine->handle_stream_closed(now_, other.second);
        }
        h.peer_of.clear();
        h.up = false;
        h.engine.reset();
        settle();
    }

private:
    static std::chrono::nanoseconds thread_cpu() {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    }

    std::optional<std::size_t> host_at(core::Endpoint const& e) const {
        for (std::size_t i = 0; i < hosts_.size(); ++i)
            if (hosts_[i]->address.addr == e.addr && hosts_[i]->up) return i;
        return std::nullopt;
    }

    bool drain(std::size_t i) {
        auto& h = *hosts_[i];
        if (!h.up) return false;
        bool any = false;
        while (auto t = timed(i, [&] { return h.engine->poll_transmit(); })) {
            any = true;
            auto to = host_at(t->to);
            if (!to) continue;
            if (measure) ++hosts_[*to]->datagrams_in;
            timed(*to, [&] { hosts_[*to]->engine->handle_datagram(now_, h.address, t->bytes); });
        }
        while (auto e = timed(i, [&] { return h.engine->poll_event(); })) {
            any = true;
            if (auto* d = std::get_if<pubsub::Delivered>(&*e)) h.delivered.push_back(std::move(*d));
            else if (auto* de = std::get_if<dht::Event>(&*e)) h.dht_events.push_back(std::move(*de));
            else if (auto* open = std::get_if<node::StreamOpen>(&*e)) connect(i, open->id, open->to);
            else if (auto* close = std::get_if<node::StreamClose>(&*e)) disconnect(i, close->id, close->last_bytes);
        }
        for (;;) {
            // One timed call per writable stream: which one, and its bytes.
            auto [sid, bytes] = timed(i, [&] {
                auto w = h.engine->poll_writable();
                core::Bytes b;
                if (w && h.peer_of.contains(*w)) b = h.engine->take_stream_bytes(*w, 1 << 20);
                return std::pair{w, std::move(b)};
            });
            if (!sid) break;
            auto it = h.peer_of.find(*sid);
            if (it == h.peer_of.end()) continue;
            if (bytes.empty()) continue;
            any = true;
            auto const j = it->second.first;
            timed(j, [&] { hosts_[j]->engine->handle_stream_bytes(now_, it->second.second, bytes); });
        }
        return any;
    }

    void connect(std::size_t i, node::StreamId sid, core::Endpoint const& to) {
        auto& h = *hosts_[i];
        auto j = host_at(to);
        std::optional<node::StreamId> accepted;
        if (j && *j != i && (!may_link || may_link(i, *j))) accepted = hosts_[*j]->engine->handle_stream_accepted(now_, h.address);
        if (!accepted) {
            h.engine->handle_stream_closed(now_, sid);
            return;
        }
        h.peer_of[sid] = {*j, *accepted};
        hosts_[*j]->peer_of[*accepted] = {i, sid};
        h.engine->handle_stream_connected(now_, sid);
    }

    void disconnect(std::size_t i, node::StreamId sid, core::Bytes const& last) {
        auto& h = *hosts_[i];
        auto it = h.peer_of.find(sid);
        if (it == h.peer_of.end()) return;
        auto [j, remote] = it->second;
        h.peer_of.erase(it);
        auto& o = *hosts_[j];
        o.peer_of.erase(remote);
        if (!o.up) return;
        if (!last.empty()) o.engine->handle_stream_bytes(now_, remote, last);
        o.engine->handle_stream_closed(now_, remote);
    }

    node::EngineConfig config_;
    core::Rng rng_;
    core::Instant now_{};
    std::vector<std::unique_ptr<EngineHost>> hosts_;
};

}  // namespace test
