// One pubsub::Router under test with scripted peers: a test brings links up, feeds Rpcs as
// if a peer sent them, and reads what the router sends and emits. Peers are identities
// from small seeds (peer(n)); link n belongs to peer n. Virtual time only.
#pragma once

#include "core/crypto.hpp"
#include "core/signer.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/memory_store.hpp"
#include "pubsub/router.hpp"
#include "pubsub/topic.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

namespace test {

using namespace std::chrono_literals;

class RouterFixture {
public:
    inline static core::WallClockAnchor const wall{core::Instant{}, core::UnixTime{1'700'000'000}};

    explicit RouterFixture(pubsub::Config config = {}) : config_(config) {
        core::crypto_init();
        self_ = identity(0);
        router_ = std::make_unique<pubsub::Router>(config_, self_, store_, core::Rng(42), now_, wall, 1);
    }

    static core::Identity identity(int n) {
        std::array<std::byte, 32> seed{};
        seed[0] = std::byte(n & 0xff);
        seed[1] = std::byte((n >> 8) & 0xff);
        seed[31] = std::byte{0x5a};
        return core::Identity::from_seed(seed);
    }
    static core::NodeId peer(int n) { return identity(n).id; }

    pubsub::Router& router() { return *router_; }
    pubsub::MemoryMessageStore& store() { return store_; }
    pubsub::Stats const& stats() { return router_->stats(); }
    core::Instant now() const { return now_; }
    std::int64_t now_ms() const { return wall.to_unix_ms(now_); }
    core::NodeId const& self_id() const { return self_.id; }

    void link_up(int n, bool outbound = true, std::optional<std::uint64_t> group = std::nullopt) {
        router_->handle_link_up(now_, static_cast<pubsub::LinkId>(n), peer(n), outbound, group);
        drain();
    }
    void link_down(int n) {
        router_->handle_link_down(now_, static_cast<pubsub::LinkId>(n));
        drain();
    }
    void rpc(int n, pubsub::Rpc r) {
        router_->handle_rpc(now_, static_cast<pubsub::LinkId>(n), std::move(r));
        drain();
    }
    // Peer n announces it subscribes to `topic`.
    void announce(int n, std::string const& topic, bool subscribe = true) {
        pubsub::Rpc r;
        r.subscriptions.push_back(pubsub::SubOpt{pubsub::topic_key(topic), subscribe});
        rpc(n, std::move(r));
    }
    // Peers [first, last] come up (outbound unless told) and announce `topic`.
    void topic_peers(int first, int last, std::string const& topic, bool outbound = true) {
        for (int n = first; n <= last; ++n) {
            link_up(n, outbound);
            announce(n, topic);
        }
    }
    void subscribe(std::string const& topic) {
        REQUIRE(router_->subscribe(now_, topic).ok());
        drain();
    }
    pubsub::PublishReceipt publish(std::string const& topic, std::string const& payload) {
        auto r = router_->publish(now_, topic, core::as_bytes(payload));
        REQUIRE(r.ok());
        drain();
        return r.value();
    }
    void graft(int n, std::string const& topic) {
        pubsub::Rpc r;
        r.graft.push_back(pubsub::Graft{pubsub::topic_key(topic)});
        rpc(n, std::move(r));
    }
    // Where peer n takes links, in the records the fixture signs for it.
    static core::Endpoint address(int n) {
        return core::Endpoint::v4(10, std::uint8_t(n >> 8), std::uint8_t(n & 0xff), 1, 4000);
    }
    // Peer n's own record for `topic` at `addrs` (default: address(n)), expiring `ttl` from now.
    pubsub::PeerRecord record(int n, std::string const& topic, core::Duration ttl = 1h,
                              std::vector<core::Endpoint> addrs = {}) const {
        if (addrs.empty()) addrs = {address(n)};
        core::IdentitySigner signer(identity(n));
        auto const expires = now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
        return dht::make_provider_record(signer, pubsub::topic_key(topic), std::move(addrs),
                                         static_cast<std::uint64_t>(expires));
    }
    // Records of peers [first, last] for `topic`.
    std::vector<pubsub::PeerRecord> records(int first, int last, std::string const& topic) const {
        std::vector<pubsub::PeerRecord> out;
        for (int n = first; n <= last; ++n) out.push_back(record(n, topic));
        return out;
    }
    // Peer n gives us its own records (Rpc::records).
    void give_records(int n, std::vector<pubsub::PeerRecord> records) {
        pubsub::Rpc r;
        r.records = std::move(records);
        rpc(n, std::move(r));
    }
    double score(int n) const { return router_->peer_score(now_, peer(n)); }
    void prune(int n, std::string const& topic, std::uint32_t backoff_s = 60, std::vector<pubsub::PeerRecord> px = {}) {
        pubsub::Rpc r;
        r.prune.push_back(pubsub::Prune{pubsub::topic_key(topic), std::move(px), backoff_s});
        rpc(n, std::move(r));
    }
    // A message signed by peer `author`, timestamped `age` ago (negative: in the future).
    pubsub::Message message(int author, std::string const& topic, std::string const& payload,
                            core::Duration age = 0s, std::uint64_t seqno = 1) {
        auto const ts = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
        return pubsub::sign_message(identity(author), pubsub::topic_key(topic), seqno, ts, core::as_bytes(payload));
    }
    void send_message(int n, core::Bytes encoded) {
        pubsub::Rpc r;
        r.messages.push_back(std::move(encoded));
        rpc(n, std::move(r));
    }
    // Puts peer n below zero with `count` undecodable messages (P4: -100 x count^2).
    void spoil(int n, int count) {
        for (int i = 0; i < count; ++i) send_message(n, core::to_bytes("garbage"));
    }

    // Advances time to `t`, running every heartbeat on the way.
    void advance(core::Duration d) {
        core::Instant const until = now_ + d;
        while (true) {
            auto w = router_->next_wakeup();
            if (!w || *w > until) break;
            now_ = std::max(now_, *w);
            router_->handle_timeout(now_);
            drain();
        }
        now_ = until;
    }

    // Everything sent since the last take, and the subset for one link.
    std::vector<pubsub::Send> take_sends() { return std::exchange(sends_, {}); }
    std::vector<pubsub::Event> take_events() { return std::exchange(events_, {}); }
    std::vector<pubsub::Send> sends_to(int n) const {
        std::vector<pubsub::Send> out;
        for (auto const& s : sends_) if (s.link == static_cast<pubsub::LinkId>(n)) out.push_back(s);
        return out;
    }
    template <class F>
    std::size_t count_sent(F&& f) const {
        std::size_t c = 0;
        for (auto const& s : sends_) c += f(s);
        return c;
    }
    std::size_t grafts_to(int n) const {
        std::size_t c = 0;
        for (auto const& s : sends_to(n)) c += s.rpc.graft.size();
        return c;
    }
    std::vector<pubsub::Prune> prunes_to(int n) const {
        std::vector<pubsub::Prune> out;
        for (auto const& s : sends_to(n)) out.insert(out.end(), s.rpc.prune.begin(), s.rpc.prune.end());
        return out;
    }
    std::size_t messages_to(int n) const {
        std::size_t c = 0;
        for (auto const& s : sends_to(n)) c += s.rpc.messages.size();
        return c;
    }
    template <class T>
    std::vector<T> events_of() const {
        std::vector<T> out;
        for (auto const& e : events_) if (auto* x = std::get_if<T>(&e)) out.push_back(*x);
        return out;
    }
    void clear() {
        sends_.clear();
        events_.clear();
    }
    bool in_mesh(std::string const& topic, int n) const {
        auto m = router_->mesh(pubsub::topic_key(topic));
        return std::find(m.begin(), m.end(), peer(n)) != m.end();
    }
    std::size_t mesh_size(std::string const& topic) const { return router_->mesh(pubsub::topic_key(topic)).size(); }

    void drain() {
        while (auto s = router_->poll_send()) sends_.push_back(std::move(*s));
        while (auto e = router_->poll_event()) events_.push_back(std::move(*e));
    }

private:
    pubsub::Config config_;
    core::Identity self_;
    pubsub::MemoryMessageStore store_;
    core::Instant now_ = core::Instant{} + 1000s;
    std::unique_ptr<pubsub::Router> router_;
    std::vector<pubsub::Send> sends_;
    std::vector<pubsub::Event> events_;
};

}  // namespace test
