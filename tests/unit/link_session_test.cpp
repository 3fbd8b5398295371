// links::Session, handshake and framing: two sessions agree on each other's node ids and
// exchange frames under every way of cutting the byte streams; a wrong peer, tampered
// handshake or frame bytes, a forged identity and an oversize length prefix each close
// the link with the right reason.
#include "link/noise.hpp"
#include "link_test_support.hpp"

#include <catch2/catch.hpp>

using namespace link_test;
using links::CloseReason;
using links::Priority;
using links::State;

namespace {

// The frames each side queues before the handshake (so they follow it in the streams).
void queue_sample(Duo& d) {
    REQUIRE(d.a.send(Priority::forward, frame(0, 1)));
    REQUIRE(d.a.send(Priority::forward, frame(1, 2)));
    REQUIRE(d.a.send(Priority::forward, frame(300, 3)));
    REQUIRE(d.b.send(Priority::control, frame(5, 4)));
    REQUIRE(d.b.send(Priority::control, frame(70, 5)));
}
void check_sample(Duo& d) {
    REQUIRE(d.a.state() == State::established);
    REQUIRE(d.b.state() == State::established);
    CHECK(drain(d.b) == std::vector<core::Bytes>{frame(0, 1), frame(1, 2), frame(300, 3)});
    CHECK(drain(d.a) == std::vector<core::Bytes>{frame(5, 4), frame(70, 5)});
}

}  // namespace

TEST_CASE("link: handshake proves both node ids, frames flow both ways", "[unit]") {
    Duo d;
    CHECK(d.a.state() == State::handshaking);
    CHECK_FALSE(d.a.peer_id());
    queue_sample(d);
    run(d);
    check_sample(d);
    CHECK(d.a.peer_id() == d.b_id.id);
    CHECK(d.b.peer_id() == d.a_id.id);  // the responder learns whom it talks to
    CHECK(d.a.peer_key() == d.b_id.public_key);
    CHECK(d.b.peer_key() == d.a_id.public_key);
    CHECK(d.a.close_reason() == CloseReason::none);
    // Wire sizes: 2 + 32, 2 + 192, 2 + 160 handshake bytes, a 24-byte header, then frames
    // of 4 + n + 17.
    CHECK(d.a_to_b.size() == 34 + 162 + 24 + (21 + 22 + 321));
    CHECK(d.b_to_a.size() == 194 + 24 + (26 + 91));
    CHECK(d.a.stats().bytes_out == d.a_to_b.size());
    CHECK(d.b.stats().bytes_in == d.a_to_b.size());
    CHECK(d.a.stats().frames_out == 3);
    CHECK(d.b.stats().frames_in == 3);
    CHECK_FALSE(d.a.next_wakeup());

    // After the handshake too.
    for (int i = 0; i < 50; ++i) REQUIRE(d.b.send(Priority::forward, frame(std::size_t(i) * 13, std::uint8_t(i))));
    run(d);
    auto got = drain(d.a);
    REQUIRE(got.size() == 50);
    for (int i = 0; i < 50; ++i) CHECK(got[std::size_t(i)] == frame(std::size_t(i) * 13, std::uint8_t(i)));
}

TEST_CASE("link: every single cut point of either stream", "[unit]") {
    Duo reference;
    queue_sample(reference);
    run(reference);
    check_sample(reference);
    for (int dir = 0; dir < 2; ++dir) {
        std::size_t const len = dir == 0 ? reference.a_to_b.size() : reference.b_to_a.size();
        for (std::size_t k = 1; k < len; ++k) {
            INFO("direction " << dir << " cut at " << k);
            Duo d;
            queue_sample(d);
            Pipe ab;
            Pipe ba;
            (dir == 0 ? ab : ba).cut = [k](std::size_t offset) { return offset == k; };
            run(d, ab, ba);
            check_sample(d);
        }
    }
}

TEST_CASE("link: one byte at a time, and output in small pieces", "[unit]") {
    Duo d;
    queue_sample(d);
    Pipe ab;
    Pipe ba;
    ab.cut = ba.cut = [](std::size_t) { return true; };
    run(d, ab, ba);
    check_sample(d);

    Duo e;
    queue_sample(e);
    Pipe ab2;
    Pipe ba2;
    ab2.write_max = 7;  // poll_write never hands out more than asked
    ba2.write_max = 1;
    run(e, ab2, ba2);
    check_sample(e);
}

TEST_CASE("link: random chunkings and random frames over many seeds", "[unit]") {
    for (std::uint64_t seed = 1; seed <= 120; ++seed) {
        INFO("seed " << seed);
        core::Rng rng(seed);
        Duo d;
        std::size_t const max_chunk = 1 + rng.uniform(seed % 3 == 0 ? 8 : 400);
        auto chunker = [&rng, max_chunk](std::size_t) { return rng.uniform(max_chunk) == 0; };
        Pipe ab;
        Pipe ba;
        ab.cut = chunker;
        ba.cut = chunker;
        ab.write_max = 1 + rng.uniform(3000);
        ba.write_max = 1 + rng.uniform(3000);
        // Every frame carries its sender's sequence number; one priority per direction
        // keeps the send order the delivery order.
        std::vector<core::Bytes> sent_a, sent_b;
        for (int round = 0; round < 6; ++round) {
            auto n = rng.uniform(6);
            for (std::uint64_t i = 0; i < n; ++i) {
                auto f = frame(rng.uniform(rng.chance(0.1) ? 5000 : 120), std::uint8_t(sent_a.size()));
                REQUIRE(d.a.send(Priority::own_publish, f));
                sent_a.push_back(f);
                auto g = frame(rng.uniform(700), std::uint8_t(sent_b.size() + 100));
                REQUIRE(d.b.send(Priority::iwant_reply, g));
                sent_b.push_back(g);
            }
            // A few rounds of pumping, not necessarily until idle.
            for (int i = 0, steps = int(rng.uniform(4)); i < steps; ++i) {
                ab.pump(d.a, d.b);
                ba.pump(d.b, d.a);
            }
        }
        run(d, ab, ba);
        REQUIRE(d.a.state() == State::established);
        REQUIRE(d.b.state() == State::established);
        CHECK(drain(d.b) == sent_a);
        CHECK(drain(d.a) == sent_b);
    }
}

TEST_CASE("link: a responder other than the one dialled fails the handshake", "[unit]") {
    auto const someone_else = identity(9).id;
    Duo d({}, someone_else);
    REQUIRE(d.a.send(Priority::control, frame(10, 1)));
    run(d);
    CHECK(d.a.state() == State::closed);
    CHECK(d.a.close_reason() == CloseReason::handshake_failed);
    CHECK_FALSE(d.a.peer_id());
    // The responder never gets message 3; its own timeout ends it.
    CHECK(d.b.state() == State::handshaking);
    d.b.handle_timeout(t0() + 10s);
    CHECK(d.b.close_reason() == CloseReason::handshake_timeout);
    CHECK(drain(d.b).empty());
    CHECK(dropped(d.a, links::DropReason::link_closed) == 1);

    // A responder that expects a particular initiator checks it too.
    Duo e({}, std::nullopt, someone_else);
    run(e);
    CHECK(e.b.close_reason() == CloseReason::handshake_failed);
    CHECK(e.a.state() == State::established);  // it cannot know; it will hear EOF
}

TEST_CASE("link: a flipped bit in any handshake message body fails the handshake", "[unit]") {
    Duo reference;
    run(reference);
    // Body ranges: message 1 [2, 34) and message 3 [36, 196) of a -> b; message 2 [2, 194)
    // of b -> a. A flipped ephemeral key in message 1 is caught by the initiator when
    // message 2 does not decrypt; anything else by the reader.
    struct Case {
        int dir;
        std::size_t from, to;
    };
    for (auto c : {Case{0, 2, 34}, Case{1, 2, 194}, Case{0, 36, 196}}) {
        for (std::size_t at = c.from; at < c.to; ++at) {
            INFO("dir " << c.dir << " byte " << at);
            Duo d;
            std::size_t seen = 0;
            // Tamper by delivering through a copy: cut at the byte, flip it, go on.
            links::Session& sender = c.dir == 0 ? d.a : d.b;
            links::Session& receiver = c.dir == 0 ? d.b : d.a;
            for (int round = 0; round < 10; ++round) {
                auto bytes = sender.poll_write(1 << 20);
                if (at >= seen && at < seen + bytes.size()) bytes[at - seen] ^= std::byte{0x10};
                seen += bytes.size();
                receiver.handle_bytes(t0(), bytes);
                auto back = receiver.poll_write(1 << 20);
                sender.handle_bytes(t0(), back);
            }
            bool const failed = d.a.close_reason() == CloseReason::handshake_failed ||
                                d.b.close_reason() == CloseReason::handshake_failed;
            CHECK(failed);
            CHECK_FALSE((d.a.state() == State::established && d.b.state() == State::established));
        }
    }
}

TEST_CASE("link: a handshake length prefix above the bound or zero is refused", "[unit]") {
    for (std::uint16_t len : {std::uint16_t{0}, std::uint16_t{links::handshake_message_max + 1}, std::uint16_t{0xffff}}) {
        links::Session b(links::Role::responder, identity(2), std::nullopt, seed_of(2), t0());
        std::array<std::byte, 2> prefix{std::byte(len >> 8), std::byte(len & 0xff)};
        b.handle_bytes(t0(), prefix);
        CHECK(b.close_reason() == CloseReason::handshake_failed);
    }
}

TEST_CASE("link: an identity signature over another static key is refused", "[unit]") {
    // A hand-built initiator that runs real Noise but signs the wrong static key.
    auto const mallory = identity(7);
    links::Session b(links::Role::responder, identity(2), std::nullopt, seed_of(2), t0());
    namespace noise = links::noise;
    noise::Key s_secret;
    s_secret.fill(std::byte{0x33});
    noise::Key e_secret;
    e_secret.fill(std::byte{0x44});
    noise::HandshakeState hs(noise::patterns::xx(), true, core::as_bytes(links::prologue),
                             noise::KeyPair::from_secret(s_secret), noise::KeyPair::from_secret(e_secret));
    auto framed = [](core::Bytes const& m) {
        core::Bytes out{std::byte(m.size() >> 8), std::byte(m.size() & 0xff)};
        out.insert(out.end(), m.begin(), m.end());
        return out;
    };
    core::Bytes m1, m2_payload, m3;
    REQUIRE(hs.write_message({}, m1));
    b.handle_bytes(t0(), framed(m1));
    auto reply = b.poll_write(1 << 20);
    REQUIRE(reply.size() == 194);
    REQUIRE(hs.read_message(core::ByteView(reply).subspan(2), m2_payload));
    // Signature over a static key that is not the one in this handshake.
    core::Bytes wrong = core::to_bytes("kadmium-noise-static:");
    wrong.resize(wrong.size() + 32, std::byte{0x55});
    auto sig = core::sign(mallory.secret_key, wrong);
    core::Bytes payload(mallory.public_key.bytes.begin(), mallory.public_key.bytes.end());
    payload.insert(payload.end(), sig.bytes.begin(), sig.bytes.end());
    REQUIRE(hs.write_message(payload, m3));
    b.handle_bytes(t0(), framed(m3));
    CHECK(b.close_reason() == CloseReason::handshake_failed);
    CHECK_FALSE(b.peer_id());
}

TEST_CASE("link: tampered frame bytes close the link as decrypt_failed", "[unit]") {
    // Byte positions inside the first of two frame records: length prefix, body, tag.
    for (std::size_t offset : {std::size_t(0), std::size_t(3), std::size_t(4), std::size_t(20), std::size_t(50),
                               std::size_t(4 + 40 + 16)}) {
        INFO("offset in frame " << offset);
        Duo d;
        run(d);
        REQUIRE(d.b.state() == State::established);
        REQUIRE(d.a.send(Priority::forward, frame(40, 9)));
        REQUIRE(d.a.send(Priority::forward, frame(40, 10)));
        auto bytes = d.a.poll_write(1 << 20);
        REQUIRE(bytes.size() == 2 * (4 + 40 + 17));
        bytes[offset] ^= std::byte{0x01};
        d.b.handle_bytes(t0(), bytes);
        CHECK(d.b.state() == State::closed);
        // The top byte of the length prefix makes it 16 MiB: too large. A flipped bit in
        // its last byte shifts the frame boundary: an authentication failure.
        CHECK(d.b.close_reason() == (offset == 0 ? CloseReason::frame_too_large : CloseReason::decrypt_failed));
        CHECK(drain(d.b).empty());
    }

    // A tampered stream header makes every frame fail.
    Duo h;
    REQUIRE(h.a.send(Priority::forward, frame(8, 1)));
    h.b.handle_bytes(t0(), h.a.poll_write(1 << 20));  // message 1
    h.a.handle_bytes(t0(), h.b.poll_write(1 << 20));  // message 2
    auto rest = h.a.poll_write(1 << 20);              // message 3, header, frame
    REQUIRE(rest.size() == 162 + 24 + 4 + 8 + 17);
    rest[162 + 5] ^= std::byte{0x80};
    h.b.handle_bytes(t0(), rest);
    CHECK(h.b.close_reason() == CloseReason::decrypt_failed);
}

TEST_CASE("link: an oversize length prefix closes before anything is buffered", "[unit]") {
    links::Config config;
    config.frame_size_max = 1000;
    for (std::uint32_t len : {std::uint32_t{1000 + 17 + 1}, std::uint32_t{0xffffffff}}) {
        Duo d(config);
        run(d);
        REQUIRE(d.b.state() == State::established);
        std::array<std::byte, 4> prefix{std::byte(len >> 24), std::byte((len >> 16) & 0xff),
                                        std::byte((len >> 8) & 0xff), std::byte(len & 0xff)};
        // Only the 4 prefix bytes arrive: the session decides on them alone.
        d.b.handle_bytes(t0(), prefix);
        CHECK(d.b.state() == State::closed);
        CHECK(d.b.close_reason() == CloseReason::frame_too_large);
        auto const in = d.b.stats().bytes_in;
        d.b.handle_bytes(t0(), prefix);  // ignored once closed
        CHECK(d.b.stats().bytes_in == in);
    }
    // Exactly frame_size_max is fine.
    Duo ok(config);
    run(ok);
    REQUIRE(ok.a.send(Priority::forward, frame(1000, 1)));
    run(ok);
    CHECK(drain(ok.b).size() == 1);
    // A prefix below the tag size cannot be a frame.
    Duo tiny(config);
    run(tiny);
    std::array<std::byte, 4> sixteen{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{16}};
    tiny.b.handle_bytes(t0(), sixteen);
    CHECK(tiny.b.close_reason() == CloseReason::decrypt_failed);
}
