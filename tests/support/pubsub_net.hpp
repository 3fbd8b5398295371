// A small in-memory network of pubsub::Routers for tests: links are wired directly (the
// decoded Rpcs pass between routers after a fixed latency on a virtual clock; no
// encryption, no codec), Dial events connect routers, NeedPeers is answered from the
// Announce events (a stand-in for DHT provider records). Not the simulator (sim/ runs the
// engine over byte streams at scale); just enough to drive real routers through real
// meshes deterministically.
#pragma once

#include "core/crypto.hpp"
#include "core/signer.hpp"
#include "pubsub/memory_store.hpp"
#include "pubsub/router.hpp"
#include "pubsub/topic.hpp"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace test {

using namespace std::chrono_literals;

class PubsubNet {
public:
    struct Node {
        core::Identity identity;
        std::unique_ptr<pubsub::MemoryMessageStore> store;
        std::unique_ptr<pubsub::Router> router;
        bool up = true;
        std::map<pubsub::MessageId, int> delivered;  // id -> times delivered
        std::set<pubsub::MessageId> caught_up;       // delivered with the caught_up mark
        std::uint64_t need_peers = 0;
    };

    inline static core::WallClockAnchor const wall{core::Instant{}, core::UnixTime{1'700'000'000}};

    explicit PubsubNet(pubsub::Config config = {}, std::uint64_t seed = 1, core::Duration latency = 5ms)
        : config_(config), rng_(seed), latency_(latency) {
        core::crypto_init();
        now_ = core::Instant{} + 10s;
    }

    std::size_t add_node() {
        auto n = std::make_unique<Node>();
        std::array<std::byte, 32> seed{};
        rng_.fill(seed);
        n->identity = core::Identity::from_seed(seed);
        n->store = std::make_unique<pubsub::MemoryMessageStore>();
        // Staggered heartbeats, as on real nodes started at different times.
        auto const jitter = core::Duration(static_cast<std::int64_t>(rng_.uniform(1'000'000)));
        n->router = std::make_unique<pubsub::Router>(config_, n->identity, *n->store, rng_.split(), now_ - jitter, wall,
                                                     1);
        // Its link address, named in the records it signs for its topics (PX passes them on).
        n->router->set_listen_addresses({endpoint(nodes_.size())});
        index_[n->identity.id] = nodes_.size();
        nodes_.push_back(std::move(n));
        return nodes_.size() - 1;
    }

    Node& node(std::size_t i) { return *nodes_[i]; }
    std::size_t size() const { return nodes_.size(); }
    core::Instant now() const { return now_; }
    static core::Endpoint endpoint(std::size_t i) {
        return core::Endpoint::v4(10, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1, 4000);
    }
    pubsub::PeerAddress address(std::size_t i) const { return pubsub::PeerAddress{nodes_[i]->identity.id, {endpoint(i)}}; }
    // Node i's provider record for `topic`, as its DHT announcement would carry it.
    pubsub::PeerRecord provider_record(std::size_t i, pubsub::TopicKey const& topic) const {
        core::IdentitySigner signer(nodes_[i]->identity);
        auto const expires = static_cast<std::uint64_t>(wall.to_unix_ms(now_)) + 2 * 3'600'000;
        return dht::make_provider_record(signer, topic, {endpoint(i)}, expires);
    }

    // `a` dials `b` now.
    void connect(std::size_t a, std::size_t b) {
        if (!nodes_[a]->up) return;
        if (!nodes_[b]->up || a == b || (separated_ && separated_(a, b))) {
            nodes_[a]->router->handle_dial_failed(now_, nodes_[b]->identity.id);
            drain(a);
            return;
        }
        LinkId const la = next_link_++;
        LinkId const lb = next_link_++;
        links_[la] = End{a, b, lb, true};
        links_[lb] = End{b, a, la, true};
        nodes_[a]->router->handle_link_up(now_, la, nodes_[b]->identity.id, true, std::nullopt);
        nodes_[b]->router->handle_link_up(now_, lb, nodes_[a]->identity.id, false, std::nullopt);
        drain(a);
        drain(b);
    }

    void subscribe(std::size_t i, std::string const& topic) {
        auto r = nodes_[i]->router->subscribe(now_, topic);
        CORE_ASSERT(r.ok());
        drain(i);
    }

    pubsub::PublishReceipt publish(std::size_t i, std::string const& topic, std::string const& payload) {
        auto r = nodes_[i]->router->publish(now_, topic, core::as_bytes(payload));
        CORE_ASSERT(r.ok());
        drain(i);
        return r.value();
    }

    // Starts a killed node again with its identity and message store (a process restart
    // from disk): a new router, no links, no subscriptions; what it was delivered before
    // is forgotten unless `keep_deliveries`.
    void restart(std::size_t i, bool keep_deliveries = true) {
        auto& n = *nodes_[i];
        CORE_ASSERT(!n.up);
        n.up = true;
        if (!keep_deliveries) {
            n.delivered.clear();
            n.caught_up.clear();
        }
        auto const first_seqno = static_cast<std::uint64_t>((now_ - core::Instant{}).count());
        n.router = std::make_unique<pubsub::Router>(config_, n.identity, *n.store, rng_.split(), now_, wall, first_seqno);
    }

    // While set, no link can exist between nodes the predicate separates: dials across fail
    // and links across go down at once. Reset with nullptr (the partition heals).
    void partition(std::function<bool(std::size_t, std::size_t)> separated) {
        separated_ = std::move(separated);
        if (!separated_) return;
        for (auto& [link, end] : links_) {
            if (end.up && separated_(end.node, end.peer)) close(link);
        }
    }

    // Stops a node at once: every link to it goes down at the other end.
    void kill(std::size_t i) {
        nodes_[i]->up = false;
        for (auto& [link, end] : links_) {
            if (end.up && (end.node == i || end.peer == i)) close(link);
        }
    }

    void run_for(core::Duration d) { run_until(now_ + d); }

    void run_until(core::Instant until) {
        for (std::size_t steps = 0; steps < 50'000'000; ++steps) {
            core::Instant next = core::Instant::max();
            if (!queue_.empty()) next = queue_.begin()->first.first;
            for (auto const& n : nodes_) {
                if (!n->up) continue;
                if (auto w = n->router->next_wakeup(); w && *w < next) next = *w;
            }
            if (next > until) break;
            now_ = std::max(now_, next);
            if (!queue_.empty() && queue_.begin()->first.first <= now_) {
                auto task = std::move(queue_.begin()->second);
                queue_.erase(queue_.begin());
                task();
                continue;
            }
            for (std::size_t i = 0; i < nodes_.size(); ++i) {
                if (!nodes_[i]->up) continue;
                if (auto w = nodes_[i]->router->next_wakeup(); w && *w <= now_) {
                    nodes_[i]->router->handle_timeout(now_);
                    drain(i);
                }
            }
        }
        now_ = std::max(now_, until);
    }

    std::uint64_t rpcs_delivered() const { return rpcs_; }

private:
    using LinkId = pubsub::LinkId;
    struct End {
        std::size_t node = 0;
        std::size_t peer = 0;
        LinkId peer_link = 0;
        bool up = false;
    };

    void at(core::Instant t, std::function<void()> task) { queue_.emplace(std::make_pair(t, seq_++), std::move(task)); }

    void close(LinkId link) {
        auto& e = links_[link];
        if (!e.up) return;
        auto& other = links_[e.peer_link];
        e.up = other.up = false;
        for (auto [n, l] : {std::pair{e.node, link}, std::pair{other.node, e.peer_link}}) {
            if (!nodes_[n]->up) continue;
            nodes_[n]->router->handle_link_down(now_, l);
            drain(n);
        }
    }

    void drain(std::size_t i) {
        auto& n = *nodes_[i];
        while (auto s = n.router->poll_send()) {
            auto const& e = links_.at(s->link);
            if (!e.up) continue;
            LinkId const to = e.peer_link;
            at(now_ + latency_, [this, to, rpc = std::move(s->rpc)]() mutable {
                auto const& dest = links_.at(to);
                if (!dest.up || !nodes_[dest.node]->up) return;
                ++rpcs_;
                nodes_[dest.node]->router->handle_rpc(now_, to, std::move(rpc));
                drain(dest.node);
            });
        }
        while (auto ev = n.router->poll_event()) on_event(i, std::move(*ev));
    }

    void on_event(std::size_t i, pubsub::Event ev) {
        auto& n = *nodes_[i];
        if (auto* d = std::get_if<pubsub::Delivered>(&ev)) {
            ++n.delivered[d->message.id];
            if (d->caught_up()) n.caught_up.insert(d->message.id);
        } else if (auto* np = std::get_if<pubsub::NeedPeers>(&ev)) {
            ++n.need_peers;
            auto topic = np->topic;
            at(now_ + 4 * latency_, [this, i, topic] { answer_need_peers(i, topic); });
        } else if (auto* dial = std::get_if<pubsub::Dial>(&ev)) {
            auto target = index_.at(dial->peer.id);
            at(now_ + latency_, [this, i, target] { connect(i, target); });
        } else if (auto* c = std::get_if<pubsub::CloseLink>(&ev)) {
            auto link = c->link;
            at(now_ + latency_, [this, link] { close(link); });
        } else if (auto* a = std::get_if<pubsub::Announce>(&ev)) {
            providers_[a->topic].insert(i);
        } else if (auto* w = std::get_if<pubsub::Withdraw>(&ev)) {
            providers_[w->topic].erase(i);
        }
    }

    // Like a provider lookup: up to 20 random announced providers (dead ones included, as
    // records outlive nodes).
    void answer_need_peers(std::size_t i, pubsub::TopicKey const& topic) {
        if (!nodes_[i]->up) return;
        std::vector<std::size_t> all(providers_[topic].begin(), providers_[topic].end());
        std::erase(all, i);
        for (std::size_t k = all.size(); k > 1; --k) std::swap(all[k - 1], all[rng_.uniform(k)]);
        if (all.size() > 20) all.resize(20);
        std::vector<pubsub::PeerRecord> records;
        for (auto p : all) records.push_back(provider_record(p, topic));
        nodes_[i]->router->add_provider_records(now_, topic, std::move(records));
        drain(i);
    }

    pubsub::Config config_;
    core::Rng rng_;
    core::Duration latency_;
    core::Instant now_{};
    std::vector<std::unique_ptr<Node>> nodes_;
    std::map<core::NodeId, std::size_t> index_;
    std::map<LinkId, End> links_;
    LinkId next_link_ = 1;
    std::map<std::pair<core::Instant, std::uint64_t>, std::function<void()>> queue_;
    std::uint64_t seq_ = 0;
    std::map<pubsub::TopicKey, std::set<std::size_t>> providers_;
    std::uint64_t rpcs_ = 0;
    std::function<bool(std::size_t, std::size_t)> separated_;
};

}  // namespace test
