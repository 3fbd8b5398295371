// links::noise against the published Noise_XX_25519_ChaChaPoly_SHA256 test vectors
// (cacophony, snow, flynn/noise: see link_noise_vectors.inc), plus the failure paths the
// vectors do not cover: tampering, out-of-turn messages, all-zero DH results.
#include "core/crypto.hpp"
#include "link/noise.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace links::noise;

namespace {

struct VectorMessage {
    bool from_initiator;
    char const* payload;
    char const* ciphertext;
};
struct NoiseVector {
    char const* source;
    char const* prologue;
    char const* init_static;
    char const* init_ephemeral;
    char const* resp_static;
    char const* resp_ephemeral;
    char const* handshake_hash;  // "" when the file does not give it
    std::vector<VectorMessage> messages;
};

#include "link_noise_vectors.inc"

core::Bytes hex(std::string_view h) {
    core::Bytes out(h.size() / 2);
    REQUIRE(core::from_hex(h, out));
    return out;
}
Key key(std::string_view h) {
    Key k;
    REQUIRE(core::from_hex(h, k));
    return k;
}

}  // namespace

TEST_CASE("noise: published XX vectors, handshake and transport messages", "[unit]") {
    core::crypto_init();
    for (auto const& v : noise_xx_vectors) {
        INFO(v.source);
        auto const prologue = hex(v.prologue);
        HandshakeState initiator(patterns::xx(), true, prologue, KeyPair::from_secret(key(v.init_static)),
                                 KeyPair::from_secret(key(v.init_ephemeral)));
        HandshakeState responder(patterns::xx(), false, prologue, KeyPair::from_secret(key(v.resp_static)),
                                 KeyPair::from_secret(key(v.resp_ephemeral)));
        std::pair<CipherState, CipherState> init_cs;
        std::pair<CipherState, CipherState> resp_cs;
        std::size_t i = 0;
        for (auto const& m : v.messages) {
            INFO("message " << i);
            auto const payload = hex(m.payload);
            auto const expected = hex(m.ciphertext);
            core::Bytes wire;
            core::Bytes read;
            if (i < 3) {
                REQUIRE(m.from_initiator == (i % 2 == 0));
                auto& writer = m.from_initiator ? initiator : responder;
                auto& reader = m.from_initiator ? responder : initiator;
                REQUIRE(writer.write_message(payload, wire));
                CHECK(wire == expected);
                REQUIRE(reader.read_message(wire, read));
                CHECK(read == payload);
                if (i == 2) {
                    REQUIRE(initiator.finished());
                    REQUIRE(responder.finished());
                    CHECK(initiator.handshake_hash() == responder.handshake_hash());
                    if (*v.handshake_hash != '\0')
                        CHECK(core::Bytes(initiator.handshake_hash().begin(), initiator.handshake_hash().end()) ==
                              hex(v.handshake_hash));
                    CHECK(initiator.remote_static() == KeyPair::from_secret(key(v.resp_static)).public_key);
                    CHECK(responder.remote_static() == KeyPair::from_secret(key(v.init_static)).public_key);
                    init_cs = initiator.split();
                    resp_cs = responder.split();
                }
            } else {
                // first: initiator -> responder; second: responder -> initiator.
                auto& enc = m.from_initiator ? init_cs.first : resp_cs.second;
                auto& dec = m.from_initiator ? resp_cs.first : init_cs.second;
                REQUIRE(enc.encrypt_with_ad({}, payload, wire));
                CHECK(wire == expected);
                REQUIRE(dec.decrypt_with_ad({}, wire, read));
                CHECK(read == payload);
            }
            ++i;
        }
        CHECK(i >= 5);
    }
}

namespace {
struct Pair {
    HandshakeState initiator;
    HandshakeState responder;
};
Pair make_pair(std::uint8_t salt) {
    auto k = [&](std::uint8_t b) {
        Key out;
        out.fill(std::byte{static_cast<unsigned char>(b + salt)});
        return KeyPair::from_secret(out);
    };
    return Pair{HandshakeState(patterns::xx(), true, core::as_bytes("p"), k(1), k(2)),
                HandshakeState(patterns::xx(), false, core::as_bytes("p"), k(3), k(4))};
}
}  // namespace

TEST_CASE("noise: a flipped bit anywhere in messages 2 and 3 fails the handshake", "[unit]") {
    core::crypto_init();
    for (int message = 1; message <= 2; ++message) {
        auto reference = make_pair(0);
        core::Bytes m0, m1, m2, scratch;
        REQUIRE(reference.initiator.write_message({}, m0));
        REQUIRE(reference.responder.read_message(m0, scratch));
        REQUIRE(reference.responder.write_message(core::as_bytes("hello"), m1));
        REQUIRE(reference.initiator.read_message(m1, scratch));
        REQUIRE(reference.initiator.write_message(core::as_bytes("world"), m2));
        auto const& target = message == 1 ? m1 : m2;
        for (std::size_t byte = 0; byte < target.size(); ++byte) {
            auto p = make_pair(0);  // same keys: same bytes
            core::Bytes a, b, c, out;
            REQUIRE(p.initiator.write_message({}, a));
            REQUIRE(p.responder.read_message(a, out));
            REQUIRE(p.responder.write_message(core::as_bytes("hello"), b));
            if (message == 1) {
                b[byte] ^= std::byte{0x01};
                // Flipping the ephemeral key changes ee: the static fails to decrypt.
                CHECK_FALSE(p.initiator.read_message(b, out));
                CHECK(p.initiator.failed());
                continue;
            }
            REQUIRE(p.initiator.read_message(b, out));
            REQUIRE(p.initiator.write_message(core::as_bytes("world"), c));
            c[byte] ^= std::byte{0x01};
            CHECK_FALSE(p.responder.read_message(c, out));
            CHECK(p.responder.failed());
        }
    }
}

TEST_CASE("noise: out-of-turn, truncated and low-order inputs are refused", "[unit]") {
    core::crypto_init();
    auto p = make_pair(9);
    core::Bytes out;
    CHECK_FALSE(p.responder.write_message({}, out));  // the initiator speaks first
    CHECK(p.responder.failed());

    auto q = make_pair(9);
    core::Bytes short_msg(31);
    CHECK_FALSE(q.responder.read_message(short_msg, out));

    // The all-zero public key is a low-order point: ee gives all zeros, refused.
    auto r = make_pair(9);
    core::Bytes zero_e(32);
    REQUIRE(r.responder.read_message(zero_e, out));  // message 1 carries no DH
    core::Bytes m1;
    CHECK_FALSE(r.responder.write_message({}, m1));
    CHECK(r.responder.failed());
    CHECK_FALSE(dh(KeyPair::from_secret(Key{std::byte{7}}).secret, Key{}).has_value());
}

TEST_CASE("noise: nonces advance and a replayed transport message fails", "[unit]") {
    core::crypto_init();
    CipherState a;
    CipherState b;
    Key k;
    k.fill(std::byte{5});
    a.initialize_key(k);
    b.initialize_key(k);
    core::Bytes c1, c2, out;
    REQUIRE(a.encrypt_with_ad({}, core::as_bytes("x"), c1));
    REQUIRE(a.encrypt_with_ad({}, core::as_bytes("x"), c2));
    CHECK(c1 != c2);
    REQUIRE(b.decrypt_with_ad({}, c1, out));
    CHECK_FALSE(b.decrypt_with_ad({}, c1, out));  // b now expects nonce 1
    CHECK(out.size() == 1);
    a.set_nonce(~std::uint64_t{0});
    CHECK_FALSE(a.encrypt_with_ad({}, core::as_bytes("x"), c1));
}
