// The Noise Protocol Framework (revision 34), the parts kadmium uses: the DH 25519 /
// cipher ChaChaPoly / hash SHA256 suite built from libsodium primitives, and the
// CipherState, SymmetricState and HandshakeState objects of spec §5, run over any
// interactive pattern without pre-messages or PSKs (NN, XN, NX, XX, ...). kadmium runs
// XX (patterns::xx); the others exist only because the objects are generic.
// It is not a transport: no length prefixes, no sockets, no randomness (ephemeral keys are
// passed in, which is also what the published test vectors need). See link/session.hpp
// for the kadmium handshake built on top.
#pragma once

#include "core/bytes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace links::noise {

inline constexpr std::size_t dh_len = 32;
inline constexpr std::size_t hash_len = 32;
inline constexpr std::size_t key_len = 32;
inline constexpr std::size_t tag_len = 16;
// Noise §3: no message, handshake or transport, exceeds 65535 bytes.
inline constexpr std::size_t message_max = 65535;

using Key = std::array<std::byte, key_len>;
using Hash = std::array<std::byte, hash_len>;

struct KeyPair {
    Key secret{};
    Key public_key{};
    // The X25519 key pair of a 32-byte secret (libsodium clamps it).
    static KeyPair from_secret(Key const& secret);
};

// X25519; nullopt when the result is all zeros (a low-order point: Noise §12.1, and
// the reason toxcore-style attacks need to be ruled out).
std::optional<Key> dh(Key const& secret, Key const& public_key);

// Noise §5.1: a key (maybe none) and a 64-bit nonce; ChaCha20-Poly1305 IETF with the
// nonce 4 zero bytes followed by the counter in little-endian.
class CipherState {
public:
    void initialize_key(std::optional<Key> const& key) {
        key_ = key;
        nonce_ = 0;
    }
    bool has_key() const { return key_.has_value(); }
    void set_nonce(std::uint64_t nonce) { nonce_ = nonce; }
    std::uint64_t nonce() const { return nonce_; }
    // The raw key (present only when has_key()): kadmium keys its secretstreams with it.
    Key const& key() const { return *key_; }

    // Appends the ciphertext (plaintext.size() + tag_len, or the plaintext itself without a
    // key) to `out`. False when the nonce is exhausted (2^64 - 1 is reserved).
    [[nodiscard]] bool encrypt_with_ad(core::ByteView ad, core::ByteView plaintext, core::Bytes& out);
    // Appends the plaintext to `out`; false (and `out` unchanged) when authentication
    // fails, the input is shorter than a tag, or the nonce is exhausted.
    [[nodiscard]] bool decrypt_with_ad(core::ByteView ad, core::ByteView ciphertext, core::Bytes& out);

private:
    std::optional<Key> key_;
    std::uint64_t nonce_ = 0;
};

// Noise §5.2: chaining key, handshake hash and the CipherState of the handshake.
class SymmetricState {
public:
    explicit SymmetricState(std::string_view protocol_name);
    void mix_key(core::ByteView input_key_material);
    void mix_hash(core::ByteView data);
    Hash const& handshake_hash() const { return h_; }
    [[nodiscard]] bool encrypt_and_hash(core::ByteView plaintext, core::Bytes& out);
    [[nodiscard]] bool decrypt_and_hash(core::ByteView ciphertext, core::Bytes& out);
    bool has_key() const { return cipher_.has_key(); }
    // The two transport CipherStates: first initiator -> responder, second the reverse.
    std::pair<CipherState, CipherState> split() const;

private:
    Hash ck_{};
    Hash h_{};
    CipherState cipher_;
};

// Noise §7: a handshake pattern as data. Tokens of one message, in order.
enum class Token : std::uint8_t { e, s, ee, es, se, ss };
struct Pattern {
    std::string_view name;  // "XX"
    std::vector<std::vector<Token>> messages;
};

namespace patterns {
Pattern const& xx();
Pattern const& nn();
}  // namespace patterns

// Noise §5.3 for patterns without pre-messages. One object per handshake; messages go
// strictly in turn (initiator first). After the last message, split() gives the
// transport CipherStates. Any failure leaves the state failed for good.
class HandshakeState {
public:
    // `protocol_name` is built from the pattern: Noise_<name>_25519_ChaChaPoly_SHA256.
    HandshakeState(Pattern const& pattern, bool initiator, core::ByteView prologue, std::optional<KeyPair> const& s,
                   KeyPair const& e);

    bool is_my_turn() const { return !failed_ && !finished() && (next_message_ % 2 == 0) == initiator_; }
    bool finished() const { return next_message_ == pattern_.messages.size(); }
    bool failed() const { return failed_; }

    // Appends the next handshake message carrying `payload` to `out`. False (and failed)
    // when it is not this side's turn, a key it needs is missing, a DH result is zero, or
    // the message would exceed message_max.
    [[nodiscard]] bool write_message(core::ByteView payload, core::Bytes& out);
    // Reads the peer's next message, appending its payload to `payload_out`. False (and
    // failed) on any malformed, unauthenticated or out-of-turn message.
    [[nodiscard]] bool read_message(core::ByteView message, core::Bytes& payload_out);

    // Only when finished(): first initiator -> responder, second the reverse.
    std::pair<CipherState, CipherState> split() const;
    Hash const& handshake_hash() const { return symmetric_.handshake_hash(); }
    // The peer's static public key, once a message carried it.
    std::optional<Key> const& remote_static() const { return rs_; }

private:
    bool mix_dh(Token token);
    bool fail() {
        failed_ = true;
        return false;
    }

    Pattern const& pattern_;
    bool initiator_;
    SymmetricState symmetric_;
    std::optional<KeyPair> s_;
    KeyPair e_;
    std::optional<Key> rs_;
    std::optional<Key> re_;
    std::size_t next_message_ = 0;
    bool failed_ = false;
};

}  // namespace links::noise
