// Noise (revision 34) objects over libsodium; see noise.hpp. Section numbers refer to
// the Noise specification.
#include "link/noise.hpp"

#include "core/assert.hpp"

#include <sodium.h>

#include <cstring>
#include <string>

namespace links::noise {
namespace {

auto const* u8(std::byte const* p) { return reinterpret_cast<unsigned char const*>(p); }
auto* u8(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }

void append(core::Bytes& out, core::ByteView bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

// §4.3 HKDF with HMAC-SHA256, two outputs (three are never needed without PSKs).
std::pair<Hash, Hash> hkdf2(Hash const& chaining_key, core::ByteView input_key_material) {
    Hash temp_key;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, u8(chaining_key.data()), chaining_key.size());
    crypto_auth_hmacsha256_update(&st, u8(input_key_material.data()), input_key_material.size());
    crypto_auth_hmacsha256_final(&st, u8(temp_key.data()));

    Hash out1;
    Hash out2;
    unsigned char const one = 0x01;
    unsigned char const two = 0x02;
    crypto_auth_hmacsha256_init(&st, u8(temp_key.data()), temp_key.size());
    crypto_auth_hmacsha256_update(&st, &one, 1);
    crypto_auth_hmacsha256_final(&st, u8(out1.data()));
    crypto_auth_hmacsha256_init(&st, u8(temp_key.data()), temp_key.size());
    crypto_auth_hmacsha256_update(&st, u8(out1.data()), out1.size());
    crypto_auth_hmacsha256_update(&st, &two, 1);
    crypto_auth_hmacsha256_final(&st, u8(out2.data()));
    sodium_memzero(temp_key.data(), temp_key.size());
    sodium_memzero(&st, sizeof st);
    return {out1, out2};
}

// §5.1: 32 bits of zeros, then the 64-bit counter little-endian.
std::array<unsigned char, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> nonce_bytes(std::uint64_t n) {
    static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12);
    std::array<unsigned char, 12> out{};
    for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<unsigned char>(n >> (8 * i));
    return out;
}

constexpr std::uint64_t nonce_reserved = ~std::uint64_t{0};

}  // namespace

KeyPair KeyPair::from_secret(Key const& secret) {
    KeyPair kp;
    kp.secret = secret;
    crypto_scalarmult_base(u8(kp.public_key.data()), u8(secret.data()));
    return kp;
}

std::optional<Key> dh(Key const& secret, Key const& public_key) {
    Key out;
    // libsodium returns -1 when the result is all zeros.
    if (crypto_scalarmult(u8(out.data()), u8(secret.data()), u8(public_key.data())) != 0) return std::nullopt;
    return out;
}

bool CipherState::encrypt_with_ad(core::ByteView ad, core::ByteView plaintext, core::Bytes& out) {
    if (!key_) {
        append(out, plaintext);
        return true;
    }
    if (nonce_ == nonce_reserved) return false;
    auto const at = out.size();
    out.resize(at + plaintext.size() + tag_len);
    auto const nonce = nonce_bytes(nonce_);
    unsigned long long written = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(u8(out.data() + at), &written, u8(plaintext.data()), plaintext.size(),
                                              u8(ad.data()), ad.size(), nullptr, nonce.data(), u8(key_->data()));
    CORE_ASSERT(written == plaintext.size() + tag_len);
    ++nonce_;
    return true;
}

bool CipherState::decrypt_with_ad(core::ByteView ad, core::ByteView ciphertext, core::Bytes& out) {
    if (!key_) {
        append(out, ciphertext);
        return true;
    }
    if (nonce_ == nonce_reserved || ciphertext.size() < tag_len) return false;
    auto const at = out.size();
    out.resize(at + ciphertext.size() - tag_len);
    auto const nonce = nonce_bytes(nonce_);
    unsigned long long written = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(u8(out.data() + at), &written, nullptr, u8(ciphertext.data()),
                                                  ciphertext.size(), u8(ad.data()), ad.size(), nonce.data(),
                                                  u8(key_->data())) != 0) {
        out.resize(at);
        return false;
    }
    ++nonce_;
    return true;
}

SymmetricState::SymmetricState(std::string_view protocol_name) {
    // §5.2 InitializeSymmetric: the name itself when it fits in HASHLEN, else its hash.
    if (protocol_name.size() <= hash_len) {
        std::memcpy(h_.data(), protocol_name.data(), protocol_name.size());
    } else {
        crypto_hash_sha256(u8(h_.data()), reinterpret_cast<unsigned char const*>(protocol_name.data()),
                           protocol_name.size());
    }
    ck_ = h_;
}

void SymmetricState::mix_key(core::ByteView input_key_material) {
    auto [ck, temp_k] = hkdf2(ck_, input_key_material);
    ck_ = ck;
    cipher_.initialize_key(temp_k);  // HASHLEN == 32: no truncation
}

void SymmetricState::mix_hash(core::ByteView data) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, u8(h_.data()), h_.size());
    crypto_hash_sha256_update(&st, u8(data.data()), data.size());
    crypto_hash_sha256_final(&st, u8(h_.data()));
}

bool SymmetricState::encrypt_and_hash(core::ByteView plaintext, core::Bytes& out) {
    auto const at = out.size();
    if (!cipher_.encrypt_with_ad(h_, plaintext, out)) return false;
    mix_hash(core::ByteView(out).subspan(at));
    return true;
}

bool SymmetricState::decrypt_and_hash(core::ByteView ciphertext, core::Bytes& out) {
    Hash const h_before = h_;
    if (!cipher_.decrypt_with_ad(h_before, ciphertext, out)) return false;
    mix_hash(ciphertext);
    return true;
}

std::pair<CipherState, CipherState> SymmetricState::split() const {
    auto [k1, k2] = hkdf2(ck_, {});
    std::pair<CipherState, CipherState> out;
    out.first.initialize_key(k1);
    out.second.initialize_key(k2);
    return out;
}

namespace patterns {
Pattern const& xx() {
    static Pattern const p{"XX", {{Token::e}, {Token::e, Token::ee, Token::s, Token::es}, {Token::s, Token::se}}};
    return p;
}
Pattern const& nn() {
    static Pattern const p{"NN", {{Token::e}, {Token::e, Token::ee}}};
    return p;
}
}  // namespace patterns

namespace {
std::string protocol_name_of(Pattern const& pattern) {
    return "Noise_" + std::string(pattern.name) + "_25519_ChaChaPoly_SHA256";
}
}  // namespace

HandshakeState::HandshakeState(Pattern const& pattern, bool initiator, core::ByteView prologue,
                               std::optional<KeyPair> const& s, KeyPair const& e)
    : pattern_(pattern), initiator_(initiator), symmetric_(protocol_name_of(pattern)), s_(s), e_(e) {
    symmetric_.mix_hash(prologue);
}

bool HandshakeState::mix_dh(Token token) {
    Key const* secret = nullptr;
    std::optional<Key> const* remote = nullptr;
    // §7.1: es is DH(e, rs) for the initiator and DH(s, re) for the responder; se the
    // mirror image.
    switch (token) {
        case Token::ee: secret = &e_.secret, remote = &re_; break;
        case Token::ss: secret = s_ ? &s_->secret : nullptr, remote = &rs_; break;
        case Token::es:
            if (initiator_) secret = &e_.secret, remote = &rs_;
            else secret = s_ ? &s_->secret : nullptr, remote = &re_;
            break;
        case Token::se:
            if (initiator_) secret = s_ ? &s_->secret : nullptr, remote = &re_;
            else secret = &e_.secret, remote = &rs_;
            break;
        case Token::e:
        case Token::s: CORE_ASSERT(false);
    }
    if (secret == nullptr || !remote->has_value()) return false;
    auto shared = dh(*secret, **remote);
    if (!shared) return false;
    symmetric_.mix_key(*shared);
    sodium_memzero(shared->data(), shared->size());
    return true;
}

bool HandshakeState::write_message(core::ByteView payload, core::Bytes& out) {
    if (!is_my_turn()) return fail();
    auto const at = out.size();
    for (Token token : pattern_.messages[next_message_]) {
        switch (token) {
            case Token::e:
                append(out, e_.public_key);
                symmetric_.mix_hash(e_.public_key);
                break;
            case Token::s:
                if (!s_ || !symmetric_.encrypt_and_hash(s_->public_key, out)) return fail();
                break;
            default:
                if (!mix_dh(token)) return fail();
        }
    }
    if (!symmetric_.encrypt_and_hash(payload, out)) return fail();
    if (out.size() - at > message_max) return fail();
    ++next_message_;
    return true;
}

bool HandshakeState::read_message(core::ByteView message, core::Bytes& payload_out) {
    if (failed_ || finished() || is_my_turn() || message.size() > message_max) return fail();
    for (Token token : pattern_.messages[next_message_]) {
        switch (token) {
            case Token::e: {
                if (message.size() < dh_len) return fail();
                Key re;
                std::memcpy(re.data(), message.data(), dh_len);
                re_ = re;
                symmetric_.mix_hash(re);
                message = message.subspan(dh_len);
                break;
            }
            case Token::s: {
                std::size_t const len = dh_len + (symmetric_.has_key() ? tag_len : 0);
                if (message.size() < len) return fail();
                core::Bytes rs;
                if (!symmetric_.decrypt_and_hash(message.first(len), rs)) return fail();
                Key key;
                std::memcpy(key.data(), rs.data(), dh_len);
                rs_ = key;
                message = message.subspan(len);
                break;
            }
            default:
                if (!mix_dh(token)) return fail();
        }
    }
    if (!symmetric_.decrypt_and_hash(message, payload_out)) return fail();
    ++next_message_;
    return true;
}

std::pair<CipherState, CipherState> HandshakeState::split() const {
    CORE_ASSERT(finished() && !failed_);
    return symmetric_.split();
}

}  // namespace links::noise
