// The frames pub/sub peers exchange on a link, decoded: one Rpc per link frame, carrying
// subscription changes, messages and control (GossipSub's RPC, PUBSUB-NOTES §2). The
// codec is strict and bounded: every count and length is checked against the bounds
// below before anything is allocated, and a frame that breaks one is dropped whole and
// counted. Not the router (router.hpp) and not the link encryption (link/).
#pragma once

#include "core/codec.hpp"
#include "core/result.hpp"
#include "pubsub/types.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace pubsub {

// The first element of every encoded Rpc (docs/protocol.md, "Pub/sub").
inline constexpr std::uint8_t rpc_version = 1;
// Bytes of a signed envelope besides its payload: the fixed header (version 1, topic 32,
// author 32, seqno 8, ts_ms 8, payload length 4) and the signature (64).
inline constexpr std::size_t envelope_overhead = 85 + 64;

// Wire bounds (PUBSUB-NOTES §2). Counts above these make the frame invalid.
struct RpcLimits {
    std::size_t payload_max = 64 * 1024;       // per message (configurable by the node)
    std::size_t messages_max = 64;             // per frame
    std::size_t subscriptions_max = 64;        // per frame
    std::size_t ihave_ids_max = 5000;          // ids per frame, all IHAVEs together
    std::size_t iwant_ids_max = 5000;
    std::size_t idontwant_ids_max = 1000;
    std::size_t px_max = 16;                   // peer records in one PRUNE
    std::size_t addrs_max = 4;                 // endpoints per peer record
    std::size_t topics_per_control_max = 64;   // GRAFT/PRUNE/IHAVE entries per frame
};

struct SubOpt {
    TopicKey topic;
    bool subscribe = true;
    friend bool operator==(SubOpt const&, SubOpt const&) = default;
};
struct Graft {
    TopicKey topic;
    friend bool operator==(Graft const&, Graft const&) = default;
};
struct Prune {
    TopicKey topic;
    std::vector<PeerAddress> px;
    std::uint32_t backoff_s = 60;
    friend bool operator==(Prune const&, Prune const&) = default;
};
struct IHave {
    TopicKey topic;
    std::vector<MessageId> ids;
    friend bool operator==(IHave const&, IHave const&) = default;
};
struct IWant {
    std::vector<MessageId> ids;
    friend bool operator==(IWant const&, IWant const&) = default;
};
struct IDontWant {
    std::vector<MessageId> ids;
    friend bool operator==(IDontWant const&, IDontWant const&) = default;
};

struct Rpc {
    std::vector<SubOpt> subscriptions;
    // Signed envelopes, opaque here (each at most the envelope of a payload_max message);
    // envelope.hpp parses and verifies them.
    std::vector<core::Bytes> messages;
    std::vector<Graft> graft;
    std::vector<Prune> prune;
    std::vector<IHave> ihave;
    std::vector<IWant> iwant;
    std::vector<IDontWant> idontwant;
    bool empty() const;
    friend bool operator==(Rpc const&, Rpc const&) = default;
};

// Appends the canonical encoding of `rpc` to `out`. The caller keeps within the bounds
// its peers accept (RpcLimits); the encoder does not split or check them.
void encode(Rpc const& rpc, core::Bytes& out);
// Decodes one whole frame; the error says which rule it broke (a count over a bound is
// too_many, a payload over payload_max too_long, a wrong field count or version bad_value).
core::Result<Rpc, core::DecodeError> decode_rpc(core::ByteView frame, RpcLimits const& limits);

}  // namespace pubsub
