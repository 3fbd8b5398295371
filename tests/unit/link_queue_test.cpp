// links::Session, outgoing side and lifetime: the byte-bounded priority queue (order,
// drops newest-of-lowest first, every drop counted), the slow-peer cut, close() with the
// final frame, EOF, and the handshake timeout.
#include "link_test_support.hpp"

#include <catch2/catch.hpp>

using namespace link_test;
using links::CloseReason;
using links::DropReason;
using links::Priority;
using links::State;

TEST_CASE("link queue: highest priority first, FIFO within a class", "[unit]") {
    Duo d;
    run(d);
    REQUIRE(d.a.send(Priority::ihave, frame(10, 1)));
    REQUIRE(d.a.send(Priority::forward, frame(10, 2)));
    REQUIRE(d.a.send(Priority::iwant_reply, frame(10, 3)));
    REQUIRE(d.a.send(Priority::control, frame(10, 4)));
    REQUIRE(d.a.send(Priority::own_publish, frame(10, 5)));
    REQUIRE(d.a.send(Priority::control, frame(10, 6)));
    CHECK(d.a.queued_bytes() == 60);
    run(d);
    CHECK(d.a.queued_bytes() == 0);
    CHECK(drain(d.b) == std::vector<core::Bytes>{frame(10, 4), frame(10, 6), frame(10, 5), frame(10, 2),
                                                 frame(10, 3), frame(10, 1)});
}

TEST_CASE("link queue: overflow drops the newest frames of the lowest class first", "[unit]") {
    links::Config config;
    config.send_queue_bytes_max = 1000;
    Duo d(config);
    run(d);
    for (std::uint8_t i = 0; i < 10; ++i) REQUIRE(d.a.send(Priority::ihave, frame(100, i)));
    CHECK(d.a.queued_bytes() == 1000);

    // A lowest-class frame that does not fit is itself dropped.
    CHECK_FALSE(d.a.send(Priority::ihave, frame(1, 99)));
    CHECK(dropped(d.a, DropReason::queue_full) == 1);

    // A higher one evicts the newest IHAVE (tag 9).
    REQUIRE(d.a.send(Priority::forward, frame(100, 50)));
    CHECK(dropped(d.a, DropReason::queue_full) == 2);
    CHECK(d.a.queued_bytes() == 1000);

    // An IWANT reply of 150 B evicts two more IHAVEs (tags 8, 7), not the forward.
    REQUIRE(d.a.send(Priority::iwant_reply, frame(150, 60)));
    CHECK(dropped(d.a, DropReason::queue_full) == 4);
    CHECK(d.a.queued_bytes() == 950);

    // A forward that would need the other forward gone is refused: equal classes are not
    // evicted; and nothing below it was dropped for nothing.
    CHECK_FALSE(d.a.send(Priority::forward, frame(901, 70)));
    CHECK(dropped(d.a, DropReason::queue_full) == 5);
    CHECK(d.a.queued_bytes() == 950);

    run(d);
    std::vector<core::Bytes> expected{frame(100, 50), frame(150, 60)};
    for (std::uint8_t i = 0; i < 7; ++i) expected.push_back(frame(100, i));
    CHECK(drain(d.b) == expected);
    CHECK(d.a.state() == State::established);
    CHECK(dropped(d.a, DropReason::link_closed) == 0);
}

TEST_CASE("link queue: a control frame that cannot fit cuts the link as slow_peer", "[unit]") {
    links::Config config;
    config.send_queue_bytes_max = 1000;
    Duo d(config);
    run(d);
    REQUIRE(d.a.send(Priority::forward, frame(300, 1)));
    REQUIRE(d.a.send(Priority::ihave, frame(300, 2)));
    // Fits after dropping everything below control.
    REQUIRE(d.a.send(Priority::control, frame(900, 3)));
    CHECK(dropped(d.a, DropReason::queue_full) == 2);
    CHECK(d.a.state() == State::established);
    // Nothing below control is left to drop: cut.
    CHECK_FALSE(d.a.send(Priority::control, frame(200, 4)));
    CHECK(d.a.state() == State::closed);
    CHECK(d.a.close_reason() == CloseReason::slow_peer);
    CHECK(dropped(d.a, DropReason::queue_full) == 3);
    CHECK(dropped(d.a, DropReason::link_closed) == 1);  // the 900 B control frame
    CHECK(d.a.queued_bytes() == 0);
    CHECK(d.a.poll_write(1 << 20).empty());
    CHECK_FALSE(d.a.send(Priority::ihave, frame(1, 5)));
    CHECK(dropped(d.a, DropReason::link_closed) == 2);
}

TEST_CASE("link queue: a peer that never reads is cut once control frames back up", "[unit]") {
    links::Config config;
    config.send_queue_bytes_max = 64 * 1024;
    Duo d(config);
    run(d);
    // The socket takes 100 B per round while 200 B of gossip and 200 B of control come:
    // gossip is dropped first, then control backs up.
    int rounds = 0;
    for (; rounds < 10000 && d.a.state() == State::established; ++rounds) {
        d.a.send(Priority::ihave, frame(200, 1));
        d.a.send(Priority::control, frame(200, 2));
        (void)d.a.poll_write(100);
    }
    CHECK(d.a.close_reason() == CloseReason::slow_peer);
    CHECK(rounds < 10000);
    CHECK(dropped(d.a, DropReason::queue_full) > 0);
}

TEST_CASE("link close: queued frames, then the final frame; the peer sees closed_by_peer", "[unit]") {
    Duo d;
    run(d);
    for (std::uint8_t i = 0; i < 5; ++i) REQUIRE(d.a.send(Priority::forward, frame(50, i)));
    d.a.close();
    CHECK(d.a.state() == State::established);  // until the final frame is out
    CHECK_FALSE(d.a.send(Priority::control, frame(1, 9)));
    CHECK(dropped(d.a, DropReason::link_closed) == 1);
    Pipe ab;
    Pipe ba;
    ab.write_max = 100;  // several calls: the state turns closed with the last byte
    run(d, ab, ba);
    CHECK(d.a.state() == State::closed);
    CHECK(d.a.close_reason() == CloseReason::local);
    CHECK(d.b.state() == State::closed);
    CHECK(d.b.close_reason() == CloseReason::closed_by_peer);
    CHECK(drain(d.b).size() == 5);
    CHECK(d.a.stats().frames_out == 5);
    // Stream bytes: 5 frames + the final one (4 + 0 + 17).
    CHECK(d.b.stats().frames_in == 5);

    // Closing during the handshake ends at once.
    Duo e;
    REQUIRE(e.a.send(Priority::control, frame(3, 1)));
    e.a.close();
    CHECK(e.a.close_reason() == CloseReason::local);
    CHECK(dropped(e.a, DropReason::link_closed) == 1);

    // EOF without a final frame.
    Duo f;
    run(f);
    f.b.handle_stream_closed();
    CHECK(f.b.close_reason() == CloseReason::closed_by_peer);
}

TEST_CASE("link timeout: the handshake must finish within handshake_timeout", "[unit]") {
    links::Config config;
    config.handshake_timeout = 10s;
    Duo d(config);
    REQUIRE(d.a.next_wakeup() == t0() + 10s);
    REQUIRE(d.b.next_wakeup() == t0() + 10s);
    d.a.handle_timeout(t0() + 9s);  // early: harmless
    CHECK(d.a.state() == State::handshaking);
    // Message 1 arrives, then nothing.
    d.b.handle_bytes(t0(), d.a.poll_write(1 << 20));
    d.b.handle_timeout(t0() + 10s);
    CHECK(d.b.state() == State::closed);
    CHECK(d.b.close_reason() == CloseReason::handshake_timeout);
    CHECK_FALSE(d.b.next_wakeup());

    // Bytes that arrive after the deadline do not complete the handshake.
    Duo late(config);
    late.b.handle_bytes(t0(), late.a.poll_write(1 << 20));
    late.a.handle_bytes(t0() + 10s, late.b.poll_write(1 << 20));
    CHECK(late.a.close_reason() == CloseReason::handshake_timeout);
    CHECK_FALSE(late.a.peer_id());

    Duo e(config);
    run(e);
    CHECK_FALSE(e.a.next_wakeup());
    e.a.handle_timeout(t0() + 1h);  // established: no effect
    CHECK(e.a.state() == State::established);
}
