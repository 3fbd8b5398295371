// Plain counters the pub/sub router keeps about itself. The host copies them into
// Prometheus families (kadmium_messages_*_total, kadmium_gossip_control_total{type,
// direction}, kadmium_pubsub_dropped_total{reason}); the simulator sums them into its
// report. Every enum has a name table so label values are defined once. Not per-peer
// state (scores are in score.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace pubsub {

// Why a message was refused (kadmium_messages_invalid_total{reason}).
enum class InvalidReason : std::uint8_t {
    decode,            // the envelope did not parse
    too_large,         // payload above the configured maximum
    unknown_topic,     // a topic this node has not joined
    future_timestamp,  // author timestamp beyond now + future_tolerance
    bad_signature,     // ed25519 verification failed
    rejected,          // the application validator said reject
    bad_author,        // signed with this node's own key but not published by this run
    count_
};
inline constexpr std::size_t invalid_reason_count = static_cast<std::size_t>(InvalidReason::count_);
char const* to_string(InvalidReason r);

enum class ControlType : std::uint8_t { graft, prune, ihave, iwant, idontwant, choke, unchoke, count_ };
inline constexpr std::size_t control_type_count = static_cast<std::size_t>(ControlType::count_);
char const* to_string(ControlType t);

enum class Direction : std::uint8_t { in, out, count_ };
inline constexpr std::size_t direction_count = static_cast<std::size_t>(Direction::count_);
char const* to_string(Direction d);

// Input the router ignored without it being an invalid message.
enum class DropReason : std::uint8_t {
    graylisted,               // frame from a peer below the graylist threshold
    bad_frame,                // the host could not decode a frame (handle_bad_frame)
    unknown_link,             // an Rpc for a link that is not up
    subscriptions_over_limit, // a peer announced more topics than subscriptions_per_peer_max
    graft_unknown_topic,      // GRAFT for a topic we have not joined
    graft_in_backoff,         // GRAFT inside the backoff we gave (answered with PRUNE)
    graft_negative_score,     // GRAFT from a peer with a negative score (answered with PRUNE)
    graft_mesh_full,          // GRAFT at D_hi from an inbound peer (outbound quota)
    px_rejected,              // PX records from a peer below accept_px
    // Signed peer exchange (docs/protocol.md, "Peer exchange"): each PX record dropped,
    // by the first check it failed. Those marked * cost the sender P4 like an invalid frame.
    px_wrong_topic,           // * a record for another topic than its PRUNE's
    px_bad_addrs,             // * no address, more than four, or an unusable one
    px_expired,               // expired on arrival (* when by more than record_clock_skew)
    px_expiry_too_far,        // * valid for longer than record_lifetime_max
    px_bad_signature,         // * not signed by the node it names (checked just before dialing it)
    px_known,                 // names ourselves, a peer already linked, or one named twice
    // A peer's own records (Rpc::records), kept to pass on in PX.
    record_not_own,           // * a record of another node than the link's peer
    record_not_subscribed,    // for a topic the peer has not announced (a race with its unsubscribe)
    record_invalid,           // * failed a field check, or its signature when first passed on
    ihave_below_gossip,       // IHAVE/IWANT from a peer below the gossip threshold
    ihave_unknown_topic,      // IHAVE for a topic we have not joined
    ihave_over_limit,         // more than ihave_per_heartbeat_max IHAVEs, or ids beyond the ask budget
    iwant_over_serve_limit,   // an id asked more than iwant_serve_max times by one peer
    iwant_unknown_id,         // an asked id no longer (or never) in the message cache
    idontwant_over_limit,     // IDONTWANT ids beyond the per-heartbeat bound
    validator_ignored,        // the application validator said ignore
    dial_timeout,             // the host reported neither link up nor failure in time
    old_not_relayed,          // a valid message older than seen_ttl: stored and delivered, not relayed
    pending_expired,          // a message published with no peer known that no peer came for
    pending_full,             // the pending queue was full: the oldest publish was dropped
    store_full,               // the message store refused a valid message
    self_link,                // a link to ourselves
    duplicate_link,           // a second link to a peer (the dialer with the smaller id wins)
    sync_unsolicited,         // a SYNC reply or FETCH reply for no session or request of ours
    serve_over_budget,        // a FETCH/HISTORY asked beyond the peer's byte bucket (answered in part)
    catchup_over_budget,      // missing ids beyond a pass's message or byte budget (left to anti-entropy)
    choke_not_mesh,           // CHOKE/UNCHOKE from a peer not in that topic's mesh (a race with PRUNE)
    count_
};
inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(DropReason::count_);
// The names of DropReason in enum order: to_string(DropReason) and the `reason` label of
// kadmium_pubsub_dropped_total (metrics/ reads this header-only table and links no pubsub
// code). The one table of these names.
inline constexpr std::array<char const*, drop_reason_count> drop_reason_names{
    "graylisted",             "bad_frame",             "unknown_link",          "subscriptions_over_limit",
    "graft_unknown_topic",    "graft_in_backoff",      "graft_negative_score",  "graft_mesh_full",
    "px_rejected",            "px_wrong_topic",        "px_bad_addrs",          "px_expired",
    "px_expiry_too_far",      "px_bad_signature",      "px_known",              "record_not_own",
    "record_not_subscribed",  "record_invalid",        "ihave_below_gossip",    "ihave_unknown_topic",
    "ihave_over_limit",       "iwant_over_serve_limit", "iwant_unknown_id",     "idontwant_over_limit",
    "validator_ignored",      "dial_timeout",          "old_not_relayed",       "pending_expired",
    "pending_full",           "store_full",            "self_link",             "duplicate_link",
    "sync_unsolicited",       "serve_over_budget",     "catchup_over_budget",   "choke_not_mesh",
};
static_assert(drop_reason_names.back() != nullptr, "one name per DropReason");
char const* to_string(DropReason r);

// How a set-reconciliation session ended (kadmium_sync_sessions_total{outcome}); counted on
// the side that started it, except `served`.
enum class SyncOutcome : std::uint8_t {
    complete,   // reconciled and every missing message fetched (or none was missing)
    partial,    // reconciled, but some fetches failed or a budget cut the pass short
    busy,       // the peer had no session slot
    refused,    // the peer does not keep the topic, or the request was out of bounds
    timeout,    // the peer went silent or the link went down
    failed,     // a malformed reconciliation message, or too many rounds
    served,     // a session this node answered (responder side)
    count_
};
inline constexpr std::size_t sync_outcome_count = static_cast<std::size_t>(SyncOutcome::count_);
char const* to_string(SyncOutcome o);

struct Stats {
    std::uint64_t published = 0;         // messages this node signed
    std::uint64_t delivered = 0;         // messages handed to the local application
    std::uint64_t duplicate = 0;         // messages received again (seen-cache or store)
    std::uint64_t received = 0;          // message envelopes received, all outcomes
    std::uint64_t forwarded = 0;         // message copies sent to peers (relay, not own publish)
    std::uint64_t flood_hint_skips = 0;  // forwards not sent: the author's flood hint named the peer
    std::uint64_t publish_sends = 0;     // copies of own messages sent
    std::uint64_t signature_verifies = 0;  // ed25519 verifications run (at most one per new id)
    std::uint64_t iwant_served = 0;      // messages sent because a peer asked
    std::uint64_t promises_broken = 0;   // IWANT promises a peer did not keep within the timeout
    std::uint64_t idontwant_sent_ids = 0;
    std::uint64_t lazy_ihave_ids = 0;    // message ids announced to mesh peers that choked us, instead of the message
    std::uint64_t pending_sent = 0;      // pending publishes sent once a peer appeared
    std::uint64_t need_peers = 0;        // NeedPeers events
    std::uint64_t dials = 0;             // Dial events
    std::uint64_t near_dials = 0;        // of which beyond the target, to measured candidates (Config::pending_near_dials)
    std::uint64_t dials_failed = 0;
    std::uint64_t links_up = 0;
    std::uint64_t links_down = 0;
    std::uint64_t heartbeats = 0;
    std::uint64_t px_received = 0;       // PX records accepted as dial candidates
    std::uint64_t px_sent = 0;
    std::uint64_t record_verifies = 0;   // ed25519 checks of peer records (each record at most once)
    std::uint64_t records_sent = 0;      // own signed records sent to topic peers
    // Catch-up (PUBSUB-NOTES §4).
    std::uint64_t catchup_messages = 0;     // messages found by catch-up, new to this node
    std::uint64_t sync_bytes_sent = 0;      // SYNC/FETCH/HISTORY requests and replies, bytes
    std::uint64_t sync_bytes_received = 0;  //   (envelopes included), both roles
    std::uint64_t fetch_served = 0;         // messages sent in FETCH/HISTORY replies
    std::uint64_t anti_entropy_runs = 0;
    std::array<std::uint64_t, sync_outcome_count> sync_sessions{};
    std::array<std::uint64_t, invalid_reason_count> invalid{};
    std::array<std::array<std::uint64_t, direction_count>, control_type_count> control{};
    std::array<std::uint64_t, drop_reason_count> dropped{};

    std::uint64_t& invalid_count(InvalidReason r) { return invalid[static_cast<std::size_t>(r)]; }
    std::uint64_t invalid_count(InvalidReason r) const { return invalid[static_cast<std::size_t>(r)]; }
    std::uint64_t& control_count(ControlType t, Direction d) {
        return control[static_cast<std::size_t>(t)][static_cast<std::size_t>(d)];
    }
    std::uint64_t control_count(ControlType t, Direction d) const {
        return control[static_cast<std::size_t>(t)][static_cast<std::size_t>(d)];
    }
    std::uint64_t& sync_count(SyncOutcome o) { return sync_sessions[static_cast<std::size_t>(o)]; }
    std::uint64_t sync_count(SyncOutcome o) const { return sync_sessions[static_cast<std::size_t>(o)]; }
    std::uint64_t& drop(DropReason r) { return dropped[static_cast<std::size_t>(r)]; }
    std::uint64_t drop(DropReason r) const { return dropped[static_cast<std::size_t>(r)]; }
    std::uint64_t invalid_total() const {
        std::uint64_t n = 0;
        for (auto v : invalid) n += v;
        return n;
    }
};

}  // namespace pubsub
