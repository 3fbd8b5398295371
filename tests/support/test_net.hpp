// A tiny in-process network for DHT unit tests: a handful of DhtNodes with MemStores,
// datagrams delivered after a fixed latency on a virtual clock, optional loss. Not the
// simulator (sim/ models latency, partitions and churn at scale); just enough to drive
// real nodes through real bytes in a test, deterministically.
#pragma once

#include "core/crypto.hpp"
#include "core/signer.hpp"
#include "dht/dht_node.hpp"
#include "store/mem_store.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace test {

using namespace std::chrono_literals;

struct TestNode {
    core::Identity identity;
    std::unique_ptr<core::PacketCrypto> crypto;
    std::unique_ptr<core::Signer> signer;  // signs provider records with `identity`
    std::unique_ptr<store::MemStore> store;
    std::unique_ptr<dht::DhtNode> node;
    core::Endpoint address;
    bool up = true;
    std::vector<dht::Event> events;
};

class TestNet {
public:
    inline static core::WallClockAnchor const wall{core::Instant{}, core::UnixTime{1'700'000'000}};

    explicit TestNet(dht::Config config = {}, std::uint64_t seed = 1) : config_(config), rng_(seed) {
        core::crypto_init();
    }

    // Adds a node on its own /24 (so subnet limits never bite unless a test wants them).
    std::size_t add_node(bool real_crypto = false) {
        auto n = std::make_unique<TestNode>();
        std::array<std::byte, 32> seed{};
        rng_.fill(seed);
        n->identity = core::Identity::from_seed(seed);
        if (real_crypto) n->crypto = std::make_unique<core::SodiumCrypto>(n->identity);
        else n->crypto = std::make_unique<core::StandInCrypto>(n->identity.public_key);
        n->signer = std::make_unique<core::IdentitySigner>(n->identity);
        n->store = std::make_unique<store::MemStore>();
        auto index = nodes_.size();
        n->address = core::Endpoint::v4(10, static_cast<std::uint8_t>(index >> 8), static_cast<std::uint8_t>(index), 1, 4000);
        n->node = std::make_unique<dht::DhtNode>(config_, n->identity.public_key, *n->crypto, *n->store, rng_.split(), now_,
                                                 wall, n->signer.get());
        by_address_[n->address] = index;
        nodes_.push_back(std::move(n));
        return index;
    }

    // Replaces node i's DhtNode with a new one over the same identity and store, as a
    // restart would (what the store persisted is all the new node knows).
    // `anchor` is the new process's wall clock (a real restart reads it again at start).
    void restart(std::size_t i, core::WallClockAnchor const& anchor = wall) {
        auto& n = *nodes_[i];
        n.node = std::make_unique<dht::DhtNode>(config_, n.identity.public_key, *n.crypto, *n.store, rng_.split(), now_,
                                                anchor, n.signer.get());
        n.events.clear();
    }

    TestNode& operator[](std::size_t i) { return *nodes_[i]; }
    std::size_t size() const { return nodes_.size(); }
    core::Instant now() const { return now_; }

    // Drains a node's outputs into the network and its event list.
    void drain(std::size_t i) {
        auto& n = *nodes_[i];
        while (auto t = n.node->poll_transmit()) {
            if (loss_ > 0 && rng_.chance(loss_)) continue;
            if (intercept_ && !intercept_(i, *t)) continue;
            auto delay = latency_;
            if (latency_of_) {
                if (auto to = by_address_.find(t->to); to != by_address_.end()) delay = latency_of_(i, to->second);
            }
            in_flight_.emplace(std::make_pair(now_ + delay, seq_++), Packet{n.address, std::move(*t)});
        }
        while (auto e = n.node->poll_event()) n.events.push_back(std::move(*e));
    }

    // Runs the network until `until`: deliveries and node timers, in time order.
    void run_until(core::Instant until) {
        for (std::size_t i = 0; i < nodes_.size(); ++i) drain(i);
        for (int guard = 0; guard < 10'000'000; ++guard) {
            core::Instant next = until;
            std::optional<std::size_t> timer_node;
            if (!in_flight_.empty() && in_flight_.begin()->first.first < next) next = in_flight_.begin()->first.first;
            for (std::size_t i = 0; i < nodes_.size(); ++i) {
                if (!nodes_[i]->up) continue;
                auto w = nodes_[i]->node->next_wakeup();
                if (w && *w < next) {
                    next = *w;
                    timer_node = i;
                }
            }
            if (next >= until) break;
            now_ = std::max(now_, next);
            if (!in_flight_.empty() && in_flight_.begin()->first.first <= next) {
                auto packet = std::move(in_flight_.begin()->second);
                in_flight_.erase(in_flight_.begin());
                auto it = by_address_.find(packet.transmit.to);
                if (it == by_address_.end() || !nodes_[it->second]->up) continue;
                nodes_[it->second]->node->handle_datagram(now_, packet.from, packet.transmit.bytes);
                drain(it->second);
            } else if (timer_node) {
                nodes_[*timer_node]->node->handle_timeout(now_);
                drain(*timer_node);
            }
        }
        now_ = std::max(now_, until);
    }
    void run_for(core::Duration d) { run_until(now_ + d); }

    // Runs until `done()` holds or `limit` passes; true when it held.
    bool run_until_true(std::function<bool()> const& done, core::Duration limit, core::Duration step = 50ms) {
        auto end = now_ + limit;
        while (now_ < end) {
            if (done()) return true;
            run_for(step);
        }
        return done();
    }

    // The LookupDone with this id on node i, if it has arrived.
    std::optional<dht::LookupDone> done(std::size_t i, dht::LookupId id) {
        for (auto const& e : nodes_[i]->events)
            if (auto d = std::get_if<dht::LookupDone>(&e); d && d->id == id) return *d;
        return std::nullopt;
    }
    dht::LookupDone wait_done(std::size_t i, dht::LookupId id, core::Duration limit = 60s) {
        run_until_true([&] { return done(i, id).has_value(); }, limit);
        auto d = done(i, id);
        if (!d) throw std::runtime_error("lookup did not finish");
        return *d;
    }

    // Bootstraps every node from node 0, one after another.
    void bootstrap_all(core::Duration settle = 20s) {
        for (std::size_t i = 1; i < nodes_.size(); ++i) {
            nodes_[i]->node->bootstrap(now_, nodes_[0]->address);
            drain(i);
            run_for(200ms);
        }
        run_for(settle);
    }

    void inject(std::size_t to, core::Endpoint from, core::Bytes bytes) {
        nodes_[to]->node->handle_datagram(now_, from, bytes);
        drain(to);
    }

    void set_loss(double p) { loss_ = p; }
    // One-way delay from node `from` to node `to` (default: 10 ms for every pair).
    void set_latency(std::function<core::Duration(std::size_t from, std::size_t to)> f) { latency_of_ = std::move(f); }
    // `f` sees every datagram a node sends; returning false drops it.
    void set_intercept(std::function<bool(std::size_t, core::Transmit const&)> f) { intercept_ = std::move(f); }

private:
    struct Packet {
        core::Endpoint from;
        core::Transmit transmit;
    };
    dht::Config config_;
    core::Rng rng_;
    core::Instant now_{};
    core::Duration latency_ = 10ms;
    double loss_ = 0;
    std::uint64_t seq_ = 0;
    std::vector<std::unique_ptr<TestNode>> nodes_;
    std::map<core::Endpoint, std::size_t> by_address_;
    std::map<std::pair<core::Instant, std::uint64_t>, Packet> in_flight_;
    std::function<bool(std::size_t, core::Transmit const&)> intercept_;
    std::function<core::Duration(std::size_t, std::size_t)> latency_of_;
};

}  // namespace test
