#include "core/crypto.hpp"

#include "core/assert.hpp"

#include <sodium.h>

#include <cstring>

namespace core {

namespace {
unsigned char const* u8(std::byte const* p) { return reinterpret_cast<unsigned char const*>(p); }
unsigned char* u8(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }
}  // namespace

void crypto_init() { CORE_ASSERT(sodium_init() >= 0); }

NodeId blake2b_256(ByteView data) {
    NodeId out;
    crypto_generichash(u8(out.bytes.data()), out.bytes.size(), u8(data.data()), data.size(), nullptr, 0);
    return out;
}

void os_random(std::span<std::byte> out) { randombytes_buf(out.data(), out.size()); }

Signature sign(SecretKey const& sk, ByteView message) {
    Signature sig;
    crypto_sign_detached(u8(sig.bytes.data()), nullptr, u8(message.data()), message.size(), u8(sk.bytes.data()));
    return sig;
}

bool verify(PublicKey const& pk, ByteView message, Signature const& sig) {
    return crypto_sign_verify_detached(u8(sig.bytes.data()), u8(message.data()), message.size(), u8(pk.bytes.data())) == 0;
}

Identity Identity::generate() {
    std::array<std::byte, 32> seed;
    os_random(seed);
    return from_seed(seed);
}

Identity Identity::from_seed(std::array<std::byte, 32> const& seed) {
    Identity id;
    crypto_sign_seed_keypair(u8(id.public_key.bytes.data()), u8(id.secret_key.bytes.data()), u8(seed.data()));
    id.id = node_id_of(id.public_key);
    return id;
}

std::array<std::byte, 32> Identity::seed() const {
    std::array<std::byte, 32> s;
    std::memcpy(s.data(), secret_key.bytes.data(), 32);
    return s;
}

SodiumCrypto::SodiumCrypto(Identity const& self) {
    CORE_ASSERT(crypto_sign_ed25519_sk_to_curve25519(u8(curve_secret_.data()), u8(self.secret_key.bytes.data())) == 0);
}

std::optional<SharedKey> SodiumCrypto::shared_key(PublicKey const& theirs) const {
    unsigned char curve_public[crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(curve_public, u8(theirs.bytes.data())) != 0) return std::nullopt;
    SharedKey key;
    if (crypto_box_beforenm(u8(key.bytes.data()), curve_public, u8(curve_secret_.data())) != 0) return std::nullopt;
    return key;
}

void SodiumCrypto::seal(SharedKey const& key, Nonce const& nonce, ByteView plaintext, std::span<std::byte> out) const {
    CORE_ASSERT(out.size() == plaintext.size() + mac_size);
    static_assert(crypto_box_MACBYTES == mac_size && crypto_box_NONCEBYTES == nonce_size);
    crypto_box_easy_afternm(u8(out.data()), u8(plaintext.data()), plaintext.size(), u8(nonce.data()), u8(key.bytes.data()));
}

bool SodiumCrypto::open(SharedKey const& key, Nonce const& nonce, ByteView ciphertext, std::span<std::byte> out) const {
    if (ciphertext.size() < mac_size) return false;
    CORE_ASSERT(out.size() == ciphertext.size() - mac_size);
    return crypto_box_open_easy_afternm(u8(out.data()), u8(ciphertext.data()), ciphertext.size(), u8(nonce.data()),
                                        u8(key.bytes.data())) == 0;
}

// The stand-in's shared key is symmetric in the two public keys, like Diffie-Hellman.
std::optional<SharedKey> StandInCrypto::shared_key(PublicKey const& theirs) const {
    SharedKey key;
    for (std::size_t i = 0; i < key.bytes.size(); ++i) key.bytes[i] = self_.bytes[i] ^ theirs.bytes[i];
    return key;
}

namespace {
// A keyed 128-bit checksum (two multiply-xorshift lanes); fast, not secure.
std::array<std::uint64_t, 2> stand_in_mac(SharedKey const& key, PacketCrypto::Nonce const& nonce, ByteView data) {
    std::uint64_t a, b, n0, n1;
    std::memcpy(&a, key.bytes.data(), 8);
    std::memcpy(&b, key.bytes.data() + 8, 8);
    std::memcpy(&n0, nonce.data(), 8);
    std::memcpy(&n1, nonce.data() + 8, 8);
    a ^= n0 ^ 0x9e3779b97f4a7c15ULL;
    b ^= n1 ^ 0xc2b2ae3d27d4eb4fULL;
    auto mix = [](std::uint64_t h, std::uint64_t v) {
        h ^= v;
        h *= 0xff51afd7ed558ccdULL;
        return h ^ (h >> 33);
    };
    std::size_t i = 0;
    for (; i + 8 <= data.size(); i += 8) {
        std::uint64_t v;
        std::memcpy(&v, data.data() + i, 8);
        a = mix(a, v);
        b = mix(b, v + 0x632be59bd9b4e019ULL);
    }
    std::uint64_t tail = data.size();
    for (; i < data.size(); ++i) tail = (tail << 8) | std::to_integer<std::uint64_t>(data[i]);
    return {mix(a, tail), mix(b, tail ^ 0x5bd1e995ULL)};
}
}  // namespace

void StandInCrypto::seal(SharedKey const& key, Nonce const& nonce, ByteView plaintext, std::span<std::byte> out) const {
    CORE_ASSERT(out.size() == plaintext.size() + mac_size);
    auto mac = stand_in_mac(key, nonce, plaintext);
    std::memcpy(out.data(), mac.data(), mac_size);
    if (!plaintext.empty()) std::memcpy(out.data() + mac_size, plaintext.data(), plaintext.size());
}

bool StandInCrypto::open(SharedKey const& key, Nonce const& nonce, ByteView ciphertext, std::span<std::byte> out) const {
    if (ciphertext.size() < mac_size) return false;
    CORE_ASSERT(out.size() == ciphertext.size() - mac_size);
    auto body = ciphertext.subspan(mac_size);
    auto mac = stand_in_mac(key, nonce, body);
    if (std::memcmp(mac.data(), ciphertext.data(), mac_size) != 0) return false;
    if (!body.empty()) std::memcpy(out.data(), body.data(), body.size());
    return true;
}

}  // namespace core
