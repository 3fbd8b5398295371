// The message path of PUBSUB-NOTES §3, step by step: every check in its place, the
// signature verified at most once per id (stats().signature_verifies counts each verify).
#include "tests/support/pubsub_router_fixture.hpp"

using namespace std::chrono_literals;
using pubsub::InvalidReason;

namespace {
// A router subscribed to "chat" with peers 1..3 in its mesh.
struct Subscribed : test::RouterFixture {
    Subscribed() {
        subscribe("chat");
        topic_peers(1, 3, "chat");
        REQUIRE(mesh_size("chat") == 3);
        clear();
    }
};
}  // namespace

TEST_CASE("pubsub validation: a valid message is verified once, stored, forwarded and delivered", "[unit][pubsub]") {
    Subscribed f;
    auto const m = f.message(9, "chat", "hello");
    f.send_message(1, m.encoded);
    CHECK(f.stats().signature_verifies == 1);
    CHECK(f.stats().delivered == 1);
    auto delivered = f.events_of<pubsub::Delivered>();
    REQUIRE(delivered.size() == 1);
    CHECK(delivered[0].topic == "chat");
    CHECK(delivered[0].message.id == m.id);
    CHECK(f.store().contains(m.id));
    // Forwarded to the mesh minus the sender.
    CHECK(f.messages_to(1) == 0);
    CHECK(f.messages_to(2) == 1);
    CHECK(f.messages_to(3) == 1);
    for (auto const& s : f.sends_to(2)) {
        if (!s.rpc.messages.empty()) CHECK(s.priority == links::Priority::forward);
    }
    f.clear();
    // The same bytes again, from anyone: a duplicate, no second verify, nothing sent.
    f.send_message(2, m.encoded);
    CHECK(f.stats().duplicate == 1);
    CHECK(f.stats().signature_verifies == 1);
    CHECK(f.stats().delivered == 1);
    CHECK(f.take_sends().empty());
}

TEST_CASE("pubsub validation: a bad signature is verified once and then a duplicate", "[unit][pubsub]") {
    Subscribed f;
    auto bytes = f.message(9, "chat", "forged").encoded;
    bytes.back() ^= std::byte{1};
    f.send_message(1, bytes);
    CHECK(f.stats().invalid_count(InvalidReason::bad_signature) == 1);
    CHECK(f.stats().signature_verifies == 1);
    CHECK(f.stats().delivered == 0);
    CHECK(f.router().peer_score_parts(f.now(), f.peer(1)).invalid == Approx(-100));
    // IDONTWANT aside (small message), nothing went out.
    CHECK(f.count_sent([](auto const& s) { return !s.rpc.messages.empty(); }) == 0);
    f.send_message(2, bytes);
    CHECK(f.stats().duplicate == 1);
    CHECK(f.stats().signature_verifies == 1);
    CHECK(f.stats().invalid_count(InvalidReason::bad_signature) == 1);
    CHECK(f.router().peer_score(f.now(), f.peer(2)) == 0);
}

TEST_CASE("pubsub validation: a message already in the store is a duplicate without a verify", "[unit][pubsub]") {
    Subscribed f;
    auto const m = f.message(9, "chat", "from history");
    REQUIRE(f.store().put(m) == pubsub::StoreStatus::stored);  // e.g. stored before a restart
    f.send_message(1, m.encoded);
    CHECK(f.stats().duplicate == 1);
    CHECK(f.stats().signature_verifies == 0);
    CHECK(f.stats().delivered == 0);
}

TEST_CASE("pubsub validation: decode errors cost the sender; oversize payloads are dropped without cost", "[unit][pubsub]") {
    pubsub::Config config;
    config.limits.payload_max = 100;
    test::RouterFixture f(config);
    f.subscribe("chat");
    f.topic_peers(1, 2, "chat");
    f.send_message(1, core::to_bytes("not an envelope"));
    CHECK(f.stats().invalid_count(InvalidReason::decode) == 1);
    // Above this node's limit, legal for a node with a larger one (--max-message-kb):
    // dropped and counted, not verified, not delivered, and not held against the sender.
    f.send_message(2, f.message(9, "chat", std::string(101, 'x')).encoded);
    CHECK(f.stats().invalid_count(InvalidReason::too_large) == 1);
    CHECK(f.stats().signature_verifies == 0);
    CHECK(f.stats().delivered == 0);
    CHECK(f.router().peer_score(f.now(), f.peer(1)) == Approx(-100));
    CHECK(f.router().peer_score(f.now(), f.peer(2)) == 0);
    f.send_message(2, f.message(9, "chat", std::string(100, 'x')).encoded);
    CHECK(f.stats().delivered == 1);
}

TEST_CASE("pubsub validation: unknown topics are dropped before the duplicate check", "[unit][pubsub]") {
    Subscribed f;
    f.send_message(1, f.message(9, "other", "x").encoded);
    CHECK(f.stats().invalid_count(InvalidReason::unknown_topic) == 1);
    CHECK(f.stats().signature_verifies == 0);
    // Not the sender's fault (it may not have our unsubscribe yet): no score.
    CHECK(f.router().peer_score(f.now(), f.peer(1)) == 0);
}

TEST_CASE("pubsub validation: a future timestamp never reaches verify; an old one is not relayed", "[unit][pubsub]") {
    Subscribed f;
    f.send_message(1, f.message(9, "chat", "from the future", -21s).encoded);
    CHECK(f.stats().invalid_count(InvalidReason::future_timestamp) == 1);
    CHECK(f.stats().signature_verifies == 0);
    CHECK(f.router().peer_score(f.now(), f.peer(1)) == 0);
    // Within the tolerance it is fine.
    f.send_message(1, f.message(9, "chat", "slightly ahead", -19s).encoded);
    CHECK(f.stats().delivered == 1);
    f.clear();
    // Older than the seen TTL: stored and delivered, not forwarded (bounds replays).
    auto const old = f.message(9, "chat", "old news", 121s);
    f.send_message(1, old.encoded);
    CHECK(f.stats().delivered == 2);
    CHECK(f.store().contains(old.id));
    CHECK(f.stats().drop(pubsub::DropReason::old_not_relayed) == 1);
    CHECK(f.messages_to(2) == 0);
    CHECK(f.messages_to(3) == 0);
}

TEST_CASE("pubsub validation: our own key on a message we did not publish", "[unit][pubsub]") {
    Subscribed f;
    f.send_message(1, f.message(0, "chat", "not mine").encoded);  // identity(0) is the router's
    CHECK(f.stats().invalid_count(InvalidReason::bad_author) == 1);
    CHECK(f.stats().signature_verifies == 0);
    CHECK(f.stats().delivered == 0);
}

TEST_CASE("pubsub validation: the application validator", "[unit][pubsub]") {
    Subscribed f;
    f.router().set_validator([](std::string_view topic, pubsub::Message const& m) {
        CHECK(topic == "chat");
        auto text = core::as_chars(m.payload);
        if (text == "spam") return pubsub::Validation::reject;
        if (text == "meh") return pubsub::Validation::ignore;
        return pubsub::Validation::accept;
    });
    f.send_message(1, f.message(9, "chat", "spam").encoded);
    CHECK(f.stats().invalid_count(InvalidReason::rejected) == 1);
    CHECK(f.router().peer_score(f.now(), f.peer(1)) == Approx(-100));
    f.send_message(2, f.message(9, "chat", "meh").encoded);
    CHECK(f.stats().drop(pubsub::DropReason::validator_ignored) == 1);
    CHECK(f.router().peer_score(f.now(), f.peer(2)) == 0);
    CHECK(f.stats().delivered == 0);
    CHECK(f.stats().signature_verifies == 2);
}

TEST_CASE("pubsub validation: IDONTWANT to the mesh on first receipt of a large message", "[unit][pubsub]") {
    Subscribed f;
    auto const big = f.message(9, "chat", std::string(1024, 'b'));
    f.send_message(1, big.encoded);
    auto idontwant_ids = [&](int n) {
        std::size_t c = 0;
        for (auto const& s : f.sends_to(n)) {
            for (auto const& d : s.rpc.idontwant) c += std::count(d.ids.begin(), d.ids.end(), big.id);
        }
        return c;
    };
    CHECK(idontwant_ids(1) == 0);
    CHECK(idontwant_ids(2) == 1);
    CHECK(idontwant_ids(3) == 1);
    f.clear();
    // Small messages do not trigger it.
    f.send_message(1, f.message(9, "chat", "small").encoded);
    CHECK(f.count_sent([](auto const& s) { return !s.rpc.idontwant.empty(); }) == 0);
}

TEST_CASE("pubsub validation: no forward to a peer that said IDONTWANT", "[unit][pubsub]") {
    Subscribed f;
    auto const m = f.message(9, "chat", "hello");
    pubsub::Rpc r;
    r.idontwant.push_back(pubsub::IDontWant{{m.id}});
    f.rpc(3, std::move(r));
    f.send_message(1, m.encoded);
    CHECK(f.messages_to(2) == 1);
    CHECK(f.messages_to(3) == 0);
    CHECK(f.stats().control_count(pubsub::ControlType::idontwant, pubsub::Direction::in) == 1);
}

TEST_CASE("pubsub validation: the author's flood hint stops forwards to the peers it names", "[unit][pubsub]") {
    Subscribed f;
    // Peer 1 is the author: it says it also sent its message to peer 2 (and to 7, not ours).
    auto const m = f.message(1, "chat", "flooded", 0s, 42);
    pubsub::Rpc r;
    r.messages.push_back(m.encoded);
    r.flooded.push_back({42, {pubsub::flood_hint_prefix(f.peer(2)), pubsub::flood_hint_prefix(f.peer(7))}});
    f.rpc(1, std::move(r));
    CHECK(f.stats().delivered == 1);
    CHECK(f.messages_to(1) == 0);  // the sender and author
    CHECK(f.messages_to(2) == 0);  // named in the hint: it has the message from the author
    CHECK(f.messages_to(3) == 1);
    CHECK(f.stats().flood_hint_skips == 1);

    // A hint for another seqno names nobody for this message.
    f.clear();
    auto const other = f.message(1, "chat", "not flooded", 0s, 43);
    pubsub::Rpc r2;
    r2.messages.push_back(other.encoded);
    r2.flooded.push_back({44, {pubsub::flood_hint_prefix(f.peer(2))}});
    f.rpc(1, std::move(r2));
    CHECK(f.messages_to(2) == 1);
    CHECK(f.messages_to(3) == 1);
}

TEST_CASE("pubsub validation: a flood hint from a relay is ignored, and the author gets no forward", "[unit][pubsub]") {
    Subscribed f;
    // Peer 1 relays a message of peer 3 and claims peer 2 has it: only the author may say so.
    auto const m = f.message(3, "chat", "relayed", 0s, 5);
    pubsub::Rpc r;
    r.messages.push_back(m.encoded);
    r.flooded.push_back({5, {pubsub::flood_hint_prefix(f.peer(2))}});
    f.rpc(1, std::move(r));
    CHECK(f.stats().delivered == 1);
    CHECK(f.messages_to(2) == 1);
    CHECK(f.messages_to(3) == 0);  // the author, a mesh peer: never sent its own message back
    CHECK(f.stats().flood_hint_skips == 0);
}

TEST_CASE("pubsub validation: a flood publish names the other targets to each", "[unit][pubsub]") {
    Subscribed f;
    auto const receipt = f.publish("chat", "to all three");
    REQUIRE(receipt.peers == 3);
    for (int n = 1; n <= 3; ++n) {
        INFO("peer " << n);
        auto sends = f.sends_to(n);
        REQUIRE(sends.size() == 1);
        auto const& rpc = sends[0].rpc;
        REQUIRE(rpc.flooded.size() == 1);
        CHECK(rpc.flooded[0].seqno == receipt.seqno);
        std::vector<std::uint64_t> expected;
        for (int other = 1; other <= 3; ++other)
            if (other != n) expected.push_back(pubsub::flood_hint_prefix(f.peer(other)));
        auto got = rpc.flooded[0].peers;
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
        CHECK(got == expected);
    }
}

TEST_CASE("pubsub validation: publish signs, delivers locally and sends to topic peers", "[unit][pubsub]") {
    Subscribed f;
    auto const r1 = f.publish("chat", "mine");
    auto const r2 = f.publish("chat", "mine again");
    CHECK(r2.seqno == r1.seqno + 1);
    CHECK(r1.ts_ms == f.now_ms());
    CHECK(r1.peers == 3);
    CHECK(f.stats().published == 2);
    CHECK(f.stats().delivered == 2);
    CHECK(f.store().contains(r1.id));
    for (int n = 1; n <= 3; ++n) {
        CHECK(f.messages_to(n) == 2);
        for (auto const& s : f.sends_to(n)) {
            if (!s.rpc.messages.empty()) CHECK(s.priority == links::Priority::own_publish);
        }
    }
    // The envelope verifies.
    auto const sent = f.sends_to(1).back().rpc.messages.back();
    auto parsed = pubsub::parse_message(sent, 64 * 1024);
    REQUIRE(parsed.ok());
    CHECK(pubsub::verify_message(parsed.value()));
    CHECK(parsed.value().id == r2.id);
    // Echoes of our own messages are duplicates.
    f.send_message(1, sent);
    CHECK(f.stats().duplicate == 1);
    CHECK(f.stats().signature_verifies == 0);
}

TEST_CASE("pubsub validation: publish refuses oversize payloads and bad topic names", "[unit][pubsub]") {
    test::RouterFixture f;
    auto big = f.router().publish(f.now(), "chat", core::Bytes(64 * 1024 + 1));
    REQUIRE_FALSE(big.ok());
    CHECK(big.error() == pubsub::PublishError::too_large);
    CHECK(f.router().publish(f.now(), "chat", core::Bytes(64 * 1024)).ok());
    auto empty = f.router().publish(f.now(), "", core::Bytes(1));
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error() == pubsub::PublishError::bad_topic);
    CHECK_FALSE(f.router().subscribe(f.now(), std::string(257, 't')).ok());
}
