// The frames pub/sub peers exchange on a link, decoded: one Rpc per link frame, carrying
// subscription changes, messages and control (GossipSub's RPC, PUBSUB-NOTES §2). The
// codec is strict and bounded: every count and length is checked against the bounds
// below before anything is allocated, and a frame that breaks one is dropped whole and
// counted. Not the router (router.hpp) and not the link encryption (link/).
#pragma once

#include "core/codec.hpp"
#include "core/result.hpp"
#include "dht/provider_record.hpp"
#include "pubsub/message_store.hpp"
#include "pubsub/types.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace pubsub {

// The first element of every encoded Rpc (docs/protocol.md, "Pub/sub").
// Version 2 added the catch-up fields (sync, fetch, fetched), 3 `listen`, 4 `flooded`;
// 5 made peer exchange signed: PRUNE's px and `records` (which replaced `listen`) carry
// provider records signed by the peer they name; 6 added `choke`.
inline constexpr std::uint8_t rpc_version = 6;
// Bytes of a signed envelope besides its payload: the fixed header (version 1, topic 32,
// author 32, seqno 8, ts_ms 8, payload length 4) and the signature (64).
inline constexpr std::size_t envelope_overhead = 85 + 64;

// The largest payload any node may be configured to accept or publish (`kadmium node
// --max-message-kb`, at most 1024). Hosts decode frames against this bound, not against
// their own payload_max: a message above this node's limit but within the wire bound is
// then dropped alone by the router (counted too_large) instead of failing its whole frame,
// so nodes configured with different limits can share a mesh. Link frames must carry one
// envelope of this size (node/engine.cpp checks links::Config::frame_size_max against it).
inline constexpr std::size_t payload_wire_max = 1024 * 1024;

// Wire bounds (PUBSUB-NOTES §2). Counts above these make the frame invalid.
struct RpcLimits {
    std::size_t payload_max = 64 * 1024;       // per message (configurable by the node, <= payload_wire_max)
    std::size_t messages_max = 64;             // per frame
    std::size_t subscriptions_max = 64;        // per frame
    std::size_t ihave_ids_max = 5000;          // ids per frame, all IHAVEs together
    std::size_t iwant_ids_max = 5000;
    std::size_t idontwant_ids_max = 1000;
    std::size_t px_max = 16;                   // peer records in one PRUNE
    std::size_t addrs_max = 4;                 // endpoints per peer record (= dht::provider_addrs_max)
    std::size_t records_max = 64;              // the sender's own records in one frame
    std::size_t topics_per_control_max = 64;   // GRAFT/PRUNE/IHAVE/CHOKE entries per frame, each
    // Catch-up (PUBSUB-NOTES §4): entries per frame, and their sizes.
    std::size_t sync_max = 4;                  // SYNC entries
    std::size_t sync_body_max = 64 * 1024;     // one reconciliation message
    std::size_t fetch_max = 4;                 // FETCH/HISTORY requests
    std::size_t fetch_ids_max = 256;           // ids in one FETCH
    std::size_t fetched_max = 4;               // replies
    std::size_t fetched_messages_max = 256;    // envelopes in one reply
    // Flood hints: entries per frame (one per own message at most), peers per entry.
    std::size_t flood_hints_max = 64;
    std::size_t flood_hint_peers_max = 64;
};

// How a flood hint names a peer: the first 8 bytes of its node id, big-endian. Short
// enough to name tens of peers per message; a collision only costs the named peer one
// forward it would have got (the hint is honoured from a message's author alone).
inline std::uint64_t flood_hint_prefix(NodeId const& id) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(id.bytes[i]);
    return v;
}

struct SubOpt {
    TopicKey topic;
    bool subscribe = true;
    friend bool operator==(SubOpt const&, SubOpt const&) = default;
};
struct Graft {
    TopicKey topic;
    friend bool operator==(Graft const&, Graft const&) = default;
};
// A peer record: "node N takes links for topic T at these addresses until E", signed by N
// (the DHT's provider record, dht/provider_record.hpp). Peer exchange carries only these,
// so a relay can pass on what it was given but cannot invent addresses under any id.
using PeerRecord = dht::ProviderRecord;

struct Prune {
    TopicKey topic;
    std::vector<PeerRecord> px;  // each for `topic`, at most px_max
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

// Catch-up. SYNC carries one round of range-based set reconciliation (pubsub/reconcile.hpp)
// over the topic's messages with from_ms <= ts_ms < to_ms; the initiator numbers its
// sessions. A responder without a free session slot answers `busy`, one that does not keep
// the topic (or finds the window out of bounds) `refused`.
enum class SyncKind : std::uint8_t { request = 0, reply = 1, busy = 2, refused = 3 };
inline constexpr std::uint8_t sync_kind_max = 3;
struct Sync {
    std::uint32_t session = 0;
    SyncKind kind = SyncKind::request;
    TopicKey topic;
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
    core::Bytes body;
    friend bool operator==(Sync const&, Sync const&) = default;
};
// FETCH (ids not empty): these messages. HISTORY (ids empty): a page of the topic's
// messages in [from_ms, to_ms) after the cursor `after` (exclusive; from the start when
// absent), ascending, at most `limit` (Waku Store v3 semantics).
struct Fetch {
    std::uint32_t request = 0;
    TopicKey topic;
    std::vector<MessageId> ids;
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
    std::optional<StoreCursor> after;
    std::uint32_t limit = 0;
    friend bool operator==(Fetch const&, Fetch const&) = default;
};
// The answer to one Fetch: envelopes in ascending (ts_ms, id) order; for HISTORY, `next`
// is the cursor to ask from when there is more.
struct Fetched {
    std::uint32_t request = 0;
    std::vector<core::Bytes> messages;
    std::optional<StoreCursor> next;
    friend bool operator==(Fetched const&, Fetched const&) = default;
};

// Version 4. The sender, flood-publishing its own message `seqno`, names the other peers
// it sent the same message to: the receiver forwards it to none of them (they have it from
// the author), which removes the duplicates a flood publish would cause (docs/protocol.md,
// "Flood hints"). The receiver honours it only on a message whose author is the sender.
struct FloodHint {
    std::uint64_t seqno = 0;
    std::vector<std::uint64_t> peers;  // flood_hint_prefix of each
    friend bool operator==(FloodHint const&, FloodHint const&) = default;
};

// Version 6 (docs/protocol.md, "Choking"). A mesh peer asks us to stop (choke = true) or
// resume (false) pushing whole messages of `topic` to it; while it is choked we announce
// each message to it at once in an IHAVE instead. Both sides forget it when the mesh link
// between them ends.
struct Choke {
    TopicKey topic;
    bool choke = true;
    friend bool operator==(Choke const&, Choke const&) = default;
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
    std::vector<Sync> sync;
    std::vector<Fetch> fetch;
    std::vector<Fetched> fetched;
    // Version 5: the sender's own records (signed by itself) for topics both sides
    // subscribe to, at most records_max: the receiver keeps the latest per peer and topic
    // and passes them on in peer exchange (PX). Replaced version 3's unsigned `listen`.
    std::vector<PeerRecord> records;
    std::vector<FloodHint> flooded;
    std::vector<Choke> choke;  // at most topics_per_control_max
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
