// The signed envelope of PUBSUB-NOTES §3: layout, signature domain, id, bounded parsing.
#include "pubsub/envelope.hpp"
#include "pubsub/topic.hpp"

#include <catch2/catch.hpp>

namespace {

core::Identity identity(std::uint8_t n) {
    core::crypto_init();
    std::array<std::byte, 32> seed{};
    seed[0] = std::byte{n};
    return core::Identity::from_seed(seed);
}

std::uint64_t be(core::Bytes const& b, std::size_t at, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(b[at + i]);
    return v;
}

}  // namespace

TEST_CASE("pubsub envelope: topic keys are BLAKE2b of the domain tag and the name", "[unit][pubsub]") {
    core::crypto_init();
    CHECK(pubsub::topic_key("chat") == core::blake2b_256(core::as_bytes("kadmium-topic-v1chat")));
    CHECK(pubsub::topic_key("chat") != pubsub::topic_key("chat2"));
    CHECK(pubsub::topic_key("chat") != core::key_of("chat"));
}

TEST_CASE("pubsub envelope: the canonical layout", "[unit][pubsub]") {
    auto const author = identity(1);
    auto const topic = pubsub::topic_key("chat");
    auto const m = pubsub::sign_message(author, topic, 0x0102030405060708ULL, 1'700'000'000'123, core::as_bytes("hello"));
    REQUIRE(m.encoded.size() == 1 + 32 + 32 + 8 + 8 + 4 + 5 + 64);
    CHECK(std::to_integer<int>(m.encoded[0]) == 1);
    CHECK(std::equal(topic.bytes.begin(), topic.bytes.end(), m.encoded.begin() + 1));
    CHECK(std::equal(author.public_key.bytes.begin(), author.public_key.bytes.end(), m.encoded.begin() + 33));
    CHECK(be(m.encoded, 65, 8) == 0x0102030405060708ULL);
    CHECK(be(m.encoded, 73, 8) == 1'700'000'000'123ULL);
    CHECK(be(m.encoded, 81, 4) == 5);
    CHECK(core::as_chars(core::ByteView(m.encoded).subspan(85, 5)) == "hello");
    // The id covers every byte, signature included.
    CHECK(m.id == core::blake2b_256(m.encoded));
    // The signature is over the domain tag and the envelope without the signature.
    core::Bytes input = core::to_bytes("kadmium-pubsub-v1:");
    input.insert(input.end(), m.encoded.begin(), m.encoded.end() - 64);
    CHECK(core::verify(author.public_key, input, m.sig));
    CHECK_FALSE(core::verify(author.public_key, core::ByteView(m.encoded).first(m.encoded.size() - 64), m.sig));
}

TEST_CASE("pubsub envelope: parse and verify round trip", "[unit][pubsub]") {
    auto const author = identity(2);
    auto const m = pubsub::sign_message(author, pubsub::topic_key("t"), 7, 42, core::as_bytes("payload"));
    auto parsed = pubsub::parse_message(m.encoded, 1024);
    REQUIRE(parsed.ok());
    auto const& p = parsed.value();
    CHECK(p.id == m.id);
    CHECK(p.topic == m.topic);
    CHECK(p.author == author.public_key);
    CHECK(p.seqno == 7);
    CHECK(p.ts_ms == 42);
    CHECK(p.payload == m.payload);
    CHECK(p.encoded == m.encoded);
    CHECK(pubsub::verify_message(p));

    SECTION("any flipped bit fails verification") {
        for (std::size_t i = 0; i < m.encoded.size(); i += 7) {
            auto bytes = m.encoded;
            bytes[i] ^= std::byte{0x10};
            auto q = pubsub::parse_message(bytes, 1024);
            if (!q.ok()) continue;  // the version byte
            CHECK_FALSE(pubsub::verify_message(q.value()));
            CHECK(q.value().id != m.id);
        }
    }
    SECTION("an empty payload is fine") {
        auto const e = pubsub::sign_message(author, pubsub::topic_key("t"), 1, 1, {});
        auto q = pubsub::parse_message(e.encoded, 0);
        REQUIRE(q.ok());
        CHECK(pubsub::verify_message(q.value()));
    }
}

TEST_CASE("pubsub envelope: parsing is bounded and strict", "[unit][pubsub]") {
    auto const m = pubsub::sign_message(identity(3), pubsub::topic_key("t"), 1, 1, core::as_bytes("12345678"));
    using pubsub::EnvelopeError;
    auto error = [](core::ByteView b, std::size_t max) {
        auto r = pubsub::parse_message(b, max);
        REQUIRE_FALSE(r.ok());
        return r.error();
    };
    CHECK(error(core::ByteView(m.encoded).first(10), 1024) == EnvelopeError::truncated);
    CHECK(error(core::ByteView(m.encoded).first(m.encoded.size() - 1), 1024) == EnvelopeError::truncated);
    auto longer = m.encoded;
    longer.push_back(std::byte{0});
    CHECK(error(longer, 1024) == EnvelopeError::bad_length);
    auto version = m.encoded;
    version[0] = std::byte{2};
    CHECK(error(version, 1024) == EnvelopeError::bad_version);
    CHECK(error(m.encoded, 7) == EnvelopeError::too_large);
    CHECK(pubsub::parse_message(m.encoded, 8).ok());
    // A payload length of 4 GiB is refused before anything is allocated.
    auto huge = m.encoded;
    for (int i = 81; i < 85; ++i) huge[i] = std::byte{0xff};
    CHECK(error(huge, 64 * 1024) == EnvelopeError::too_large);
    auto negative = m.encoded;
    negative[73] = std::byte{0x80};
    CHECK(error(negative, 1024) == EnvelopeError::bad_value);
}

TEST_CASE("pubsub envelope: the in-place steps agree with parse_message", "[unit][pubsub]") {
    auto const author = identity(3);
    auto const m = pubsub::sign_message(author, pubsub::topic_key("chat"), 7, 1'700'000'000'000, core::as_bytes("in place"));
    // check_envelope gives exactly parse_message's errors, without building anything.
    auto longer = m.encoded;
    longer.push_back(std::byte{0});
    for (auto const& bytes : {m.encoded, longer, core::Bytes(m.encoded.begin(), m.encoded.begin() + 10)}) {
        for (std::size_t max : {std::size_t{7}, std::size_t{1024}}) {
            auto parsed = pubsub::parse_message(bytes, max);
            auto checked = pubsub::check_envelope(bytes, max);
            CHECK(parsed.ok() == !checked.has_value());
            if (!parsed.ok()) CHECK(parsed.error() == *checked);
        }
    }
    CHECK(pubsub::envelope_topic(m.encoded) == m.topic);
    auto const built = pubsub::message_of_checked(m.encoded, core::blake2b_256(m.encoded));
    auto const parsed = pubsub::parse_message(m.encoded, 1024).value();
    CHECK(built.id == m.id);
    CHECK(built.encoded == parsed.encoded);
    CHECK(built.payload == parsed.payload);
    CHECK(built.author == parsed.author);
    CHECK(built.seqno == 7);
    CHECK(built.ts_ms == 1'700'000'000'000);
    CHECK(built.sig.bytes == parsed.sig.bytes);
    CHECK(pubsub::verify_message(built));
}
