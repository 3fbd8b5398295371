// Catch-up and anti-entropy between real routers on the in-memory PubsubNet: a subscriber
// that was away gets what it missed (exactly once, marked caught_up), a gap older than the
// window comes through HISTORY pages, a healed partition converges by anti-entropy, and
// the responder's bounds (busy, refused, malformed input, unsolicited replies) hold.
#include "pubsub/envelope.hpp"
#include "pubsub/reconcile.hpp"
#include "tests/support/pubsub_net.hpp"
#include "tests/support/pubsub_router_fixture.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

namespace {

pubsub::Config fast_config() {
    pubsub::Config c;
    c.catchup.anti_entropy_interval = 30s;
    c.catchup.anti_entropy_window = 10min;
    return c;
}

// `nodes` routers, each dialing 3 random others; the first `subscribers` join "chat".
std::vector<std::size_t> build(test::PubsubNet& net, std::size_t nodes, std::size_t subscribers, std::uint64_t seed) {
    core::Rng rng(seed);
    for (std::size_t i = 0; i < nodes; ++i) net.add_node();
    for (std::size_t i = 0; i < nodes; ++i)
        for (int k = 0; k < 3; ++k) net.connect(i, rng.uniform(nodes));
    std::vector<std::size_t> subs;
    for (std::size_t i = 0; i < subscribers; ++i) {
        subs.push_back(i);
        net.subscribe(i, "chat");
    }
    return subs;
}

std::vector<pubsub::MessageId> publish_many(test::PubsubNet& net, std::size_t from, int count,
                                            std::string const& prefix = "m") {
    std::vector<pubsub::MessageId> ids;
    for (int m = 0; m < count; ++m) {
        ids.push_back(net.publish(from, "chat", prefix + std::to_string(m)).id);
        net.run_for(100ms);
    }
    return ids;
}

void require_each_once(test::PubsubNet::Node& node, std::vector<pubsub::MessageId> const& ids) {
    for (auto const& id : ids) {
        auto it = node.delivered.find(id);
        REQUIRE(it != node.delivered.end());
        CHECK(it->second == 1);
    }
}

// Brings node `i` back: restart with its store, dial 3 nodes, subscribe again.
void bring_back(test::PubsubNet& net, std::size_t i, std::vector<std::size_t> const& dial) {
    net.restart(i);
    for (auto d : dial) net.connect(i, d);
    net.subscribe(i, "chat");
}

}  // namespace

TEST_CASE("catch-up: a subscriber that was down gets every message it missed, once, marked", "[unit][pubsub]") {
    test::PubsubNet net(fast_config(), 11);
    auto subs = build(net, 24, 10, 11);
    net.run_for(5s);
    auto before = publish_many(net, 3, 10, "before");
    net.run_for(2s);
    require_each_once(net.node(0), before);

    net.kill(0);
    net.run_for(2s);
    auto missed = publish_many(net, 5, 50, "missed");
    net.run_for(5s);
    for (auto const& id : missed) REQUIRE_FALSE(net.node(0).delivered.contains(id));

    bring_back(net, 0, {1, 2, 12});
    net.run_for(10s);
    require_each_once(net.node(0), missed);
    for (auto const& id : missed) CHECK(net.node(0).caught_up.contains(id));
    // What it already had is not delivered again.
    require_each_once(net.node(0), before);
    auto const& st = net.node(0).router->stats();
    CHECK(st.catchup_messages == 50);
    CHECK(st.sync_count(pubsub::SyncOutcome::complete) >= 1);
    CHECK(st.sync_count(pubsub::SyncOutcome::failed) == 0);
    // Bytes spent per recovered message: ids, fingerprints and the envelopes themselves.
    CHECK(st.sync_bytes_sent < 50 * 200);
}

TEST_CASE("catch-up: live messages flow while catching up, each delivered once", "[unit][pubsub]") {
    test::PubsubNet net(fast_config(), 12);
    auto subs = build(net, 20, 8, 12);
    net.run_for(5s);
    net.kill(1);
    auto missed = publish_many(net, 4, 30);
    bring_back(net, 1, {2, 3, 9});
    // Publishing goes on during the catch-up.
    auto live = publish_many(net, 6, 30, "live");
    net.run_for(10s);
    require_each_once(net.node(1), missed);
    require_each_once(net.node(1), live);
    CHECK(net.node(1).delivered.size() == missed.size() + live.size());
}

TEST_CASE("catch-up: a gap older than the window comes through HISTORY pages", "[unit][pubsub]") {
    auto config = fast_config();
    config.catchup.window_max = 20s;
    config.catchup.history_page_max = 7;  // several pages
    config.catchup.anti_entropy_interval = 0s;
    test::PubsubNet net(config, 13);
    auto subs = build(net, 16, 8, 13);
    net.run_for(5s);
    publish_many(net, 2, 1);
    net.run_for(2s);
    net.kill(0);
    auto old_part = publish_many(net, 3, 25, "old");  // 2.5 s of messages...
    net.run_for(60s);                                   // ...then a minute: older than the window
    auto recent = publish_many(net, 3, 10, "recent");
    bring_back(net, 0, {1, 4, 9});
    net.run_for(20s);
    require_each_once(net.node(0), old_part);
    require_each_once(net.node(0), recent);
    for (auto const& id : old_part) CHECK(net.node(0).caught_up.contains(id));
    // The recent ones may also come through the last heartbeats' IHAVE gossip.
    CHECK(net.node(0).router->stats().catchup_messages >= old_part.size());
}

TEST_CASE("anti-entropy: a healed partition converges without anyone resubscribing", "[unit][pubsub]") {
    test::PubsubNet net(fast_config(), 14);
    auto subs = build(net, 20, 12, 14);
    net.run_for(5s);
    auto side = [](std::size_t n) { return n % 2; };
    net.partition([&](std::size_t a, std::size_t b) { return side(a) != side(b); });
    net.run_for(3s);
    auto even = publish_many(net, 2, 15, "even");
    auto odd = publish_many(net, 3, 15, "odd");
    net.run_for(3s);
    // Each side has its own messages only.
    CHECK_FALSE(net.node(1).delivered.contains(even.front()));
    CHECK_FALSE(net.node(0).delivered.contains(odd.front()));

    net.partition(nullptr);
    // Nodes find each other again through provider answers, then anti-entropy runs (30 s,
    // jittered) with random mesh peers; a few rounds reach every subscriber.
    net.run_for(3min);
    for (auto s : subs) {
        INFO("subscriber " << s);
        require_each_once(net.node(s), even);
        require_each_once(net.node(s), odd);
    }
    std::uint64_t runs = 0;
    for (auto s : subs) runs += net.node(s).router->stats().anti_entropy_runs;
    CHECK(runs > 0);
}

TEST_CASE("catch-up: a responder without a free slot answers busy and the requester tries another peer",
          "[unit][pubsub]") {
    auto config = fast_config();
    config.catchup.serve_sessions_max = 0;  // node 1 serves nobody...
    test::PubsubNet net(config, 15);
    for (int i = 0; i < 4; ++i) net.add_node();
    net.connect(0, 1);
    net.subscribe(0, "chat");
    net.subscribe(1, "chat");
    net.run_for(3s);
    publish_many(net, 1, 3);
    net.run_for(2s);
    net.kill(0);
    publish_many(net, 1, 3);
    bring_back(net, 0, {1});
    net.run_for(5s);
    auto const& st = net.node(0).router->stats();
    CHECK(st.sync_count(pubsub::SyncOutcome::busy) >= 1);
    CHECK(st.catchup_messages == 0);
}

TEST_CASE("catch-up: a message missed while down is fetched even from a non-mesh topic peer", "[unit][pubsub]") {
    test::PubsubNet net(fast_config(), 16);
    for (int i = 0; i < 3; ++i) net.add_node();
    net.connect(0, 1);
    net.connect(1, 2);
    for (int i = 0; i < 3; ++i) net.subscribe(i, "chat");
    net.run_for(3s);
    net.kill(0);
    auto missed = publish_many(net, 2, 5);
    net.run_for(1s);
    bring_back(net, 0, {1});
    net.run_for(5s);
    require_each_once(net.node(0), missed);
}

namespace {

// One router with one link to a scripted peer: what it sends back to crafted catch-up input.
core::Identity identity(std::uint8_t seed) {
    core::crypto_init();
    return core::Identity::from_seed(std::array<std::byte, 32>{std::byte{seed}});
}

struct Scripted {
    core::Identity self = identity(1);
    core::Identity other = identity(2);
    pubsub::MemoryMessageStore store;
    core::Instant now = core::Instant{} + 10s;
    pubsub::Router router{fast_config(), self, store, core::Rng(3), now, test::PubsubNet::wall, 1};

    Scripted() {
        REQUIRE(router.subscribe(now, "chat").ok());
        router.handle_link_up(now, 1, other.id, true, std::nullopt);
        drain();
    }
    std::vector<pubsub::Rpc> drain() {
        std::vector<pubsub::Rpc> out;
        while (auto s = router.poll_send()) out.push_back(std::move(s->rpc));
        while (router.poll_event()) {}
        return out;
    }
    std::vector<pubsub::Sync> sync_replies(pubsub::Rpc rpc) {
        router.handle_rpc(now, 1, std::move(rpc));
        std::vector<pubsub::Sync> out;
        for (auto& r : drain())
            for (auto& s : r.sync) out.push_back(std::move(s));
        return out;
    }
};

}  // namespace

TEST_CASE("catch-up responder: malformed, out-of-bounds and unknown-topic requests are refused", "[unit][pubsub]") {
    Scripted t;
    auto const topic = pubsub::topic_key("chat");
    std::int64_t const now_ms = test::PubsubNet::wall.to_unix_ms(t.now);

    pubsub::Rpc garbage;
    garbage.sync.push_back({7, pubsub::SyncKind::request, topic, now_ms - 1000, now_ms, core::Bytes(40, std::byte{0xee})});
    auto replies = t.sync_replies(garbage);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].kind == pubsub::SyncKind::refused);
    CHECK(replies[0].session == 7);

    pubsub::Rpc unknown;
    unknown.sync.push_back({8, pubsub::SyncKind::request, pubsub::topic_key("other"), now_ms - 1000, now_ms, {}});
    replies = t.sync_replies(unknown);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].kind == pubsub::SyncKind::refused);

    pubsub::Rpc backwards;
    backwards.sync.push_back({9, pubsub::SyncKind::request, topic, now_ms, now_ms - 1000, {}});
    replies = t.sync_replies(backwards);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].kind == pubsub::SyncKind::refused);

    // A well-formed request over an empty window is answered.
    std::vector<pubsub::StoreCursor> none;
    pubsub::reconcile::Initiator init{std::span<pubsub::StoreCursor const>(none)};
    pubsub::Rpc good;
    good.sync.push_back({10, pubsub::SyncKind::request, topic, now_ms - 1000, now_ms, init.start()});
    replies = t.sync_replies(good);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].kind == pubsub::SyncKind::reply);
}

TEST_CASE("catch-up requester: unsolicited SYNC replies and FETCH replies are dropped and counted", "[unit][pubsub]") {
    Scripted t;
    auto const topic = pubsub::topic_key("chat");
    pubsub::Rpc rpc;
    rpc.sync.push_back({99, pubsub::SyncKind::reply, topic, 0, 1, {}});
    pubsub::Fetched f;
    f.request = 1234;
    auto msg = pubsub::sign_message(t.other, topic, 1, test::PubsubNet::wall.to_unix_ms(t.now), core::as_bytes("x"));
    f.messages.push_back(msg.encoded);
    rpc.fetched.push_back(f);
    t.router.handle_rpc(t.now, 1, rpc);
    t.drain();
    CHECK(t.router.stats().drop(pubsub::DropReason::sync_unsolicited) == 2);
    CHECK(t.router.stats().delivered == 0);
}

TEST_CASE("catch-up responder: FETCH and HISTORY answer from the store, in order, within the page limit",
          "[unit][pubsub]") {
    Scripted t;
    auto const topic = pubsub::topic_key("chat");
    std::int64_t const base = test::PubsubNet::wall.to_unix_ms(t.now) - 60'000;
    std::vector<pubsub::Message> kept;
    for (int i = 0; i < 30; ++i) {
        kept.push_back(pubsub::sign_message(t.other, topic, static_cast<std::uint64_t>(i + 1), base + i * 10,
                                            core::as_bytes("h" + std::to_string(i))));
        REQUIRE(t.store.put(kept.back()) == pubsub::StoreStatus::stored);
    }
    // FETCH: asked in reverse, answered ascending; unknown ids skipped.
    pubsub::Rpc fetch;
    pubsub::Fetch f;
    f.request = 5;
    f.topic = topic;
    f.ids = {kept[9].id, kept[2].id, pubsub::MessageId{}, kept[4].id};
    fetch.fetch.push_back(f);
    t.router.handle_rpc(t.now, 1, fetch);
    auto out = t.drain();
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].fetched.size() == 1);
    auto const& got = out[0].fetched[0].messages;
    REQUIRE(got.size() == 3);
    CHECK(got[0] == kept[2].encoded);
    CHECK(got[1] == kept[4].encoded);
    CHECK(got[2] == kept[9].encoded);

    // HISTORY: pages of 100 at most, with a cursor to continue.
    pubsub::Rpc history;
    pubsub::Fetch h;
    h.request = 6;
    h.topic = topic;
    h.from_ms = base + 50;
    h.to_ms = base + 1000;
    h.limit = 10;
    history.fetch.push_back(h);
    t.router.handle_rpc(t.now, 1, history);
    out = t.drain();
    REQUIRE(out.size() == 1);
    auto const& page = out[0].fetched.at(0);
    REQUIRE(page.messages.size() == 10);
    CHECK(page.messages.front() == kept[5].encoded);
    REQUIRE(page.next.has_value());
    CHECK(page.next->id == kept[14].id);
}

TEST_CASE("catch-up: a pass run while the mesh was thin runs again once the mesh has D_lo peers", "[unit][pubsub]") {
    // A node just back (or just subscribed) may catch up before its mesh forms again: what
    // is published between that pass and the mesh reaches no one who forwards to it.
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    REQUIRE(f.mesh_size("chat") == 1);
    auto const sync_requests = [&] {
        return f.count_sent([](pubsub::Send const& s) {
            return std::count_if(s.rpc.sync.begin(), s.rpc.sync.end(),
                                 [](pubsub::Sync const& y) { return y.kind == pubsub::SyncKind::request; });
        });
    };
    f.clear();
    f.advance(2s);
    CHECK(sync_requests() == 1);  // the first pass, with the one peer there is
    f.clear();
    f.advance(3s);
    CHECK(sync_requests() == 0);  // nothing new while the mesh stays thin
    f.topic_peers(2, 6, "chat");
    REQUIRE(f.mesh_size("chat") >= pubsub::Config{}.d_lo);
    f.clear();
    f.advance(3s);  // a heartbeat plans it, start_delay later it runs
    CHECK(sync_requests() >= 1);
}
