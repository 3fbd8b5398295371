// The signed message envelope of PUBSUB-NOTES §3 in its canonical fixed layout:
//   version u8 | topic_key 32 | author_pk 32 | seqno u64 BE | ts_ms u64 BE |
//   payload_len u32 BE | payload | sig 64
// sig = ed25519("kadmium-pubsub-v1:" ‖ every byte before sig); id = BLAKE2b-256 of all the
// bytes, signature included. One layout, no options: the same message always has the same
// bytes and id. parse() is bounded and does not verify (the router verifies once per node,
// after its duplicate check); verify() is the ~38 µs step.
#pragma once

#include "core/crypto.hpp"
#include "core/result.hpp"
#include "pubsub/rpc.hpp"
#include "pubsub/types.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pubsub {

inline constexpr std::uint8_t envelope_version = 1;
inline constexpr std::string_view envelope_domain = "kadmium-pubsub-v1:";
inline constexpr std::size_t envelope_header_size = 1 + 32 + 32 + 8 + 8 + 4;
inline constexpr std::size_t envelope_sig_size = 64;
static_assert(envelope_overhead == envelope_header_size + envelope_sig_size);  // defined in rpc.hpp

enum class EnvelopeError : std::uint8_t {
    truncated,    // shorter than the header and signature, or than payload_len says
    bad_version,  // a version this node does not speak
    bad_length,   // bytes left after the signature
    bad_value,    // a field out of range (negative timestamp)
    too_large,    // payload_len above the caller's maximum
};

// Builds and signs a message (fills every field of Message, including id and encoded).
// The caller checks the payload size first.
Message sign_message(core::Identity const& author, TopicKey const& topic, std::uint64_t seqno,
                     std::int64_t ts_ms, core::ByteView payload);

// Parses an envelope: checks sizes against `payload_max` before copying anything, computes
// the id. Does not verify the signature.
core::Result<Message, EnvelopeError> parse_message(core::ByteView encoded, std::size_t payload_max);

// The receive path's cheaper steps, so a duplicate costs no copy (router_receive.cpp):
// the checks of parse_message alone (nullopt: the envelope is well formed)...
std::optional<EnvelopeError> check_envelope(core::ByteView encoded, std::size_t payload_max);
// ...the topic field of a checked envelope, read in place...
TopicKey envelope_topic(core::ByteView checked);
// ...its seqno, read in place (rpc_split.cpp matches flood hints to their frames)...
std::uint64_t envelope_seqno(core::ByteView checked);
// ...and the Message of a checked envelope whose id the caller computed (BLAKE2b-256 of
// the bytes), taking the bytes over instead of copying them.
Message message_of_checked(core::Bytes checked, MessageId const& id);

// Checks the author's signature over the envelope. The message must come from
// parse_message or sign_message (its `encoded` is the source of truth).
bool verify_message(Message const& message);

}  // namespace pubsub
