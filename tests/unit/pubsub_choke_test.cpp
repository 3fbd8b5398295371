// Choking (pubsub/router_choke.cpp, docs/protocol.md "Choking"): which mesh peers are asked
// to announce instead of push, what a choked sender sends, how announcements are asked for
// and bounded, and how the choice follows the peers that bring messages first.
#include "tests/support/pubsub_router_fixture.hpp"

#include <algorithm>

using namespace std::chrono_literals;
using pubsub::ControlType;
using pubsub::Direction;
using pubsub::DropReason;

namespace {

pubsub::Config keep_two() {
    pubsub::Config c;
    c.choke = true;
    c.choke_keep = 2;
    c.choke_min_messages = 10;
    return c;
}

// A router subscribed to "chat" with peers 1..6 in its mesh (choke_keep 2).
struct Meshed : test::RouterFixture {
    Meshed() : RouterFixture(keep_two()) {
        subscribe("chat");
        topic_peers(1, 6, "chat");
        REQUIRE(mesh_size("chat") == 6);
        clear();
    }
    // Choke entries (topic "chat") sent to peer n since the last clear: +1 choke, -1 unchoke each.
    std::vector<bool> chokes_to(int n) const {
        std::vector<bool> out;
        for (auto const& s : sends_to(n)) {
            for (auto const& c : s.rpc.choke) {
                CHECK(c.topic == pubsub::topic_key("chat"));
                out.push_back(c.choke);
            }
        }
        return out;
    }
    std::vector<pubsub::MessageId> ihave_ids_to(int n) const {
        std::vector<pubsub::MessageId> out;
        for (auto const& s : sends_to(n))
            for (auto const& h : s.rpc.ihave) out.insert(out.end(), h.ids.begin(), h.ids.end());
        return out;
    }
    std::size_t iwant_ids_to(int n) const {
        std::size_t c = 0;
        for (auto const& s : sends_to(n)) for (auto const& w : s.rpc.iwant) c += w.ids.size();
        return c;
    }
    void peer_chokes_us(int n, bool choke = true) {
        pubsub::Rpc r;
        r.choke.push_back({pubsub::topic_key("chat"), choke});
        rpc(n, std::move(r));
    }
    // Ten messages by authors outside the mesh: peers 1 and 2 bring them first (in turn),
    // peers 3..6 send each again after.
    void first_from_one_and_two(int seqno_base) {
        for (int i = 0; i < 10; ++i) {
            auto const m = message(100 + i, "chat", "m" + std::to_string(i), 0s,
                                   static_cast<std::uint64_t>(seqno_base + i));
            send_message(1 + i % 2, m.encoded);
            for (int n = 3; n <= 6; ++n) send_message(n, m.encoded);
        }
    }
};

}  // namespace

TEST_CASE("pubsub choke: the mesh peers that never bring a message first are choked", "[unit][pubsub]") {
    Meshed f;
    f.first_from_one_and_two(1);
    CHECK(f.stats().delivered == 10);
    CHECK(f.stats().duplicate == 40);
    // Nothing is decided between heartbeats.
    for (int n = 1; n <= 6; ++n) CHECK(f.chokes_to(n).empty());
    f.clear();
    f.advance(1s);
    CHECK(f.chokes_to(1).empty());
    CHECK(f.chokes_to(2).empty());
    for (int n = 3; n <= 6; ++n) CHECK(f.chokes_to(n) == std::vector{true});
    CHECK(f.stats().control_count(ControlType::choke, Direction::out) == 4);
    // The mesh itself is unchanged: choked peers stay in it.
    CHECK(f.mesh_size("chat") == 6);
    // The window restarts: the next heartbeat, with no new messages, decides nothing.
    f.clear();
    f.advance(1s);
    for (int n = 1; n <= 6; ++n) CHECK(f.chokes_to(n).empty());
}

TEST_CASE("pubsub choke: a peer that choked us gets an IHAVE at once instead of the message", "[unit][pubsub]") {
    Meshed f;
    f.peer_chokes_us(3);
    CHECK(f.stats().control_count(ControlType::choke, Direction::in) == 1);
    auto const m = f.message(100, "chat", "hello");
    f.send_message(1, m.encoded);
    CHECK(f.messages_to(3) == 0);
    CHECK(f.ihave_ids_to(3) == std::vector{m.id});
    for (auto const& s : f.sends_to(3)) {
        if (!s.rpc.ihave.empty()) CHECK(s.priority == links::Priority::forward);
    }
    for (int n : {2, 4, 5, 6}) CHECK(f.messages_to(n) == 1);
    CHECK(f.stats().lazy_ihave_ids == 1);
    CHECK(f.stats().forwarded == 4);
    // The first hop from the author pushes to every mesh peer, choked or not: a message that
    // enters the mesh at a node few peers take pushes from would otherwise crawl out of it
    // one IWANT round trip per hop.
    f.clear();
    auto const own = f.message(1, "chat", "from its author", 0s, 9);
    f.send_message(1, own.encoded);
    CHECK(f.messages_to(3) == 1);
    CHECK(f.ihave_ids_to(3).empty());
    CHECK(f.stats().lazy_ihave_ids == 1);
    // Unchoked again: the next message is pushed.
    f.clear();
    f.peer_chokes_us(3, false);
    CHECK(f.stats().control_count(ControlType::unchoke, Direction::in) == 1);
    auto const m2 = f.message(100, "chat", "again", 0s, 2);
    f.send_message(1, m2.encoded);
    CHECK(f.messages_to(3) == 1);
    CHECK(f.ihave_ids_to(3).empty());
}

TEST_CASE("pubsub choke: a choke from outside the mesh is dropped; a new graft forgets the old one",
          "[unit][pubsub]") {
    Meshed f;
    f.link_up(9);
    f.announce(9, "other");
    f.peer_chokes_us(9);
    CHECK(f.stats().drop(DropReason::choke_not_mesh) == 1);

    // Peer 3 choked us, then prunes and grafts again: it is pushed to as a new mesh peer.
    f.peer_chokes_us(3);
    f.prune(3, "chat", 0);
    f.advance(61s);
    f.graft(3, "chat");
    REQUIRE(f.in_mesh("chat", 3));
    f.clear();
    auto const m = f.message(100, "chat", "after the graft");
    f.send_message(1, m.encoded);
    CHECK(f.messages_to(3) == 1);
    CHECK(f.ihave_ids_to(3).empty());
}

TEST_CASE("pubsub choke: a choked peer's announcements are asked for at once and bounded by ids",
          "[unit][pubsub]") {
    auto config = keep_two();
    config.lazy_ihave_ids_per_heartbeat_max = 15;
    test::RouterFixture f(config);
    f.subscribe("chat");
    f.topic_peers(1, 6, "chat");
    // Choke 3..6 as above.
    for (int i = 0; i < 10; ++i) {
        auto const m = f.message(100 + i, "chat", "m", 0s, static_cast<std::uint64_t>(i + 1));
        f.send_message(1 + i % 2, m.encoded);
    }
    f.advance(1s);
    f.clear();
    // Twelve one-id IHAVEs from choked peer 3 (beyond ihave_per_heartbeat_max = 10 IHAVEs):
    // every id is asked for at once, from peer 3.
    std::vector<pubsub::Message> fresh;
    for (int i = 0; i < 12; ++i) fresh.push_back(f.message(200 + i, "chat", "fresh", 0s, 1));
    for (auto const& m : fresh) {
        pubsub::Rpc r;
        r.ihave.push_back({pubsub::topic_key("chat"), {m.id}});
        f.rpc(3, std::move(r));
    }
    std::size_t asked = 0;
    for (auto const& s : f.sends_to(3)) for (auto const& w : s.rpc.iwant) asked += w.ids.size();
    CHECK(asked == 12);
    CHECK(f.stats().drop(DropReason::ihave_over_limit) == 0);
    // Four more ids pass the bound of 15 announced ids per heartbeat: that IHAVE is dropped.
    pubsub::Rpc over;
    over.ihave.push_back({pubsub::topic_key("chat"), {}});
    for (int i = 0; i < 4; ++i) over.ihave.back().ids.push_back(f.message(300 + i, "chat", "x", 0s, 1).id);
    f.clear();
    f.rpc(3, std::move(over));
    CHECK(f.stats().drop(DropReason::ihave_over_limit) == 1);
    std::size_t asked_after = 0;
    for (auto const& s : f.sends_to(3)) for (auto const& w : s.rpc.iwant) asked_after += w.ids.size();
    CHECK(asked_after == 0);
    // A non-mesh peer's IHAVEs keep the IHAVE-count bound.
    f.link_up(9);
    f.announce(9, "chat");
    for (int i = 0; i < 11; ++i) {
        pubsub::Rpc r;
        r.ihave.push_back({pubsub::topic_key("chat"), {f.message(400 + i, "chat", "y", 0s, 1).id}});
        f.rpc(9, std::move(r));
    }
    CHECK(f.stats().drop(DropReason::ihave_over_limit) == 2);
}

TEST_CASE("pubsub choke: a choked peer whose announcements come first is unchoked", "[unit][pubsub]") {
    Meshed f;
    f.first_from_one_and_two(1);
    f.advance(1s);  // 3..6 choked
    f.clear();
    // Peer 3 now announces ten new messages before anyone pushes them; the pushed copies
    // from peers 1 and 2 come after, as duplicates of what peer 3 then delivered.
    for (int i = 0; i < 10; ++i) {
        auto const m = f.message(200 + i, "chat", "n", 0s, 1);
        pubsub::Rpc r;
        r.ihave.push_back({pubsub::topic_key("chat"), {m.id}});
        f.rpc(3, std::move(r));
        f.send_message(3, m.encoded);
        f.send_message(1, m.encoded);
        f.send_message(2, m.encoded);
    }
    CHECK(f.iwant_ids_to(3) == 10);
    f.clear();
    f.advance(1s);
    CHECK(f.chokes_to(3) == std::vector{false});
    // Two pushers are kept: peer 3 and one of peers 1 and 2 (equal counts: either).
    auto const one = f.chokes_to(1), two = f.chokes_to(2);
    CHECK(one.size() + two.size() == 1);
    for (int n = 4; n <= 6; ++n) CHECK(f.chokes_to(n).empty());  // still choked
}

TEST_CASE("pubsub choke: when a pusher leaves the mesh a choked peer is unchoked at the next heartbeat",
          "[unit][pubsub]") {
    Meshed f;
    f.first_from_one_and_two(1);
    f.advance(1s);  // 3..6 choked, 1 and 2 push
    f.clear();
    f.link_down(1);
    f.advance(1s);
    std::size_t unchoked = 0;
    for (int n = 3; n <= 6; ++n) {
        auto const c = f.chokes_to(n);
        CHECK(c.size() <= 1);
        unchoked += c == std::vector{false};
    }
    CHECK(unchoked == 1);
    CHECK(f.chokes_to(2).empty());
}

TEST_CASE("pubsub choke: switched off, nobody is choked", "[unit][pubsub]") {
    auto config = keep_two();
    config.choke = false;
    test::RouterFixture f(config);
    f.subscribe("chat");
    f.topic_peers(1, 6, "chat");
    for (int i = 0; i < 20; ++i) {
        auto const m = f.message(100 + i, "chat", "m", 0s, static_cast<std::uint64_t>(i + 1));
        f.send_message(1, m.encoded);
    }
    f.clear();
    f.advance(2s);
    CHECK(f.count_sent([](auto const& s) { return !s.rpc.choke.empty(); }) == 0);
    CHECK(f.stats().control_count(ControlType::choke, Direction::out) == 0);
}
