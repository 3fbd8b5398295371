// Gossip and the control-message bounds of PUBSUB-NOTES §2: IHAVE emission, IWANT asks and
// promises, serving limits, IDONTWANT and subscription caps; and the frame splitter that
// keeps every outgoing frame within the wire bounds.
#include "pubsub/router_impl.hpp"
#include "tests/support/pubsub_router_fixture.hpp"

using namespace std::chrono_literals;
using pubsub::ControlType;
using pubsub::Direction;
using pubsub::DropReason;

namespace {
pubsub::MessageId id_of(int n) {
    pubsub::MessageId id;
    id.bytes[0] = std::byte(n & 0xff);
    id.bytes[1] = std::byte((n >> 8) & 0xff);
    id.bytes[2] = std::byte((n >> 16) & 0xff);
    id.bytes[31] = std::byte{0xee};
    return id;
}
pubsub::Rpc ihave(std::string const& topic, int first, int count) {
    pubsub::Rpc r;
    pubsub::IHave h{pubsub::topic_key(topic), {}};
    for (int i = 0; i < count; ++i) h.ids.push_back(id_of(first + i));
    r.ihave.push_back(std::move(h));
    return r;
}
std::size_t iwant_ids(std::vector<pubsub::Send> const& sends) {
    std::size_t c = 0;
    for (auto const& s : sends) for (auto const& w : s.rpc.iwant) c += w.ids.size();
    return c;
}
}  // namespace

TEST_CASE("pubsub gossip: IHAVE goes to non-mesh topic peers with recent ids", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 20, "chat");  // 6 in the mesh, 14 outside
    REQUIRE(f.mesh_size("chat") == 6);
    auto const r = f.publish("chat", "gossip me");
    f.clear();
    f.advance(1s);
    std::size_t ihave_peers = 0;
    for (int n = 1; n <= 20; ++n) {
        bool got = false;
        for (auto const& s : f.sends_to(n)) {
            for (auto const& h : s.rpc.ihave) {
                got = true;
                CHECK(s.priority == links::Priority::ihave);
                CHECK(h.ids == std::vector{r.id});
            }
        }
        if (got) CHECK_FALSE(f.in_mesh("chat", n));
        ihave_peers += got;
    }
    CHECK(ihave_peers == 6);  // max(D_lazy = 6, 0.25 x 14)
    // After mcache_gossip_windows heartbeats the id is no longer advertised.
    f.advance(2s);
    f.clear();
    f.advance(1s);
    CHECK(f.count_sent([](auto const& s) { return !s.rpc.ihave.empty(); }) == 0);
}

TEST_CASE("pubsub gossip: IHAVE in, IWANT out once per id, promises tracked", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 2, "chat");
    f.clear();
    f.rpc(1, ihave("chat", 0, 10));
    CHECK(iwant_ids(f.sends_to(1)) == 10);
    f.clear();
    // Peer 2 advertises the same ids: already asked, not asked again.
    f.rpc(2, ihave("chat", 0, 10));
    CHECK(iwant_ids(f.sends_to(2)) == 0);
    // Nobody delivers: after 3 s the tracked promise is broken (P7) and ids may be asked again.
    f.advance(4s);
    CHECK(f.stats().promises_broken == 1);
    CHECK(f.router().peer_score_parts(f.now(), f.peer(1)).behaviour == Approx(-10).epsilon(0.05));
    f.clear();
    f.rpc(2, ihave("chat", 0, 10));
    CHECK(iwant_ids(f.sends_to(2)) == 10);
}

TEST_CASE("pubsub gossip: a kept promise costs nothing", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    auto const m = f.message(9, "chat", "advertised");
    pubsub::Rpc r;
    r.ihave.push_back(pubsub::IHave{pubsub::topic_key("chat"), {m.id}});
    f.rpc(1, std::move(r));
    f.send_message(1, m.encoded);
    f.advance(5s);
    CHECK(f.stats().promises_broken == 0);
    CHECK(f.router().peer_score_parts(f.now(), f.peer(1)).behaviour == 0);
}

TEST_CASE("pubsub gossip: at most 10 IHAVEs and 5000 asked ids per peer per heartbeat", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    f.clear();
    for (int i = 0; i < 12; ++i) f.rpc(1, ihave("chat", i * 1000, 1000));
    CHECK(iwant_ids(f.sends_to(1)) == 5000);
    // IHAVEs 6-10 find the ask budget spent; 11 and 12 are over the count.
    CHECK(f.stats().drop(DropReason::ihave_over_limit) == 5 + 2);
    f.advance(1s);
    f.clear();
    f.rpc(1, ihave("chat", 100'000, 10));
    CHECK(iwant_ids(f.sends_to(1)) == 10);
}

TEST_CASE("pubsub gossip: IHAVE for a topic we did not join is ignored", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    f.clear();
    f.rpc(1, ihave("other", 0, 5));
    CHECK(iwant_ids(f.sends_to(1)) == 0);
    CHECK(f.stats().drop(DropReason::ihave_unknown_topic) == 1);
}

TEST_CASE("pubsub gossip: IWANT is served from the mcache at most 3 times per peer", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    auto const r = f.publish("chat", "wanted");
    f.clear();
    for (int i = 0; i < 5; ++i) {
        pubsub::Rpc w;
        w.iwant.push_back(pubsub::IWant{{r.id, id_of(1)}});
        f.rpc(1, std::move(w));
    }
    CHECK(f.messages_to(1) == 3);
    for (auto const& s : f.sends_to(1)) CHECK(s.priority == links::Priority::iwant_reply);
    CHECK(f.stats().iwant_served == 3);
    CHECK(f.stats().drop(DropReason::iwant_over_serve_limit) == 2);
    CHECK(f.stats().drop(DropReason::iwant_unknown_id) == 5);
    // Gone from the mcache after mcache_windows heartbeats.
    f.advance(5s);
    f.topic_peers(2, 2, "chat");
    f.clear();
    pubsub::Rpc w;
    w.iwant.push_back(pubsub::IWant{{r.id}});
    f.rpc(2, std::move(w));
    CHECK(f.messages_to(2) == 0);
}

TEST_CASE("pubsub gossip: at most 1000 IDONTWANT ids per peer per heartbeat", "[unit][pubsub]") {
    test::RouterFixture f;
    f.subscribe("chat");
    f.topic_peers(1, 1, "chat");
    pubsub::Rpc r;
    r.idontwant.emplace_back();
    for (int i = 0; i < 1200; ++i) r.idontwant.back().ids.push_back(id_of(i));
    f.rpc(1, std::move(r));
    CHECK(f.stats().drop(DropReason::idontwant_over_limit) == 200);
}

TEST_CASE("pubsub gossip: subscriptions per peer are capped", "[unit][pubsub]") {
    pubsub::Config config;
    config.subscriptions_per_peer_max = 3;
    test::RouterFixture f(config);
    f.link_up(1);
    for (int t = 0; t < 5; ++t) f.announce(1, "t" + std::to_string(t));
    CHECK(f.stats().drop(DropReason::subscriptions_over_limit) == 2);
    CHECK(f.router().topic_peers(pubsub::topic_key("t2")).size() == 1);
    CHECK(f.router().topic_peers(pubsub::topic_key("t3")).empty());
}

TEST_CASE("pubsub gossip: topics per node are capped", "[unit][pubsub]") {
    pubsub::Config config;
    config.topics_max = 2;
    test::RouterFixture f(config);
    CHECK(f.router().subscribe(f.now(), "a").ok());
    CHECK(f.router().subscribe(f.now(), "b").ok());
    auto r = f.router().subscribe(f.now(), "c");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == pubsub::PublishError::too_many_topics);
    CHECK(f.router().subscribe(f.now(), "a").ok());  // idempotent
}

TEST_CASE("pubsub gossip: outgoing frames are split within the wire bounds", "[unit][pubsub]") {
    pubsub::RpcLimits limits;
    pubsub::Rpc big;
    for (int i = 0; i < 100; ++i) big.messages.push_back(core::Bytes(10'000, std::byte{1}));
    for (int i = 0; i < 70; ++i) big.subscriptions.push_back({id_of(i), true});
    for (int i = 0; i < 70; ++i) big.graft.push_back({id_of(i)});
    pubsub::IHave h{id_of(1), {}};
    for (int i = 0; i < 12'000; ++i) h.ids.push_back(id_of(i));
    big.ihave.push_back(h);
    big.iwant.push_back({h.ids});
    big.idontwant.push_back({std::vector(h.ids.begin(), h.ids.begin() + 2500)});
    auto frames = pubsub::split_rpc(big, limits, 256 * 1024);
    std::size_t messages = 0, subs = 0, grafts = 0, ihave_ids = 0, iwant_ids = 0, idontwant_ids = 0;
    for (auto const& fr : frames) {
        std::size_t bytes = 0, fr_ihave = 0, fr_iwant = 0, fr_idw = 0;
        for (auto const& m : fr.messages) bytes += m.size();
        for (auto const& x : fr.ihave) fr_ihave += x.ids.size();
        for (auto const& x : fr.iwant) fr_iwant += x.ids.size();
        for (auto const& x : fr.idontwant) fr_idw += x.ids.size();
        CHECK(fr.messages.size() <= limits.messages_max);
        CHECK(bytes <= 256 * 1024);
        CHECK(fr.subscriptions.size() <= limits.subscriptions_max);
        CHECK(fr.graft.size() + fr.prune.size() + fr.ihave.size() <= limits.topics_per_control_max);
        CHECK(fr_ihave <= limits.ihave_ids_max);
        CHECK(fr_iwant <= limits.iwant_ids_max);
        CHECK(fr_idw <= limits.idontwant_ids_max);
        messages += fr.messages.size();
        subs += fr.subscriptions.size();
        grafts += fr.graft.size();
        ihave_ids += fr_ihave;
        iwant_ids += fr_iwant;
        idontwant_ids += fr_idw;
    }
    CHECK(messages == 100);
    CHECK(subs == 70);
    CHECK(grafts == 70);
    CHECK(ihave_ids == 12'000);
    CHECK(iwant_ids == 12'000);
    CHECK(idontwant_ids == 2500);
    // One message larger than the soft cap still goes, alone.
    pubsub::Rpc one;
    one.messages.push_back(core::Bytes(300'000));
    CHECK(pubsub::split_rpc(one, limits, 256 * 1024).size() == 1);
}
