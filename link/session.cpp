// links::Session: the kadmium handshake over links::noise, secretstream framing and the
// priority send queue. See session.hpp for the wire format and the polling contract.
//
// Sections: small helpers; the FIFO of one priority class; Impl (input parser, handshake
// steps, send queue, output); the public wrappers.
#include "link/session.hpp"

#include "core/assert.hpp"
#include "link/noise.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

namespace links {
namespace {

using SecretStream = crypto_secretstream_xchacha20poly1305_state;
constexpr std::size_t stream_header_size = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr std::size_t stream_abytes = crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr std::size_t frame_prefix_size = 4;
constexpr std::size_t handshake_prefix_size = 2;
constexpr std::string_view static_sig_domain = "kadmium-noise-static:";
constexpr std::size_t identity_payload_size = 32 + 64;  // ed25519 pk, signature

static_assert(stream_header_size == 24 && stream_abytes == 17);

auto const* u8(std::byte const* p) { return reinterpret_cast<unsigned char const*>(p); }
auto* u8(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }

core::Bytes static_key_message(noise::Key const& noise_static) {
    core::Bytes m = core::to_bytes(static_sig_domain);
    m.insert(m.end(), noise_static.begin(), noise_static.end());
    return m;
}

// The Noise static key of a node: its ed25519 key converted to X25519, so that one
// identity file is all a node has.
noise::KeyPair static_key_of(core::Identity const& self) {
    core::crypto_init();
    noise::Key curve_secret;
    crypto_sign_ed25519_sk_to_curve25519(u8(curve_secret.data()), u8(self.secret_key.bytes.data()));
    auto kp = noise::KeyPair::from_secret(curve_secret);
    sodium_memzero(curve_secret.data(), curve_secret.size());
    return kp;
}

// A FIFO of frames with O(1) push, pop-front and pop-back that allocates nothing while
// empty (a node has many links, most of them idle).
class FrameFifo {
public:
    bool empty() const { return head_ == frames_.size(); }
    std::size_t size() const { return frames_.size() - head_; }
    void push(core::Bytes frame) { frames_.push_back(std::move(frame)); }
    core::Bytes pop_front() {
        core::Bytes f = std::move(frames_[head_++]);
        if (head_ == frames_.size()) {
            frames_.clear();
            head_ = 0;
        } else if (head_ >= 64 && head_ * 2 >= frames_.size()) {
            frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
        return f;
    }
    core::Bytes pop_back() {
        core::Bytes f = std::move(frames_.back());
        frames_.pop_back();
        if (head_ == frames_.size()) {
            frames_.clear();
            head_ = 0;
        }
        return f;
    }
    void clear() {
        frames_.clear();
        head_ = 0;
    }

private:
    std::vector<core::Bytes> frames_;
    std::size_t head_ = 0;
};

}  // namespace

struct Session::Impl {
    // What the input parser waits for next.
    enum class Expect : std::uint8_t { handshake_length, handshake_body, stream_header, frame_length, frame_body, nothing };

    Impl(Role role, core::Identity const& self, std::optional<core::NodeId> expected_peer,
         std::array<std::byte, 32> const& ephemeral_seed, core::Instant now, Config const& config)
        : role(role),
          self(self),
          expected_peer(expected_peer),
          config(config),
          deadline(now + config.handshake_timeout),
          static_key(static_key_of(self)),
          handshake(std::in_place, noise::patterns::xx(), role == Role::initiator, core::as_bytes(prologue), static_key,
                    noise::KeyPair::from_secret(ephemeral_seed)) {
        if (role == Role::initiator) {
            bool const ok = write_handshake({});  // message 1: our own ephemeral only
            CORE_ASSERT(ok);
        }
    }

    ~Impl() {
        sodium_memzero(&push_state, sizeof push_state);
        sodium_memzero(&pull_state, sizeof pull_state);
        sodium_memzero(static_key.secret.data(), static_key.secret.size());
        sodium_memzero(self.secret_key.bytes.data(), self.secret_key.bytes.size());
    }

    // ---- closing ----

    void close_with(CloseReason why) {
        if (state == State::closed) return;
        state = State::closed;
        reason = why;
        expect = Expect::nothing;
        handshake.reset();
        for (auto& q : queues) {
            stats.frames_dropped[static_cast<std::size_t>(DropReason::link_closed)] += q.size();
            q.clear();
        }
        queued = 0;
        wire.clear();
        wire_at = 0;
        unit.clear();
    }

    // ---- input ----

    std::size_t unit_size() const {
        switch (expect) {
            case Expect::handshake_length: return handshake_prefix_size;
            case Expect::stream_header: return stream_header_size;
            case Expect::frame_length: return frame_prefix_size;
            case Expect::handshake_body:
            case Expect::frame_body: return body_size;
            case Expect::nothing: return 0;
        }
        return 0;
    }

    // Feeds bytes unit by unit; `unit` buffers at most one unit, whose size was checked.
    void handle_bytes(core::ByteView bytes) {
        if (state == State::closed) return;
        stats.bytes_in += bytes.size();
        while (!bytes.empty() && expect != Expect::nothing) {
            std::size_t const want = unit_size();
            if (unit.empty() && bytes.size() >= want) {
                on_unit(bytes.first(want));  // whole unit in the input: no copy
                bytes = bytes.subspan(want);
                continue;
            }
            std::size_t const take = std::min(want - unit.size(), bytes.size());
            if (unit.empty()) unit.reserve(want);
            unit.insert(unit.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
            bytes = bytes.subspan(take);
            if (unit.size() == want) {
                core::Bytes whole;
                whole.swap(unit);
                on_unit(whole);
            }
        }
    }

    static std::uint32_t read_be(core::ByteView b) {
        std::uint32_t v = 0;
        for (auto x : b) v = (v << 8) | std::to_integer<std::uint32_t>(x);
        return v;
    }

    void on_unit(core::ByteView u) {
        switch (expect) {
            case Expect::handshake_length: {
                body_size = read_be(u);
                if (body_size == 0 || body_size > handshake_message_max) return close_with(CloseReason::handshake_failed);
                expect = Expect::handshake_body;
                return;
            }
            case Expect::handshake_body: return on_handshake_message(u);
            case Expect::stream_header: {
                if (crypto_secretstream_xchacha20poly1305_init_pull(&pull_state, u8(u.data()), u8(pull_key.data())) != 0)
                    return close_with(CloseReason::decrypt_failed);
                sodium_memzero(pull_key.data(), pull_key.size());
                expect = Expect::frame_length;
                return;
            }
            case Expect::frame_length: {
                std::uint32_t const len = read_be(u);
                if (len < stream_abytes) return close_with(CloseReason::decrypt_failed);
                if (len - stream_abytes > config.frame_size_max) return close_with(CloseReason::frame_too_large);
                body_size = len;
                expect = Expect::frame_body;
                return;
            }
            case Expect::frame_body: return on_frame(u);
            case Expect::nothing: return;
        }
    }

    void on_frame(core::ByteView ciphertext) {
        core::Bytes plain(ciphertext.size() - stream_abytes);
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&pull_state, u8(plain.data()), nullptr, &tag,
                                                       u8(ciphertext.data()), ciphertext.size(), nullptr, 0) != 0)
            return close_with(CloseReason::decrypt_failed);
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) return close_with(CloseReason::closed_by_peer);
        ++stats.frames_in;
        received.push(std::move(plain));
        expect = Expect::frame_length;
    }

    // ---- handshake ----

    // False when a DH with the peer's keys gives zero (a low-order point it sent).
    [[nodiscard]] bool write_handshake(core::ByteView payload) {
        core::Bytes message;
        if (!handshake->write_message(payload, message)) return false;
        CORE_ASSERT(message.size() <= handshake_message_max);  // our own sizes
        wire.push_back(static_cast<std::byte>(message.size() >> 8));
        wire.push_back(static_cast<std::byte>(message.size() & 0xff));
        wire.insert(wire.end(), message.begin(), message.end());
        return true;
    }

    core::Bytes identity_payload() const {
        core::Bytes p(self.public_key.bytes.begin(), self.public_key.bytes.end());
        auto sig = core::sign(self.secret_key, static_key_message(static_key.public_key));
        p.insert(p.end(), sig.bytes.begin(), sig.bytes.end());
        return p;
    }

    // Checks the peer's ed25519 key, its signature over the Noise static key the
    // handshake authenticated, and the node id it gives.
    bool accept_identity(core::ByteView payload) {
        auto const& rs = handshake->remote_static();
        if (payload.size() != identity_payload_size || !rs) return false;
        core::PublicKey pk;
        std::memcpy(pk.bytes.data(), payload.data(), pk.bytes.size());
        core::Signature sig;
        std::memcpy(sig.bytes.data(), payload.data() + pk.bytes.size(), sig.bytes.size());
        if (!core::verify(pk, static_key_message(*rs), sig)) return false;
        auto const id = core::node_id_of(pk);
        if (expected_peer && id != *expected_peer) return false;
        peer_key = pk;
        peer_id = id;
        return true;
    }

    void on_handshake_message(core::ByteView message) {
        core::Bytes payload;
        if (!handshake->read_message(message, payload)) return close_with(CloseReason::handshake_failed);
        bool const first = !handshake->remote_static() && role == Role::responder;
        if (first) {  // message 1: e only, no payload
            if (!payload.empty()) return close_with(CloseReason::handshake_failed);
            if (!write_handshake(identity_payload())) return close_with(CloseReason::handshake_failed);
            expect = Expect::handshake_length;
            return;
        }
        if (!accept_identity(payload)) return close_with(CloseReason::handshake_failed);
        if (role == Role::initiator && !write_handshake(identity_payload()))  // message 3
            return close_with(CloseReason::handshake_failed);
        establish();
    }

    void establish() {
        CORE_ASSERT(handshake->finished());
        auto [i_to_r, r_to_i] = handshake->split();
        auto const& out_cs = role == Role::initiator ? i_to_r : r_to_i;
        auto const& in_cs = role == Role::initiator ? r_to_i : i_to_r;
        // init_push draws the header from libsodium's randombytes: the one use of a random
        // source in this code. The header needs no secrecy (the key is fresh per link),
        // so this costs the simulator only byte-for-byte reproducibility of ciphertext,
        // never of behaviour.
        std::array<unsigned char, stream_header_size> header{};
        crypto_secretstream_xchacha20poly1305_init_push(&push_state, header.data(), u8(out_cs.key().data()));
        auto const* h = reinterpret_cast<std::byte const*>(header.data());
        wire.insert(wire.end(), h, h + header.size());
        pull_key = in_cs.key();
        handshake.reset();
        state = State::established;
        expect = Expect::stream_header;
    }

    // ---- send queue ----

    FrameFifo& queue(Priority p) { return queues[static_cast<std::size_t>(p)]; }

    void count_drop(DropReason r) { ++stats.frames_dropped[static_cast<std::size_t>(r)]; }

    // Bytes that dropping every frame of a class below `p` would free.
    std::size_t bytes_below(Priority p) const {
        std::size_t n = 0;
        for (std::size_t c = static_cast<std::size_t>(p) + 1; c < priority_count; ++c) n += class_bytes[c];
        return n;
    }

    // Drops the newest frames of the lowest non-empty class until `need` bytes fit.
    void drop_until_fits(Priority p, std::size_t need) {
        for (std::size_t c = priority_count - 1; c > static_cast<std::size_t>(p) && queued + need > config.send_queue_bytes_max; --c) {
            while (!queues[c].empty() && queued + need > config.send_queue_bytes_max) {
                auto f = queues[c].pop_back();
                class_bytes[c] -= f.size();
                queued -= f.size();
                count_drop(DropReason::queue_full);
            }
        }
    }

    bool send(Priority p, core::Bytes&& frame) {
        CORE_ASSERT(frame.size() <= config.frame_size_max);
        if (state == State::closed || closing) {
            count_drop(DropReason::link_closed);
            return false;
        }
        if (queued + frame.size() > config.send_queue_bytes_max) {
            if (queued - bytes_below(p) + frame.size() > config.send_queue_bytes_max) {
                count_drop(DropReason::queue_full);
                if (p == Priority::control) close_with(CloseReason::slow_peer);
                return false;
            }
            drop_until_fits(p, frame.size());
        }
        auto const c = static_cast<std::size_t>(p);
        class_bytes[c] += frame.size();
        queued += frame.size();
        queues[c].push(std::move(frame));
        return true;
    }

    // ---- output ----

    void encrypt_frame(core::ByteView plain, unsigned char tag) {
        std::size_t const len = plain.size() + stream_abytes;
        auto const at = wire.size();
        wire.resize(at + frame_prefix_size + len);
        for (std::size_t i = 0; i < frame_prefix_size; ++i)
            wire[at + i] = static_cast<std::byte>(len >> (8 * (frame_prefix_size - 1 - i)));
        crypto_secretstream_xchacha20poly1305_push(&push_state, u8(wire.data() + at + frame_prefix_size), nullptr,
                                                   u8(plain.data()), plain.size(), nullptr, 0, tag);
    }

    // Encrypts queued frames, highest priority first, until `max_bytes` are ready.
    void fill_wire(std::size_t max_bytes) {
        if (wire_at == wire.size()) {
            wire.clear();
            wire_at = 0;
        } else if (wire_at > 0) {
            wire.erase(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(wire_at));
            wire_at = 0;
        }
        // One allocation for what this call encrypts (the host takes `wire` away whole),
        // instead of a doubling series of them with a copy each.
        std::size_t frames = 0;
        for (auto const& q : queues) frames += q.size();
        wire.reserve(wire.size() + std::min(queued + frames * (frame_prefix_size + stream_abytes), max_bytes));
        while (wire.size() < max_bytes) {
            auto it = std::find_if(queues.begin(), queues.end(), [](FrameFifo const& q) { return !q.empty(); });
            if (it == queues.end()) {
                if (closing && !final_sent) {
                    encrypt_frame({}, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
                    final_sent = true;
                }
                return;
            }
            auto frame = it->pop_front();
            auto const c = static_cast<std::size_t>(it - queues.begin());
            class_bytes[c] -= frame.size();
            queued -= frame.size();
            encrypt_frame(frame, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
            ++stats.frames_out;
        }
    }

    core::Bytes poll_write(std::size_t max_bytes) {
        if (state == State::closed || max_bytes == 0) return {};
        if (state == State::established) fill_wire(max_bytes);
        std::size_t const available = wire.size() - wire_at;
        std::size_t const take = std::min(available, max_bytes);
        core::Bytes out;
        if (wire_at == 0 && take == wire.size()) {
            out.swap(wire);
        } else {
            auto const from = wire.begin() + static_cast<std::ptrdiff_t>(wire_at);
            out.assign(from, from + static_cast<std::ptrdiff_t>(take));
            wire_at += take;
        }
        if (wire_at == wire.size()) {
            wire.clear();
            wire_at = 0;
        }
        stats.bytes_out += out.size();
        if (final_sent && wire.empty()) close_with(CloseReason::local);
        return out;
    }

    void close() {
        if (state == State::closed) return;
        if (state == State::handshaking) return close_with(CloseReason::local);
        closing = true;
    }

    Role role;
    core::Identity self;  // a copy: a session must not dangle when its host reloads keys
    std::optional<core::NodeId> expected_peer;
    Config config;
    core::Instant deadline;
    noise::KeyPair static_key;
    std::optional<noise::HandshakeState> handshake;  // reset once established or closed

    State state = State::handshaking;
    CloseReason reason = CloseReason::none;
    bool closing = false;
    bool final_sent = false;

    // Input.
    Expect expect = Expect::handshake_length;
    std::size_t body_size = 0;
    core::Bytes unit;  // a partly received unit, at most one checked unit_size()
    SecretStream pull_state{};
    noise::Key pull_key{};  // until the peer's stream header arrives
    FrameFifo received;

    // Output.
    SecretStream push_state{};
    core::Bytes wire;  // bytes ready for poll_write, from wire_at on
    std::size_t wire_at = 0;
    std::array<FrameFifo, priority_count> queues;
    std::array<std::size_t, priority_count> class_bytes{};
    std::size_t queued = 0;

    std::optional<core::PublicKey> peer_key;
    std::optional<core::NodeId> peer_id;
    Stats stats;
};

Session::Session(Role role, core::Identity const& self, std::optional<core::NodeId> expected_peer,
                 std::array<std::byte, 32> const& ephemeral_seed, core::Instant now, Config const& config)
    : impl_(std::make_unique<Impl>(role, self, expected_peer, ephemeral_seed, now, config)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::handle_bytes(core::Instant now, core::ByteView bytes) {
    handle_timeout(now);  // bytes that come after the deadline do not rescue a handshake
    impl_->handle_bytes(bytes);
}

void Session::handle_timeout(core::Instant now) {
    if (impl_->state == State::handshaking && now >= impl_->deadline) impl_->close_with(CloseReason::handshake_timeout);
}

void Session::handle_stream_closed() { impl_->close_with(CloseReason::closed_by_peer); }

bool Session::send(Priority priority, core::ByteView frame) {
    return impl_->send(priority, core::Bytes(frame.begin(), frame.end()));
}
bool Session::send(Priority priority, core::Bytes&& frame) { return impl_->send(priority, std::move(frame)); }
void Session::close() { impl_->close(); }
core::Bytes Session::poll_write(std::size_t max_bytes) { return impl_->poll_write(max_bytes); }

std::optional<core::Bytes> Session::poll_frame() {
    if (impl_->received.empty()) return std::nullopt;
    return impl_->received.pop_front();
}

std::optional<core::Instant> Session::next_wakeup() const {
    if (impl_->state != State::handshaking) return std::nullopt;
    return impl_->deadline;
}

State Session::state() const { return impl_->state; }
CloseReason Session::close_reason() const { return impl_->reason; }
std::optional<core::PublicKey> Session::peer_key() const { return impl_->peer_key; }
std::optional<core::NodeId> Session::peer_id() const { return impl_->peer_id; }
std::size_t Session::queued_bytes() const { return impl_->queued; }
bool Session::wants_write() const {
    auto const& m = *impl_;
    if (m.state == State::closed) return false;
    if (m.wire_at < m.wire.size()) return true;
    return m.state == State::established && (m.queued > 0 || (m.closing && !m.final_sent));
}
Stats const& Session::stats() const { return impl_->stats; }

}  // namespace links
