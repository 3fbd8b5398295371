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
};
struct Graft {
    TopicKey topic;
};
struct Prune {
    TopicKey topic;
    std::vector<PeerAddress> px;
    std::uint32_t backoff_s = 60;
};
struct IHave {
    TopicKey topic;
    std::vector<MessageId> ids;
};
struct IWant {
    std::vector<MessageId> ids;
};
struct IDontWant {
    std::vector<MessageId> ids;
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
};

void encode(Rpc const& rpc, core::Bytes& out);
core::Result<Rpc, core::DecodeError> decode_rpc(core::ByteView frame, RpcLimits const& limits);

}  // namespace pubsub
