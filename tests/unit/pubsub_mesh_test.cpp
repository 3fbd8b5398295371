// The mesh state machine: graft on subscribe, GRAFT/PRUNE in, backoff, PX, heartbeat repair
// to D from below D_lo and above D_hi, the outbound quota, fanout, pending publishes,
// unsubscribe, NeedPeers and dialing.
#include "tests/support/pubsub_router_fixture.hpp"

using namespace std::chrono_literals;
using pubsub::DropReason;

TEST_CASE("pubsub mesh: subscribe announces, grafts known topic peers and asks for more", "[unit][pubsub]") {
    test::RouterFixture f;
    f.topic_peers(1, 3, "chat");
    f.link_up(4);  // not in the topic
    f.clear();
    f.subscribe("chat");
    for (int n = 1; n <= 4; ++n) {
        std::size_t subs = 0;
        for (auto const& s : f.sends_to(n)) subs += s.rpc.subscriptions.size();
        CHECK(subs == 1);
    }
    CHECK(f.grafts_to(1) == 1);
    CHECK(f.grafts_to(3) == 1);
    CHECK(f.grafts_to(4) == 0);
    CHECK(f.mesh_size("chat") == 3);
    CHECK(f.events_of<pubsub::Announce>().size() == 1);
    // 3 known peers < D_lo: ask the host for more.
    auto need = f.events_of<pubsub::NeedPeers>();
    REQUIRE(need.size() == 1);
    CHECK(need[0].topic == pubsub::topic_key("chat"));
    // A link that comes up later hears our subscriptions at once.
    f.clear();
    f.link_up(5);
    REQUIRE(f.sends_to(5).size() == 1);
    CHECK(f.sends_to(5)[0].rpc.subscriptions.size() == 1);
    CHECK(f.sends_to(5)[0].priority == links::Priority::control);
    // And a new topic peer joins a thin mesh without waiting for the heartbeat.
    f.announce(5, "chat");
    CHECK(f.in_mesh("chat", 5));
}

TEST_CASE("pubsub mesh: NeedPeers is rate limited with a growing interval", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.advance(60s);
    // At 0 s, then after 5, 10, 20 s (next 40 s later is at 75 s).
    CHECK(f.events_of<pubsub::NeedPeers>().size() == 4);
    f.clear();
    f.topic_peers(1, 5, "chat");
    f.advance(120s);
    CHECK(f.events_of<pubsub::NeedPeers>().empty());
}

TEST_CASE("pubsub mesh: GRAFT in, unknown topics, PRUNE and backoff", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.link_up(1);
    f.graft(1, "other");
    CHECK(f.stats().drop(DropReason::graft_unknown_topic) == 1);
    f.graft(1, "chat");  // before its SubOpt: tolerated, it becomes a topic peer
    CHECK(f.in_mesh("chat", 1));
    CHECK(f.router().topic_peers(pubsub::topic_key("chat")).size() == 1);

    f.clear();
    f.prune(1, "chat", 30);
    CHECK_FALSE(f.in_mesh("chat", 1));
    // Inside the backoff the heartbeat does not graft it back...
    f.advance(29s);
    CHECK(f.grafts_to(1) == 0);
    CHECK_FALSE(f.in_mesh("chat", 1));
    // ...after it, it does (the mesh is below D_lo).
    f.advance(2s);
    CHECK(f.grafts_to(1) == 1);
    CHECK(f.in_mesh("chat", 1));
}

TEST_CASE("pubsub mesh: GRAFT inside our backoff costs P7 and is answered with PRUNE", "[unit][pubsub]") {
    pubsub::Config config;
    test::RouterFixture f(config);
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    REQUIRE(f.in_mesh("chat", 1));
    // We prune peer 1 by unsubscribing (10 s backoff), then subscribe again.
    f.router().unsubscribe(f.now(), "chat");
    f.drain();
    auto prunes = f.prunes_to(1);
    REQUIRE(prunes.size() == 1);
    CHECK(prunes[0].backoff_s == 10);
    CHECK(f.events_of<pubsub::Withdraw>().size() == 1);
    f.subscribe("chat");
    CHECK_FALSE(f.in_mesh("chat", 1));  // our backoff holds for us too
    f.clear();
    f.graft(1, "chat");  // within 10 s of the PRUNE: two behaviour points
    CHECK_FALSE(f.in_mesh("chat", 1));
    CHECK(f.stats().drop(DropReason::graft_in_backoff) == 1);
    CHECK(f.prunes_to(1).size() == 1);
    CHECK(f.router().peer_score_parts(f.now(), f.peer(1)).behaviour == Approx(-10 * 2 * 2));
}

TEST_CASE("pubsub mesh: heartbeat repair from below D_lo to D", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 10, "chat");  // the first 6 join at once (mesh below D)
    CHECK(f.mesh_size("chat") == 6);
    for (int n = 1; n <= 10; ++n) {
        if (f.in_mesh("chat", n) && f.mesh_size("chat") > 3) f.prune(n, "chat");
    }
    REQUIRE(f.mesh_size("chat") == 3);  // below D_lo = 5
    f.clear();
    f.advance(1s);
    CHECK(f.mesh_size("chat") == 6);
    std::size_t grafts = 0;
    for (int n = 1; n <= 10; ++n) grafts += f.grafts_to(n);
    CHECK(grafts == 3);
}

TEST_CASE("pubsub mesh: heartbeat trims above D_hi to D, keeping D_score best and D_out outbound",
          "[unit][pubsub]") {
    test::RouterFixture f;
    pubsub::Config const config;
    int const d_hi = static_cast<int>(config.d_hi);
    f.subscribe("chat");
    // D_hi + 2 inbound peers and 2 outbound ones graft us; outbound GRAFTs pass the full mesh.
    for (int n = 1; n <= d_hi + 2; ++n) {
        f.link_up(n, false);
        f.announce(n, "chat");
        f.graft(n, "chat");
    }
    CHECK(f.mesh_size("chat") == config.d_hi);  // the last two inbound were refused
    CHECK(f.stats().drop(DropReason::graft_mesh_full) == 2);
    int const out1 = d_hi + 3, out2 = d_hi + 4;
    for (int n = out1; n <= out2; ++n) {
        f.link_up(n, true);
        f.announce(n, "chat");
        f.graft(n, "chat");
    }
    REQUIRE(f.mesh_size("chat") == config.d_hi + 2);
    f.clear();
    f.advance(1s);
    CHECK(f.mesh_size("chat") == config.d);
    CHECK(f.in_mesh("chat", out1));
    CHECK(f.in_mesh("chat", out2));
    std::size_t pruned = 0;
    for (int n = 1; n <= out2; ++n) {
        auto p = f.prunes_to(n);
        pruned += p.size();
        for (auto const& pr : p) CHECK(pr.backoff_s == 60);
    }
    CHECK(pruned == config.d_hi + 2 - config.d);
}

TEST_CASE("pubsub mesh: outbound quota grafts dialed peers into an all-inbound mesh", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    for (int n = 1; n <= 6; ++n) {
        f.link_up(n, false);
        f.announce(n, "chat");
    }
    REQUIRE(f.mesh_size("chat") == 6);
    f.topic_peers(7, 9, "chat", true);  // outbound, but the mesh is already at D
    REQUIRE(f.mesh_size("chat") == 6);
    f.clear();
    f.advance(1s);
    std::size_t outbound_in_mesh = 0;
    for (int n = 7; n <= 9; ++n) outbound_in_mesh += f.in_mesh("chat", n);
    CHECK(outbound_in_mesh == 2);  // D_out
    CHECK(f.mesh_size("chat") == 8);
}

TEST_CASE("pubsub mesh: PX is accepted only from peers above accept_px and becomes dials", "[unit][pubsub]") {
    // Records of peers 20..39, each signed by the peer it names (router_px.cpp).
    auto px = [](test::RouterFixture const& f) { return f.records(20, 39, "chat"); };
    // Peer 1 prunes us with PX; the PX must be refused and dial no one.
    auto check_refused = [&](pubsub::Config const& config, int invalid_messages) {
        test::RouterFixture f(config);
        f.subscribe("chat");
        f.topic_peers(1, 1, "chat");
        f.spoil(1, invalid_messages);
        f.clear();
        f.prune(1, "chat", 60, px(f));
        CHECK(f.stats().drop(DropReason::px_rejected) == 1);
        CHECK(f.events_of<pubsub::Dial>().empty());
        CHECK(f.stats().record_verifies == 0);
    };
    SECTION("the default (0) refuses a peer with a negative score") { check_refused({}, 1); }
    SECTION("a threshold above a fresh peer's score (0) refuses it") {
        pubsub::Config config;
        config.score.accept_px_threshold = 100;
        check_refused(config, 0);
    }
    SECTION("a trusted peer's PX is used, at most px_max records, dials bounded") {
        pubsub::Config config;
        config.score.accept_px_threshold = 0;
        test::RouterFixture f(config);
        f.subscribe("chat");
        f.topic_peers(1, 1, "chat");
        f.clear();
        f.prune(1, "chat", 60, px(f));
        CHECK(f.stats().px_received == 16);
        auto dials = f.events_of<pubsub::Dial>();
        // The peer that pruned us is in backoff, so it counts for nothing: D new peers.
        CHECK(dials.size() == config.d);
        for (auto const& d : dials) CHECK(d.peer.addrs.size() == 1);
        // Only the records dialed were verified.
        CHECK(f.stats().record_verifies == config.d);
        // Failures and successes free dial slots.
        f.clear();
        f.router().handle_dial_failed(f.now(), dials[0].peer.id);
        f.drain();
        CHECK(f.events_of<pubsub::Dial>().size() == 1);
        CHECK(f.stats().record_verifies == config.d + 1);
        CHECK(f.score(1) == 0);
    }
}

// The 10,000-node simulation (docs/simulator.md): subscribers that found the same few
// announced providers were all pruned by those full meshes, still knew D topic peers, and
// so never dialed the PX they were given: 615 of 1,000 meshes below D_lo, 280 components.
TEST_CASE("pubsub mesh: pruned by every known topic peer, a node dials the PX it got", "[unit][pubsub]") {
    pubsub::Config config;
    config.score.accept_px_threshold = 0;
    test::RouterFixture f(config);
    f.subscribe("chat");
    f.topic_peers(1, static_cast<int>(config.d), "chat", true);
    REQUIRE(f.mesh_size("chat") == config.d);
    f.clear();
    auto const px = f.records(50, 59, "chat");
    for (int n = 1; n <= static_cast<int>(config.d); ++n) f.prune(n, "chat", 60, px);
    CHECK(f.mesh_size("chat") == 0);
    // D known topic peers, none usable: it dials D of the PX candidates at once...
    CHECK(f.events_of<pubsub::Dial>().size() == config.d);
    // ...and asks the DHT for more once the need-peers interval since the subscribe is up.
    f.clear();
    f.advance(config.need_peers_interval);
    CHECK(f.events_of<pubsub::NeedPeers>().size() == 1);
}

TEST_CASE("pubsub mesh: PRUNE with PX goes to good peers when the mesh is full", "[unit][pubsub]") {
    pubsub::Config config;
    config.score.accept_px_threshold = 0;
    test::RouterFixture f(config);
    f.subscribe("chat");
    // Peers whose provider records the DHT gave us (checked there), then linked.
    f.router().add_provider_records(f.now(), pubsub::topic_key("chat"), f.records(1, 12, "chat"));
    f.drain();
    for (int n = 1; n <= 12; ++n) {
        f.link_up(n, false);
        f.announce(n, "chat");
        f.graft(n, "chat");
    }
    f.clear();
    f.link_up(13, false);
    f.announce(13, "chat");
    f.graft(13, "chat");
    auto prunes = f.prunes_to(13);
    REQUIRE(prunes.size() == 1);
    CHECK(prunes[0].px.size() == 12);
    for (auto const& p : prunes[0].px) {
        CHECK(p.node_id != f.peer(13));
        // Passed on as signed, untouched.
        CHECK(p.topic == pubsub::topic_key("chat"));
        CHECK(dht::check_provider_record(p, static_cast<std::uint64_t>(f.now_ms()), 3'600'000 * 3) == std::nullopt);
    }
    CHECK(f.stats().record_verifies == 0);  // the DHT's records came checked
}

// Peers that dialed us have no provider record we know of: the records they give us of
// themselves (Rpc::records) are how a full mesh can still point a pruned node at them.
TEST_CASE("pubsub mesh: PX passes on the records inbound peers gave of themselves", "[unit][pubsub]") {
    test::RouterFixture f;
    f.router().set_listen_addresses({core::Endpoint::v4(10, 9, 0, 1, 4000), core::Endpoint::v4(0, 0, 0, 0, 4000)});
    f.subscribe("chat");
    for (int n = 1; n <= 12; ++n) {
        f.link_up(n, false);
        f.clear();
        pubsub::Rpc r;
        r.subscriptions.push_back(pubsub::SubOpt{pubsub::topic_key("chat"), true});
        if (n % 2 == 0) r.records = {f.record(n, "chat")};  // the odd ones never say
        f.rpc(n, std::move(r));
        // Its subscription makes us give it our own record: our usable address only.
        std::vector<pubsub::PeerRecord> ours;
        for (auto const& s : f.sends_to(n)) ours.insert(ours.end(), s.rpc.records.begin(), s.rpc.records.end());
        REQUIRE(ours.size() == 1);
        CHECK(ours[0].node_id == f.self_id());
        CHECK(ours[0].addrs == std::vector{core::Endpoint::v4(10, 9, 0, 1, 4000)});
        f.graft(n, "chat");
    }
    f.clear();
    f.link_up(13, false);
    f.announce(13, "chat");
    f.graft(13, "chat");
    auto prunes = f.prunes_to(13);
    REQUIRE(prunes.size() == 1);
    REQUIRE(prunes[0].px.size() == 6);
    for (auto const& p : prunes[0].px) {
        int n = 1;
        while (n <= 12 && f.peer(n) != p.node_id) ++n;
        CHECK(n % 2 == 0);
        CHECK(p == f.record(n, "chat"));
    }
    CHECK(f.stats().record_verifies == 6);  // each checked once, before it went out
}

TEST_CASE("pubsub mesh: dials go to candidates, bounded, with backoff after failure", "[unit][pubsub]") {
    pubsub::Config config;
    config.dials_in_flight_max = 3;
    test::RouterFixture f(config);
    f.subscribe("chat");
    std::vector<pubsub::PeerAddress> cands;
    for (int n = 1; n <= 10; ++n) cands.push_back({f.peer(n), {core::Endpoint::v4(10, 2, std::uint8_t(n), 1, 4000)}});
    cands.push_back({f.self_id(), {core::Endpoint::v4(10, 9, 9, 9, 4000)}});  // ourselves: never dialed
    f.clear();
    f.router().add_peers(f.now(), pubsub::topic_key("chat"), cands);
    f.drain();
    auto dials = f.events_of<pubsub::Dial>();
    REQUIRE(dials.size() == 3);
    for (auto const& d : dials) CHECK(d.peer.id != f.self_id());
    // One fails: another candidate is dialed, the failed one not again for a while.
    f.clear();
    f.router().handle_dial_failed(f.now(), dials[0].peer.id);
    f.drain();
    auto more = f.events_of<pubsub::Dial>();
    REQUIRE(more.size() == 1);
    CHECK(more[0].peer.id != dials[0].peer.id);
    CHECK(f.stats().dials_failed == 1);
}

TEST_CASE("pubsub mesh: flood publish reaches every topic peer; fanout without flood", "[unit][pubsub]") {
    SECTION("flood publish, not subscribed") {
        test::RouterFixture f;
        f.topic_peers(1, 9, "news");
        f.clear();
        auto r = f.publish("news", "extra");
        CHECK(r.peers == 9);
        for (int n = 1; n <= 9; ++n) CHECK(f.messages_to(n) == 1);
        CHECK(f.stats().delivered == 0);
        auto topics = f.router().topics();
        REQUIRE(topics.size() == 1);
        CHECK_FALSE(topics[0].subscribed);
        // The fanout topic is forgotten after fanout_ttl without publishing.
        f.advance(61s);
        CHECK(f.router().topics().empty());
    }
    SECTION("fanout of D peers when flood publish is off") {
        pubsub::Config config;
        config.flood_publish = false;
        test::RouterFixture f(config);
        f.topic_peers(1, 9, "news");
        f.clear();
        CHECK(f.publish("news", "one").peers == 6);
        auto first = f.take_sends();
        f.publish("news", "two");
        // The same fanout peers carry the next message.
        std::set<pubsub::LinkId> a, b;
        for (auto const& s : first) if (!s.rpc.messages.empty()) a.insert(s.link);
        for (auto const& s : f.take_sends()) if (!s.rpc.messages.empty()) b.insert(s.link);
        CHECK(a == b);
        // Subscribing turns the fanout peers into the mesh.
        f.subscribe("news");
        CHECK(f.mesh_size("news") == 6);
        std::set<pubsub::LinkId> mesh;
        for (auto const& id : f.router().mesh(pubsub::topic_key("news"))) {
            for (int n = 1; n <= 9; ++n) if (f.peer(n) == id) mesh.insert(static_cast<pubsub::LinkId>(n));
        }
        CHECK(mesh == a);
    }
}

TEST_CASE("pubsub mesh: a publish before any peer is known waits for the first topic peers", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    auto const r = f.publish("chat", "early bird");
    CHECK(r.peers == 0);
    f.advance(3s);
    f.clear();
    f.link_up(1);
    CHECK(f.messages_to(1) == 0);  // not in the topic yet
    f.announce(1, "chat");
    CHECK(f.messages_to(1) == 1);
    f.topic_peers(2, 2, "chat");
    CHECK(f.messages_to(2) == 1);
    CHECK(f.stats().pending_sent == 2);
    // Expired after pending_ttl: later peers get it only through gossip or history.
    f.advance(30s);
    f.clear();
    f.topic_peers(3, 3, "chat");
    CHECK(f.messages_to(3) == 0);
    CHECK(f.stats().drop(DropReason::pending_expired) == 0);  // it did reach someone
}

TEST_CASE("pubsub mesh: a cold publish goes to a dialed provider as its link comes up, before its subscription",
          "[unit][pubsub]") {
    // A publisher outside the topic: the message waits for the providers the DHT names.
    test::RouterFixture f;
    auto const r = f.publish("news", "first words");
    CHECK(r.peers == 0);
    CHECK(f.events_of<pubsub::NeedPeers>().size() == 1);
    std::vector<pubsub::PeerAddress> providers;
    for (int n = 1; n <= 3; ++n) providers.push_back({f.peer(n), {core::Endpoint::v4(10, 3, std::uint8_t(n), 1, 4000)}});
    f.clear();
    f.router().add_peers(f.now(), pubsub::topic_key("news"), providers);
    f.drain();
    CHECK(f.events_of<pubsub::Dial>().size() == 3);
    // The first dialed link up: the message leaves at once (with the handshake's last
    // message), not a round trip later when the peer's subscription arrives.
    f.clear();
    f.link_up(2);
    CHECK(f.messages_to(2) == 1);
    CHECK(f.stats().pending_sent == 1);
    f.announce(2, "news");
    CHECK(f.messages_to(2) == 1);  // not again
    // A link we did not dial for the topic (inbound, or a peer no record named) waits for
    // the peer's subscription, as before.
    f.link_up(7, false);
    f.link_up(8);
    CHECK(f.messages_to(7) == 0);
    CHECK(f.messages_to(8) == 0);
    f.announce(8, "news");
    CHECK(f.messages_to(8) == 1);
    // A provider whose record was stale gets it once too (it drops it, no score cost);
    // the message stays pending for the topic peers still to come.
    f.clear();
    f.link_up(3);
    CHECK(f.messages_to(3) == 1);
    f.link_up(1);
    CHECK(f.messages_to(1) == 1);
    CHECK(f.stats().pending_sent == 4);
}

TEST_CASE("pubsub mesh: a cold publish dials pending_dials providers at once, then D again", "[unit][pubsub]") {
    pubsub::Config config;
    config.pending_dials = 9;
    config.dials_in_flight_max = 12;
    test::RouterFixture f(config);
    std::vector<pubsub::PeerAddress> providers;
    for (int n = 1; n <= 14; ++n) providers.push_back({f.peer(n), {core::Endpoint::v4(10, 4, std::uint8_t(n), 1, 4000)}});
    SECTION("a message waits: pending_dials at once, none more once one peer carries it") {
        f.publish("news", "cold");
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), providers);
        f.drain();
        auto dials = f.events_of<pubsub::Dial>();
        REQUIRE(dials.size() == 9);
        // The first link up takes the message; once its subscription makes it a usable peer
        // the topic wants D again, and the dials still on the way already make more than
        // D: a failure is not replaced.
        f.clear();
        auto const first = static_cast<int>(std::find(providers.begin(), providers.end(), dials[0].peer) - providers.begin()) + 1;
        f.link_up(first);
        CHECK(f.messages_to(first) == 1);
        f.announce(first, "news");
        f.clear();
        f.router().handle_dial_failed(f.now(), dials[1].peer.id);
        f.drain();
        CHECK(f.events_of<pubsub::Dial>().empty());
    }
    SECTION("nothing waits (a subscriber): D dials") {
        f.subscribe("news");
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), providers);
        f.drain();
        CHECK(f.events_of<pubsub::Dial>().size() == config.d);
    }
}

TEST_CASE("pubsub mesh: measured candidates are dialed first, nearest first, and a few beyond the target",
          "[unit][pubsub]") {
    pubsub::Config config;
    config.pending_dials = 6;
    config.pending_near_dials = 2;
    config.dials_in_flight_max = 10;
    test::RouterFixture f(config);
    auto provider = [&](int n, int rtt_ms) {
        pubsub::PeerAddress p{f.peer(n), {core::Endpoint::v4(10, 4, std::uint8_t(n), 1, 4000)}};
        p.rtt = std::chrono::milliseconds(rtt_ms);
        return p;
    };
    std::vector<pubsub::PeerAddress> unmeasured;
    for (int n = 1; n <= 10; ++n) unmeasured.push_back(provider(n, 0));
    SECTION("in one batch: the measured ones first, by round trip") {
        f.publish("news", "cold");
        auto batch = unmeasured;
        batch.push_back(provider(11, 80));
        batch.push_back(provider(12, 20));
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), batch);
        f.drain();
        auto dials = f.events_of<pubsub::Dial>();
        REQUIRE(dials.size() == 6);
        CHECK(dials[0].peer.id == f.peer(12));
        CHECK(dials[1].peer.id == f.peer(11));
        CHECK(f.stats().near_dials == 0);
    }
    SECTION("measured ones arriving after the target is full: up to pending_near_dials more") {
        f.publish("news", "cold");
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), unmeasured);
        f.drain();
        REQUIRE(f.events_of<pubsub::Dial>().size() == 6);
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), {provider(11, 30), provider(12, 10), provider(13, 20)});
        f.drain();
        auto dials = f.events_of<pubsub::Dial>();
        REQUIRE(dials.size() == 2);
        CHECK(dials[0].peer.id == f.peer(12));
        CHECK(dials[1].peer.id == f.peer(13));
        CHECK(f.stats().near_dials == 2);
        // Unmeasured candidates get no such allowance.
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), {provider(14, 0)});
        f.drain();
        CHECK(f.events_of<pubsub::Dial>().empty());
    }
    SECTION("nothing waits (a subscriber): D dials, measured first, none beyond") {
        f.subscribe("news");
        auto batch = unmeasured;
        batch.push_back(provider(11, 30));
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), batch);
        f.drain();
        auto dials = f.events_of<pubsub::Dial>();
        REQUIRE(dials.size() == config.d);
        CHECK(dials[0].peer.id == f.peer(11));
        f.clear();
        f.router().add_peers(f.now(), pubsub::topic_key("news"), {provider(12, 5)});
        f.drain();
        CHECK(f.events_of<pubsub::Dial>().empty());
    }
}

TEST_CASE("pubsub mesh: unsubscribe prunes the mesh and tells every link", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 3, "chat");
    f.link_up(4);
    f.clear();
    f.router().unsubscribe(f.now(), "chat");
    f.drain();
    for (int n = 1; n <= 3; ++n) CHECK(f.prunes_to(n).size() == 1);
    for (int n = 1; n <= 4; ++n) {
        bool told = false;
        for (auto const& s : f.sends_to(n)) {
            for (auto const& sub : s.rpc.subscriptions) told |= !sub.subscribe;
        }
        CHECK(told);
    }
    CHECK(f.router().topics().empty());
    CHECK(f.events_of<pubsub::Withdraw>().size() == 1);
}

TEST_CASE("pubsub mesh: link down removes the peer from the mesh; duplicate links are closed", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 2, "chat");
    f.link_down(1);
    CHECK_FALSE(f.in_mesh("chat", 1));
    CHECK(f.router().topic_peers(pubsub::topic_key("chat")).size() == 1);
    // A second link to peer 2 (link 102): one of the two is closed, the peer stays.
    f.clear();
    f.router().handle_link_up(f.now(), 102, f.peer(2), false, std::nullopt);
    f.drain();
    CHECK(f.events_of<pubsub::CloseLink>().size() == 1);
    CHECK(f.stats().drop(DropReason::duplicate_link) == 1);
    f.router().handle_link_down(f.now(), f.events_of<pubsub::CloseLink>()[0].link);
    CHECK(f.in_mesh("chat", 2));
    // A link to ourselves is refused.
    f.clear();
    f.router().handle_link_up(f.now(), 200, f.self_id(), true, std::nullopt);
    f.drain();
    CHECK(f.events_of<pubsub::CloseLink>().size() == 1);
}
