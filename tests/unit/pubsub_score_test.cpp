// Peer scoring, first version: P1/P2 small and capped, P4 and P7 squared, P6 colocation
// with exemption, decay, retention across reconnects; and what the thresholds do in the
// router (no gossip, no publish, graylist, no mesh slot below zero).
#include "pubsub/score.hpp"
#include "tests/support/pubsub_router_fixture.hpp"

using namespace std::chrono_literals;
using pubsub::DropReason;

namespace {
core::NodeId node(int n) {
    core::NodeId id;
    id.bytes[0] = std::byte(n);
    return id;
}
core::Instant at(core::Duration d) { return core::Instant{} + d; }
}  // namespace

TEST_CASE("pubsub score: components", "[unit][pubsub]") {
    pubsub::ScoreConfig config;
    pubsub::ScoreTable table(config);
    auto const topic = pubsub::topic_key("t");
    table.on_connected(node(1), std::nullopt);
    CHECK(table.score(at(0s), node(1)) == 0);

    SECTION("P4 is squared") {
        table.on_invalid_message(node(1));
        CHECK(table.score(at(0s), node(1)) == Approx(-100));
        table.on_invalid_message(node(1));
        table.on_invalid_message(node(1));
        CHECK(table.score(at(0s), node(1)) == Approx(-900));
    }
    SECTION("P7 is squared") {
        table.add_behaviour_penalty(node(1), 3);
        CHECK(table.parts(at(0s), node(1)).behaviour == Approx(-90));
    }
    SECTION("P1 grows with time in mesh up to its cap; P2 counts first deliveries up to its cap") {
        table.on_graft(at(0s), node(1), topic);
        CHECK(table.parts(at(60s), node(1)).time_in_mesh == Approx(1.0));
        CHECK(table.parts(at(10h), node(1)).time_in_mesh == Approx(60.0));
        table.on_prune(node(1), topic);
        CHECK(table.parts(at(10h), node(1)).time_in_mesh == 0);
        for (int i = 0; i < 100; ++i) table.on_first_delivery(node(1), topic);
        CHECK(table.parts(at(0s), node(1)).first_delivery == Approx(40.0));
    }
    SECTION("decay forgets, exactly, in the end") {
        table.on_invalid_message(node(1));
        table.decay(at(1s));
        CHECK(table.score(at(1s), node(1)) == Approx(-100 * 0.99 * 0.99));
        for (int i = 0; i < 500; ++i) table.decay(at(1s));
        CHECK(table.score(at(1s), node(1)) == 0);
    }
    SECTION("a penalty survives a reconnect; a clean score is not kept") {
        table.on_invalid_message(node(1));
        table.on_disconnected(at(0s), node(1));
        table.on_connected(node(1), std::nullopt);
        CHECK(table.score(at(0s), node(1)) == Approx(-100));
        table.on_connected(node(2), std::nullopt);
        table.on_disconnected(at(0s), node(2));
        CHECK(table.size() == 1);
        // Retained scores go after `retain`.
        table.on_disconnected(at(0s), node(1));
        table.decay(at(config.retain + 1s));
        CHECK(table.size() == 0);
    }
    SECTION("P6: peers beyond the threshold in one group pay; ungrouped peers are exempt") {
        for (int n = 10; n < 16; ++n) table.on_connected(node(n), std::uint64_t{7});  // 6 in group 7
        for (int n = 20; n < 40; ++n) table.on_connected(node(n), std::nullopt);       // loopback
        CHECK(table.parts(at(0s), node(10)).colocation == Approx(-10.0 * 2 * 2));
        CHECK(table.parts(at(0s), node(20)).colocation == 0);
        table.on_disconnected(at(0s), node(10));
        table.on_disconnected(at(0s), node(11));
        CHECK(table.parts(at(0s), node(12)).colocation == 0);
    }
}

TEST_CASE("pubsub score: P6 through the router", "[unit][pubsub]") {
    test::RouterFixture f;
    for (int n = 1; n <= 6; ++n) f.link_up(n, true, std::uint64_t{42});
    f.link_up(7, true, std::nullopt);
    CHECK(f.router().peer_score(f.now(), f.peer(1)) == Approx(-40));
    CHECK(f.router().peer_score(f.now(), f.peer(7)) == 0);
}

TEST_CASE("pubsub score: negative peers lose their mesh slot and cannot graft", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 3, "chat");
    REQUIRE(f.in_mesh("chat", 1));
    f.spoil(1, 1);
    f.clear();
    f.advance(1s);
    CHECK_FALSE(f.in_mesh("chat", 1));
    REQUIRE(f.prunes_to(1).size() == 1);
    CHECK(f.prunes_to(1)[0].px.empty());
    // Its GRAFT during the backoff costs it more and is refused.
    f.graft(1, "chat");
    CHECK_FALSE(f.in_mesh("chat", 1));
    // After the backoff it is still negative: refused for its score.
    f.advance(61s);
    f.spoil(1, 1);
    f.graft(1, "chat");
    CHECK_FALSE(f.in_mesh("chat", 1));
    CHECK(f.stats().drop(DropReason::graft_negative_score) == 1);
}

TEST_CASE("pubsub score: below the gossip threshold no IHAVE goes out and none is heard", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 12, "chat");
    // Peers outside the mesh, two invalid messages each (-400 < -100).
    std::vector<int> outside;
    for (int n = 1; n <= 12; ++n) {
        if (!f.in_mesh("chat", n)) outside.push_back(n);
    }
    REQUIRE(outside.size() == 6);
    for (int n : outside) f.spoil(n, 2);
    f.publish("chat", "news");
    f.clear();
    f.advance(1s);
    for (int n : outside) {
        for (auto const& s : f.sends_to(n)) CHECK(s.rpc.ihave.empty());
    }
    // Their IHAVE and IWANT are ignored.
    pubsub::Rpc r;
    pubsub::MessageId unknown;
    unknown.bytes[0] = std::byte{0x77};
    r.ihave.push_back(pubsub::IHave{pubsub::topic_key("chat"), {unknown}});
    f.clear();
    f.rpc(outside[0], std::move(r));
    for (auto const& s : f.sends_to(outside[0])) CHECK(s.rpc.iwant.empty());
    CHECK(f.stats().drop(DropReason::ihave_below_gossip) == 1);
}

TEST_CASE("pubsub score: below the publish threshold no flood publish reaches a peer", "[unit][pubsub]") {
    test::RouterFixture f;
    f.topic_peers(1, 4, "news");
    f.spoil(1, 4);  // -1600 < -1000
    f.spoil(2, 2);  // -400: still published to
    f.clear();
    auto r = f.publish("news", "flash");
    CHECK(r.peers == 3);
    CHECK(f.messages_to(1) == 0);
    CHECK(f.messages_to(2) == 1);
}

TEST_CASE("pubsub score: a graylisted peer is ignored entirely", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    f.spoil(1, 11);  // -12100 < -10000
    auto const before = f.stats().invalid_total();
    f.send_message(1, f.message(9, "chat", "listen to me").encoded);
    f.graft(1, "chat");
    CHECK(f.stats().drop(DropReason::graylisted) == 2);
    CHECK(f.stats().invalid_total() == before);
    CHECK(f.stats().delivered == 0);
    CHECK(f.stats().signature_verifies == 0);
}

TEST_CASE("pubsub score: bad frames cost like invalid messages", "[unit][pubsub]") {
    test::RouterFixture f;
    f.link_up(1);
    f.router().handle_bad_frame(f.now(), 1, core::DecodeError::truncated);
    CHECK(f.stats().drop(DropReason::bad_frame) == 1);
    CHECK(f.router().peer_score(f.now(), f.peer(1)) == Approx(-100));
}
