// Signed peer exchange (router_px.cpp, docs/protocol.md "Peer exchange"): a PX record
// signed by the peer it names is accepted and dialed; a forged one (wrong signer, other
// topic, expired, tampered address, ...) is dropped, counted by reason and costs the
// relay score; the router signs and refreshes its own records and keeps its peers' own
// records to pass on, verified once each; the bounds hold.
#include "tests/support/pubsub_router_fixture.hpp"

using namespace std::chrono_literals;
using pubsub::DropReason;

namespace {

pubsub::Config trusting() {
    pubsub::Config config;
    config.score.accept_px_threshold = 0;
    return config;
}

// A fixture subscribed to "chat" with peer 1 in the mesh and nothing else, ready to be
// pruned by peer 1 with some PX.
struct Pruned {
    test::RouterFixture f{trusting()};
    Pruned() {
        f.subscribe("chat");
        f.topic_peers(1, 1, "chat");
        f.clear();
    }
    std::vector<pubsub::Dial> dials() const { return f.events_of<pubsub::Dial>(); }
    bool dialed(int n) const {
        auto d = dials();
        return std::any_of(d.begin(), d.end(), [&](pubsub::Dial const& x) { return x.peer.id == f.peer(n); });
    }
};

std::uint64_t total_px_drops(pubsub::Stats const& s) {
    std::uint64_t n = 0;
    for (auto r : {DropReason::px_wrong_topic, DropReason::px_bad_addrs, DropReason::px_expired,
                   DropReason::px_expiry_too_far, DropReason::px_bad_signature, DropReason::px_known})
        n += s.drop(r);
    return n;
}

}  // namespace

TEST_CASE("pubsub px: a record signed by the named peer is accepted and dialed at its addresses", "[unit][pubsub]") {
    Pruned t;
    auto const addrs = std::vector{core::Endpoint::v4(192, 0, 2, 7, 4100), *core::Endpoint::parse("[2001:db8::7]:4100")};
    t.f.prune(1, "chat", 60, {t.f.record(20, "chat", 1h, addrs)});
    CHECK(t.f.stats().px_received == 1);
    REQUIRE(t.dials().size() == 1);
    CHECK(t.dials()[0].peer.id == t.f.peer(20));
    CHECK(t.dials()[0].peer.addrs == addrs);
    CHECK(t.f.stats().record_verifies == 1);
    CHECK(total_px_drops(t.f.stats()) == 0);
    CHECK(t.f.score(1) == 0);
}

TEST_CASE("pubsub px: forged records are dropped by reason, never dialed, and cost the relay", "[unit][pubsub]") {
    Pruned t;
    auto& f = t.f;
    struct Case {
        char const* name;
        pubsub::PeerRecord record;
        DropReason reason;
        bool costs = true;
    };
    auto wrong_signer = f.record(20, "chat");  // peer 20's key and id, signed by peer 21
    wrong_signer.signature = f.record(21, "chat").signature;
    auto tampered = f.record(21, "chat");       // signed by 21, address changed on the way
    tampered.addrs[0] = core::Endpoint::v4(203, 0, 113, 66, 4000);
    auto longer = f.record(22, "chat");         // an expiry moved later than signed
    longer.expires_ms += 1000;
    auto added = f.record(23, "chat");          // an address appended to the signed ones
    added.addrs.push_back(core::Endpoint::v4(203, 0, 113, 67, 4000));
    std::vector<Case> cases{
        {"wrong signer", wrong_signer, DropReason::px_bad_signature},
        {"tampered address", tampered, DropReason::px_bad_signature},
        {"tampered expiry", longer, DropReason::px_bad_signature},
        {"added address", added, DropReason::px_bad_signature},
        {"other topic", f.record(24, "other"), DropReason::px_wrong_topic},
        {"expired long ago", f.record(25, "chat", -1h), DropReason::px_expired},
        {"expired within the clock window", f.record(26, "chat", -10s), DropReason::px_expired, false},
        {"valid for a day", f.record(27, "chat", 24h), DropReason::px_expiry_too_far},
        {"wildcard address", f.record(28, "chat", 1h, {core::Endpoint::v4(0, 0, 0, 0, 4000)}), DropReason::px_bad_addrs},
        {"port 0", f.record(29, "chat", 1h, {core::Endpoint::v4(10, 0, 0, 29, 0)}), DropReason::px_bad_addrs},
    };
    for (auto const& c : cases) {
        INFO(c.name);
        Pruned one;
        one.f.prune(1, "chat", 60, {c.record});
        CHECK(one.f.stats().drop(c.reason) == 1);
        CHECK(total_px_drops(one.f.stats()) == 1);
        CHECK(one.dials().empty());
        CHECK(one.f.stats().px_received == (c.reason == DropReason::px_bad_signature ? 1u : 0u));
        if (c.costs) CHECK(one.f.score(1) <= -100);  // P4, like an undecodable frame
        else CHECK(one.f.score(1) == 0);
    }
}

TEST_CASE("pubsub px: a forged record among good ones costs its relay, the good ones are dialed", "[unit][pubsub]") {
    Pruned t;
    auto forged = t.f.record(20, "chat");
    forged.addrs[0] = core::Endpoint::v4(203, 0, 113, 66, 4000);
    auto px = t.f.records(21, 23, "chat");
    px.insert(px.begin(), forged);
    t.f.prune(1, "chat", 60, px);
    CHECK_FALSE(t.dialed(20));
    for (int n = 21; n <= 23; ++n) CHECK(t.dialed(n));
    CHECK(t.f.stats().drop(DropReason::px_bad_signature) == 1);
    CHECK(t.f.score(1) <= -100);
    // A relay below accept_px is not heard again.
    t.f.clear();
    t.f.link_up(2);
    t.f.announce(2, "chat");
    t.f.prune(1, "chat", 60, t.f.records(30, 31, "chat"));
    CHECK(t.f.stats().drop(DropReason::px_rejected) == 1);
}

TEST_CASE("pubsub px: bounds: px_max records, self and linked peers skipped, one verify per dial", "[unit][pubsub]") {
    Pruned t;
    auto& f = t.f;
    f.link_up(2);  // linked already
    f.clear();
    std::vector<pubsub::PeerRecord> px;
    px.push_back(f.record(0, "chat"));  // ourselves
    px.push_back(f.record(2, "chat"));
    px.push_back(f.record(40, "chat"));
    px.push_back(f.record(40, "chat"));  // named twice
    for (int n = 41; n < 41 + 20; ++n) px.push_back(f.record(n, "chat"));
    REQUIRE(px.size() == 24);
    f.prune(1, "chat", 60, px);
    // The first px_max (16) are looked at: 4 known or repeated, 12 candidates.
    CHECK(f.stats().drop(DropReason::px_known) == 3);
    CHECK(f.stats().px_received == 13);
    pubsub::Config const config = trusting();
    CHECK(t.dials().size() == config.d);  // peer 1 pruned us, peer 2 is no topic peer
    CHECK(f.stats().record_verifies == config.d);
    for (auto const& d : t.dials()) {
        int n = 40;
        while (n < 61 && f.peer(n) != d.peer.id) ++n;
        CHECK(n <= 52);  // never one beyond the first px_max records
    }
}

TEST_CASE("pubsub px: our own record goes to peers sharing the topic, and is signed again before it expires",
          "[unit][pubsub]") {
    pubsub::Config config;
    test::RouterFixture f(config);
    auto const me = core::Endpoint::v4(10, 9, 0, 1, 4000);
    f.router().set_listen_addresses({me});
    auto records_to = [&](int n) {
        std::vector<pubsub::PeerRecord> out;
        for (auto const& s : f.sends_to(n)) out.insert(out.end(), s.rpc.records.begin(), s.rpc.records.end());
        return out;
    };
    f.link_up(1);
    f.announce(1, "chat");
    f.link_up(2);
    f.announce(2, "other");
    f.clear();
    // Subscribing: the SubOpt to both, our record only to the peer in the topic.
    f.subscribe("chat");
    auto mine = records_to(1);
    REQUIRE(mine.size() == 1);
    CHECK(records_to(2).empty());
    CHECK(mine[0].node_id == f.self_id());
    CHECK(mine[0].topic == pubsub::topic_key("chat"));
    CHECK(mine[0].addrs == std::vector{me});
    CHECK(mine[0].expires_ms == static_cast<std::uint64_t>(f.now_ms()) + 2 * 3'600'000);
    CHECK(dht::check_provider_record(mine[0], static_cast<std::uint64_t>(f.now_ms()), 3 * 3'600'000) == std::nullopt);
    // A peer that subscribes later gets it with our answer to its SubOpt.
    f.clear();
    f.announce(2, "chat");
    REQUIRE(records_to(2).size() == 1);
    CHECK(records_to(2)[0] == mine[0]);
    // Nothing more until less than record_refresh is left; then a new one to each topic peer.
    f.clear();
    f.advance(config.record_ttl - config.record_refresh - 2s);
    CHECK(f.stats().records_sent == 2);
    f.advance(3s);
    REQUIRE(records_to(1).size() == 1);
    CHECK(records_to(1)[0].expires_ms > mine[0].expires_ms);
    CHECK(records_to(2).size() == 1);
    // After unsubscribing there is no record to give.
    f.router().unsubscribe(f.now(), "chat");
    f.drain();
    f.clear();
    f.link_up(3);
    f.announce(3, "chat");
    CHECK(records_to(3).empty());
}

TEST_CASE("pubsub px: without a usable listen address no record is made", "[unit][pubsub]") {
    test::RouterFixture f;
    f.router().set_listen_addresses({core::Endpoint::v4(0, 0, 0, 0, 4000), core::Endpoint::v4(10, 0, 0, 1, 0)});
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    CHECK(f.stats().records_sent == 0);
}

TEST_CASE("pubsub px: a peer's own records are checked: another node's, unsubscribed, invalid", "[unit][pubsub]") {
    test::RouterFixture f(trusting());
    f.subscribe("chat");
    f.topic_peers(1, 3, "chat");
    SECTION("a record of another node costs score and is never passed on") {
        f.give_records(1, {f.record(9, "chat")});
        CHECK(f.stats().drop(DropReason::record_not_own) == 1);
        CHECK(f.score(1) <= -100);
    }
    SECTION("a record for a topic it has not announced is dropped without blame") {
        f.give_records(1, {f.record(1, "news")});
        CHECK(f.stats().drop(DropReason::record_not_subscribed) == 1);
        CHECK(f.score(1) == 0);
    }
    SECTION("an expired record costs score") {
        f.give_records(1, {f.record(1, "chat", -1h)});
        CHECK(f.stats().drop(DropReason::record_invalid) == 1);
        CHECK(f.score(1) <= -100);
    }
    SECTION("a bad signature is found before the record is first passed on, once") {
        auto bad = f.record(2, "chat");
        bad.addrs[0] = core::Endpoint::v4(203, 0, 113, 5, 4000);
        f.give_records(2, {bad});
        f.give_records(3, {f.record(3, "chat")});
        f.give_records(3, {f.record(3, "chat")});  // again: no second verify
        CHECK(f.stats().record_verifies == 0);     // nothing passed on yet
        // Inbound peers graft until the mesh is at D_hi (8): the next is pruned with PX.
        for (int n = 4; n <= 8; ++n) {
            f.link_up(n, false);
            f.announce(n, "chat");
            f.graft(n, "chat");
        }
        REQUIRE(f.mesh_size("chat") == 8);
        f.clear();
        f.link_up(9, false);
        f.announce(9, "chat");
        f.graft(9, "chat");
        auto prunes = f.prunes_to(9);
        REQUIRE(prunes.size() == 1);
        REQUIRE(prunes[0].px.size() == 1);
        CHECK(prunes[0].px[0].node_id == f.peer(3));
        CHECK(f.stats().drop(DropReason::record_invalid) == 1);
        CHECK(f.stats().record_verifies == 2);
        CHECK(f.score(2) <= -100);
        // Pruning again verifies nothing new.
        f.link_up(10, false);
        f.announce(10, "chat");
        f.graft(10, "chat");
        REQUIRE(f.prunes_to(10).size() == 1);
        CHECK(f.stats().record_verifies == 2);
    }
}

