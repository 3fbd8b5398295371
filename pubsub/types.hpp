// The values pub/sub is made of: topic keys, message ids, the signed message envelope of
// PUBSUB-NOTES §3, and peer addresses for dialing. Plain data only; signing and
// validation are in envelope.hpp, the wire form of frames in rpc.hpp.
#pragma once

#include "core/bytes.hpp"
#include "core/crypto.hpp"
#include "core/endpoint.hpp"
#include "core/node_id.hpp"
#include "core/time.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pubsub {

using core::NodeId;
// BLAKE2b-256("kadmium-topic-v1" ‖ name): the DHT key of the topic's provider records and
// the topic field of every envelope (dht::topic_key computes it).
using TopicKey = core::Key;
// BLAKE2b-256 of the whole envelope (signature included): keys the seen-cache, the
// message store and set reconciliation.
using MessageId = core::NodeId;

// A published message as it travels and as it is stored: the fields of the canonical
// envelope plus the author's signature. `encoded` keeps the bytes exactly as received (or
// as signed), so any node can later prove authorship with them.
struct Message {
    std::uint8_t version = 1;
    TopicKey topic;
    core::PublicKey author;  // ed25519; the author's NodeId is BLAKE2b of it
    std::uint64_t seqno = 0; // per author, never repeats (also across restarts)
    std::int64_t ts_ms = 0;  // author's wall clock at publish, unix milliseconds
    core::Bytes payload;
    core::Signature sig;
    MessageId id;            // computed, never trusted from the wire
    core::Bytes encoded;     // the canonical envelope with its signature
};

// Someone to dial for a topic: from a DHT provider record or from peer exchange (PX).
struct PeerAddress {
    NodeId id;
    std::vector<core::Endpoint> addrs;  // TCP link endpoints (same port numbers as the DHT)
    // The host's hint, never on the wire: the round trip it measured to this peer (the
    // DHT's estimate for a routing-table contact), 0 when unknown. Dials go to the
    // nearest measured candidates first.
    core::Duration rtt{0};
    friend bool operator==(PeerAddress const&, PeerAddress const&) = default;
};

}  // namespace pubsub
