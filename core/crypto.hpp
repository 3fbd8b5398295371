// libsodium wrappers: key types, BLAKE2b-256 ids, ed25519 signatures, and PacketCrypto,
// the seal/open interface the DHT uses for every packet after first contact. Two
// implementations: SodiumCrypto (real crypto_box with precomputed shared keys) and
// StandInCrypto (same sizes and framing, a cheap keyed checksum instead of crypto) so the
// simulator can afford 100,000 nodes. Neither allocates.
#pragma once

#include "core/bytes.hpp"
#include "core/node_id.hpp"

#include <array>
#include <optional>
#include <span>
#include <string_view>

namespace core {

struct PublicKey {  // ed25519
    std::array<std::byte, 32> bytes{};
    friend auto operator<=>(PublicKey const&, PublicKey const&) = default;
};
struct SecretKey {  // ed25519 (seed followed by public key, as libsodium keeps it)
    std::array<std::byte, 64> bytes{};
};
struct SharedKey {
    std::array<std::byte, 32> bytes{};
};
struct Signature {
    std::array<std::byte, 64> bytes{};
};

// Calls sodium_init(); aborts if libsodium cannot start. Safe to call repeatedly.
void crypto_init();

NodeId blake2b_256(ByteView data);
inline NodeId node_id_of(PublicKey const& pk) { return blake2b_256(pk.bytes); }
inline Key key_of(std::string_view name) { return blake2b_256(as_bytes(name)); }

// Fills `out` from the operating system's random source (hosts only; never the core).
void os_random(std::span<std::byte> out);

Signature sign(SecretKey const& sk, ByteView message);
bool verify(PublicKey const& pk, ByteView message, Signature const& sig);

class PacketCrypto {
public:
    static constexpr std::size_t nonce_size = 24;
    static constexpr std::size_t mac_size = 16;
    using Nonce = std::array<std::byte, nonce_size>;

    virtual ~PacketCrypto() = default;
    // The key shared between this node and `theirs`; nullopt when `theirs` is not a
    // valid public key. Costs ~64 µs with real crypto: callers cache the result.
    virtual std::optional<SharedKey> shared_key(PublicKey const& theirs) const = 0;
    // Writes plaintext.size() + mac_size bytes to `out`.
    virtual void seal(SharedKey const& key, Nonce const& nonce, ByteView plaintext, std::span<std::byte> out) const = 0;
    // Writes ciphertext.size() - mac_size bytes to `out`; false when authentication fails.
    virtual bool open(SharedKey const& key, Nonce const& nonce, ByteView ciphertext, std::span<std::byte> out) const = 0;
};

// A node's long-term identity: an ed25519 key pair and the NodeId derived from it.
struct Identity {
    PublicKey public_key;
    SecretKey secret_key;
    NodeId id;

    static Identity generate();
    // Deterministic identity from a 32-byte seed (tests and the simulator).
    static Identity from_seed(std::array<std::byte, 32> const& seed);
    std::array<std::byte, 32> seed() const;
};

class SodiumCrypto final : public PacketCrypto {
public:
    explicit SodiumCrypto(Identity const& self);
    std::optional<SharedKey> shared_key(PublicKey const& theirs) const override;
    void seal(SharedKey const& key, Nonce const& nonce, ByteView plaintext, std::span<std::byte> out) const override;
    bool open(SharedKey const& key, Nonce const& nonce, ByteView ciphertext, std::span<std::byte> out) const override;

private:
    std::array<std::byte, 32> curve_secret_{};
};

// Not cryptography: keeps packet sizes and framing and still rejects corrupted or
// misaddressed packets (a keyed 128-bit checksum), at a tiny fraction of the cost.
class StandInCrypto final : public PacketCrypto {
public:
    explicit StandInCrypto(PublicKey const& self) : self_(self) {}
    std::optional<SharedKey> shared_key(PublicKey const& theirs) const override;
    void seal(SharedKey const& key, Nonce const& nonce, ByteView plaintext, std::span<std::byte> out) const override;
    bool open(SharedKey const& key, Nonce const& nonce, ByteView ciphertext, std::span<std::byte> out) const override;

private:
    PublicKey self_;
};

}  // namespace core
