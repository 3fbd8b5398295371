// links::Session: one encrypted, authenticated pub/sub link over a reliable byte stream,
// as a sans-I/O state machine. Bytes read from the socket go in (any chunking); bytes to
// write come out; in between: the Noise_XX_25519_ChaChaPoly_SHA256 handshake of
// PUBSUB-NOTES §6 (both sides prove the ed25519 identity, and so the NodeId, the DHT
// knows them by), then length-prefixed libsodium secretstream frames, one stream per
// direction. It owns the byte-bounded outgoing queue with priorities.
// It is not a socket, a timer or a router: the host (node/ runtime, sim/) moves the bytes,
// the engine decides what the frames mean. It reads no clock and no random device: the
// ephemeral key seed comes from the host.
//
// Wire format (each direction is one byte stream):
//   handshake: three Noise messages, each behind a u16 big-endian length (as libp2p's
//     noise does; Noise caps messages at 65535 B anyway; kadmium's are 32, 192 and 160 B
//     and anything above handshake_message_max is refused). Message 1 has an empty
//     payload; messages 2 and 3 carry ed25519_pk(32) || sig(64) over
//     "kadmium-noise-static:" || the sender's Noise static key. Prologue "kadmium-link/1".
//   then: the 24-byte secretstream header of this direction, keyed from the Noise
//     transport key of this direction (Split(): first initiator -> responder);
//   then frames: u32 big-endian ciphertext length, then the ciphertext (plaintext + 17 B).
//     The length is checked against frame_size_max before anything is buffered. A frame
//     tagged FINAL ends the stream.
//
// Polling contract: after every handle_* call or send(), drain poll_frame() and check
// state(); write poll_write() output when the socket can take it; arm a timer for
// next_wakeup().
#pragma once

#include "core/bytes.hpp"
#include "core/crypto.hpp"
#include "core/node_id.hpp"
#include "core/time.hpp"
#include "link/priority.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace links {

using namespace std::chrono_literals;

struct Config {
    // Largest plaintext frame accepted or sent. A pub/sub message is at most 64 KiB of
    // payload plus its envelope; an RPC frame may batch several, and sync/fetch replies
    // are up to 1 MiB (PUBSUB-NOTES §4).
    std::size_t frame_size_max = 1024 * 1024 + 4096;
    // A handshake not finished by then fails (PUBSUB-NOTES §6: 10 s).
    core::Duration handshake_timeout = 10s;
    // Outgoing plaintext bytes queued (not yet handed to poll_write) before frames are
    // dropped, lowest priority first; a control frame that cannot be queued even after
    // dropping everything below it cuts the link as slow_peer.
    std::size_t send_queue_bytes_max = 4 * 1024 * 1024;
};

enum class State : std::uint8_t { handshaking, established, closed };

// Why a link closed or a frame was dropped; the label strings live with the metrics.
enum class CloseReason : std::uint8_t {
    none = 0,
    handshake_failed,   // bad handshake message, bad signature, all-zero DH, wrong node id
    handshake_timeout,
    decrypt_failed,     // a frame failed authentication
    frame_too_large,    // a length prefix above frame_size_max
    slow_peer,          // the outgoing queue could not take a control frame
    closed_by_peer,     // the peer sent the final frame or the stream ended
    local,              // close() was called
};

enum class DropReason : std::uint8_t {
    queue_full = 0,  // no room in send_queue_bytes_max, even after dropping lower classes
    link_closed,     // send() on a closing or closed link, or still queued when it closed
    count
};

// Largest handshake message accepted (kadmium's are at most 192 B).
inline constexpr std::size_t handshake_message_max = 1024;
// The prologue every kadmium link handshake mixes in; a new wire version changes it.
inline constexpr char const* prologue = "kadmium-link/1";

struct Stats {
    std::uint64_t bytes_in = 0;   // stream bytes read (handshake included)
    std::uint64_t bytes_out = 0;  // stream bytes handed to poll_write
    std::uint64_t frames_in = 0;
    std::uint64_t frames_out = 0;
    std::array<std::uint64_t, static_cast<std::size_t>(DropReason::count)> frames_dropped{};
};

enum class Role : std::uint8_t { initiator, responder };

class Session {
public:
    // `self` is copied (its secret key is wiped when the session ends). An initiator knows whom it dials: the handshake
    // fails unless the responder proves `expected_peer`. `ephemeral_seed` is 32 random
    // bytes from the host (the OS in production, the run's Rng in the simulator).
    Session(Role role, core::Identity const& self, std::optional<core::NodeId> expected_peer,
            std::array<std::byte, 32> const& ephemeral_seed, core::Instant now, Config const& config = {});
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    // Bytes read from the stream, in any chunking. Errors close the session (state()).
    // Frames decrypted from these bytes wait for poll_frame() (at most one per 21 bytes
    // given, so the host bounds them by its read size). Partial input is buffered only up
    // to one unit whose size was already checked (a handshake message or one frame).
    void handle_bytes(core::Instant now, core::ByteView bytes);
    // The handshake timeout. Spurious calls are harmless.
    void handle_timeout(core::Instant now);
    // The stream ended (EOF or error) without a final frame.
    void handle_stream_closed();

    // Queues one plaintext frame (size <= frame_size_max, asserted). Returns false, and
    // counts the drop, when the frame was not queued. Frames queued before the handshake
    // completes are sent after it.
    bool send(Priority priority, core::ByteView frame);
    // The same, taking the frame over instead of copying it (the engine's path).
    bool send(Priority priority, core::Bytes&& frame);
    // Sends the final frame after what is queued and closes.
    void close();

    // Up to `max_bytes` of stream bytes to write (handshake messages, then encrypted
    // frames, highest priority first, whole frames coalesced). Never more than
    // `max_bytes`: a frame that does not fit is encrypted once and its rest comes out in
    // the following calls (so a host with a bounded socket buffer asks for what fits).
    // Empty when nothing is due. After close(), the final frame comes out last and the
    // state turns closed once it has been handed out.
    core::Bytes poll_write(std::size_t max_bytes);
    // The next decrypted frame received.
    [[nodiscard]] std::optional<core::Bytes> poll_frame();
    [[nodiscard]] std::optional<core::Instant> next_wakeup() const;

    State state() const;
    CloseReason close_reason() const;
    // Known once established: the peer's proven ed25519 key and NodeId.
    std::optional<core::PublicKey> peer_key() const;
    std::optional<core::NodeId> peer_id() const;
    // Plaintext bytes queued for sending.
    std::size_t queued_bytes() const;
    // Whether poll_write() would give bytes now (a handshake message, queued frames, or
    // the final frame): the host asks before taking.
    bool wants_write() const;
    Stats const& stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace links
