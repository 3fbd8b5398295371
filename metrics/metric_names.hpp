// Every Prometheus metric name, label key and label value kadmium exports, defined once
// (after libtorrent's session_stats.cpp). The exporter, the Grafana dashboards and the
// Prometheus rules (grafana/check_dashboard.py parses this file) and docs/metrics.md all
// follow this table. It also defines the enums that index the pub/sub and store counters
// of metrics/snapshots.hpp, since those cores report through plain arrays.
// One exception: the `reason` values of kadmium_pubsub_dropped_total are the router's own
// name table (pubsub::drop_reason_names, a header-only table in pubsub/stats.hpp), so its
// 36 names are not written twice.
// It is not the exporter: it has no prometheus-cpp dependency and no code that runs.
// Invariant: each label table lists its values in the order of the enum it labels, so
// `table[static_cast<std::size_t>(e)]` is the label of `e`.
#pragma once

#include "dht/events.hpp"
#include "dht/stats.hpp"
#include "pubsub/stats.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace metrics {

enum class MetricType : std::uint8_t { counter, gauge, histogram };

struct MetricInfo {
    std::string_view name;
    MetricType type;
    std::string_view help;
};

// --- Metric names. ---
namespace name {
inline constexpr std::string_view peers = "kadmium_peers";
inline constexpr std::string_view active_peers = "kadmium_active_peers";
inline constexpr std::string_view lookup_duration_seconds = "kadmium_lookup_duration_seconds";
inline constexpr std::string_view lookup_hops = "kadmium_lookup_hops";
inline constexpr std::string_view rpc_total = "kadmium_rpc_total";
inline constexpr std::string_view packets_dropped_total = "kadmium_packets_dropped_total";
inline constexpr std::string_view bytes_total = "kadmium_bytes_total";
inline constexpr std::string_view packets_total = "kadmium_packets_total";
inline constexpr std::string_view dht_records = "kadmium_dht_records";
inline constexpr std::string_view store_errors_total = "kadmium_store_errors_total";
inline constexpr std::string_view routing_evictions_total = "kadmium_routing_evictions_total";
inline constexpr std::string_view dht_handoffs_total = "kadmium_dht_handoffs_total";
inline constexpr std::string_view dht_handoff_newcomers_skipped_total = "kadmium_dht_handoff_newcomers_skipped_total";
inline constexpr std::string_view provider_records_rejected_total = "kadmium_provider_records_rejected_total";
inline constexpr std::string_view lookups_in_flight = "kadmium_lookups_in_flight";
inline constexpr std::string_view uptime_seconds = "kadmium_uptime_seconds";
inline constexpr std::string_view build_info = "kadmium_build_info";
// Pub/sub (issue 8).
inline constexpr std::string_view messages_published_total = "kadmium_messages_published_total";
inline constexpr std::string_view messages_delivered_total = "kadmium_messages_delivered_total";
inline constexpr std::string_view message_delivery_latency_seconds = "kadmium_message_delivery_latency_seconds";
inline constexpr std::string_view messages_duplicate_total = "kadmium_messages_duplicate_total";
inline constexpr std::string_view messages_invalid_total = "kadmium_messages_invalid_total";
inline constexpr std::string_view mesh_peers = "kadmium_mesh_peers";
inline constexpr std::string_view topics = "kadmium_topics";
inline constexpr std::string_view links = "kadmium_links";
inline constexpr std::string_view link_bytes_total = "kadmium_link_bytes_total";
inline constexpr std::string_view link_frames_dropped_total = "kadmium_link_frames_dropped_total";
inline constexpr std::string_view gossip_control_total = "kadmium_gossip_control_total";
inline constexpr std::string_view pubsub_dropped_total = "kadmium_pubsub_dropped_total";
inline constexpr std::string_view peer_score = "kadmium_peer_score";
// Message store and catch-up (issue 9).
inline constexpr std::string_view catchup_messages_total = "kadmium_catchup_messages_total";
inline constexpr std::string_view sync_sessions_total = "kadmium_sync_sessions_total";
inline constexpr std::string_view store_messages = "kadmium_store_messages";
inline constexpr std::string_view store_bytes = "kadmium_store_bytes";
inline constexpr std::string_view store_capacity_bytes = "kadmium_store_capacity_bytes";
inline constexpr std::string_view store_commit_seconds = "kadmium_store_commit_seconds";
inline constexpr std::string_view lan_announcements_total = "kadmium_lan_announcements_total";
inline constexpr std::string_view dht_records_written_through_total = "kadmium_dht_records_written_through_total";
inline constexpr std::string_view dht_records_lost_total = "kadmium_dht_records_lost_total";
}  // namespace name

// The whole list, for documentation checks and tests that walk every metric.
inline constexpr std::array<MetricInfo, 39> all_metrics{{
    {name::peers, MetricType::gauge, "Contacts in the DHT routing table."},
    {name::active_peers, MetricType::gauge, "Routing table contacts heard from in the last 5 minutes."},
    {name::lookup_duration_seconds, MetricType::histogram,
     "Time from the start to the end of a DHT lookup, including lookups the node starts itself."},
    {name::lookup_hops, MetricType::histogram, "Path length of a finished DHT lookup to its closest responder."},
    {name::rpc_total, MetricType::counter, "DHT RPCs by type and outcome (requests sent and requests served)."},
    {name::packets_dropped_total, MetricType::counter, "Incoming DHT datagrams dropped, by reason."},
    {name::bytes_total, MetricType::counter, "DHT datagram bytes received (in) and sent (out)."},
    {name::packets_total, MetricType::counter, "DHT datagrams received (in) and sent (out)."},
    {name::dht_records, MetricType::gauge, "Records in the local DHT record store."},
    {name::store_errors_total, MetricType::counter, "Record store operations that failed (for example map full)."},
    {name::routing_evictions_total, MetricType::counter,
     "Routing table contacts replaced after they failed a ping."},
    {name::dht_handoffs_total, MetricType::counter,
     "Records this node sent to a node new to its table that is among their closest (hand-off)."},
    {name::dht_handoff_newcomers_skipped_total, MetricType::counter,
     "Nodes new to the routing table left out of a replication pass's hand-off (beyond its bound)."},
    {name::provider_records_rejected_total, MetricType::counter,
     "Topic provider records refused (by this node as a storer, in lookup answers, or at load), by reason."},
    {name::lookups_in_flight, MetricType::gauge, "DHT lookups started and not finished yet."},
    {name::uptime_seconds, MetricType::gauge, "Seconds since the node started."},
    {name::build_info, MetricType::gauge, "Always 1; the version label names the running build."},
    {name::messages_published_total, MetricType::counter, "Messages this node's applications published."},
    {name::messages_delivered_total, MetricType::counter,
     "Messages delivered to this node's subscribers (first valid copy of each)."},
    {name::message_delivery_latency_seconds, MetricType::histogram,
     "Time from the author's timestamp to local delivery of a live message (clock skew included)."},
    {name::messages_duplicate_total, MetricType::counter, "Message copies received again after the first one."},
    {name::messages_invalid_total, MetricType::counter, "Received messages dropped as invalid, by reason."},
    {name::mesh_peers, MetricType::gauge,
     "Mesh peers per subscribed topic (topics beyond the first few are summed under topic=\"other\")."},
    {name::topics, MetricType::gauge, "Topics this node is subscribed to."},
    {name::links, MetricType::gauge, "Open pub/sub links (TCP), by who dialed."},
    {name::link_bytes_total, MetricType::counter, "Pub/sub link bytes received (in) and sent (out)."},
    {name::link_frames_dropped_total, MetricType::counter,
     "Pub/sub link frames dropped, and links cut or refused, by reason."},
    {name::gossip_control_total, MetricType::counter, "Gossip control messages by type, received (in) and sent (out)."},
    {name::pubsub_dropped_total, MetricType::counter,
     "Pub/sub control items, records and messages the router dropped or refused, by reason."},
    {name::peer_score, MetricType::histogram, "Scores of the connected pub/sub peers, observed once per update."},
    {name::catchup_messages_total, MetricType::counter, "Messages fetched from peers by catch-up and anti-entropy."},
    {name::sync_sessions_total, MetricType::counter, "Reconciliation sessions with a peer, by outcome."},
    {name::store_messages, MetricType::gauge, "Messages in the local message store."},
    {name::store_bytes, MetricType::gauge, "Bytes used by the local message store."},
    {name::store_capacity_bytes, MetricType::gauge,
     "Bytes the local message store may use (0 when there is no message store)."},
    {name::store_commit_seconds, MetricType::histogram, "Duration of one store commit (a group of messages, or the DHT records written behind)."},
    {name::lan_announcements_total, MetricType::counter,
     "LAN discovery announcements sent, and received by what was done with them."},
    {name::dht_records_written_through_total, MetricType::counter,
     "DHT records stored synchronously because the write-behind queue was full."},
    {name::dht_records_lost_total, MetricType::counter,
     "DHT records accepted in memory that a failed commit lost (other replicas still hold them)."},
}};

// --- Label keys. ---
namespace label {
inline constexpr std::string_view type = "type";
inline constexpr std::string_view outcome = "outcome";
inline constexpr std::string_view reason = "reason";
inline constexpr std::string_view direction = "direction";
inline constexpr std::string_view kind = "kind";
inline constexpr std::string_view version = "version";
inline constexpr std::string_view topic = "topic";
inline constexpr std::string_view result = "result";
}  // namespace label

// --- Label values, in enum order. ---

// dht::DropReason, the `reason` of kadmium_packets_dropped_total.
inline constexpr std::array<std::string_view, 15> drop_reason_labels{
    "too_short",    "too_large",           "unknown_protocol",    "unknown_kind", "bad_public_key",
    "bad_mac",      "stale",               "replayed",            "malformed",    "unknown_transaction",
    "unexpected_response", "rate_limited", "bad_fragment",        "reassembly_full", "from_self",
};
static_assert(drop_reason_labels.size() == dht::drop_reason_count, "one label per dht::DropReason");
static_assert(static_cast<std::size_t>(dht::DropReason::from_self) == 14, "DropReason order changed: fix the table");

// dht::RpcType, the `type` of kadmium_rpc_total.
inline constexpr std::array<std::string_view, 7> rpc_type_labels{"hello", "ping",     "find_node",     "find_value",
                                                                  "store", "announce", "find_providers"};
static_assert(rpc_type_labels.size() == dht::rpc_type_count, "one label per dht::RpcType");
static_assert(static_cast<std::size_t>(dht::RpcType::find_providers) == 6, "RpcType order changed: fix the table");

// dht::RpcOutcome, the `outcome` of kadmium_rpc_total.
inline constexpr std::array<std::string_view, 4> rpc_outcome_labels{"ok", "timeout", "served", "rejected"};
static_assert(rpc_outcome_labels.size() == dht::rpc_outcome_count, "one label per dht::RpcOutcome");
static_assert(static_cast<std::size_t>(dht::RpcOutcome::rejected) == 3, "RpcOutcome order changed: fix the table");

// dht::LookupKind, the `kind` of the lookup histograms. LookupKind has no count_
// enumerator, so the last value is checked instead.
inline constexpr std::array<std::string_view, 5> lookup_kind_labels{"find_node", "get", "put", "find_providers",
                                                                     "announce"};
static_assert(static_cast<std::size_t>(dht::LookupKind::announce) + 1 == lookup_kind_labels.size(),
              "one label per dht::LookupKind");

// dht::ProviderReject, the `reason` label for provider records refused (by a storer, a
// provider lookup, or at load).
inline constexpr std::array<std::string_view, 12> provider_reject_labels{
    "bad_addrs",  "id_mismatch", "expired",     "expiry_too_far", "bad_signature", "wrong_topic",
    "not_owner",  "not_newer",   "topic_full",  "subnet_full",    "table_full",    "store_failed",
};
static_assert(provider_reject_labels.size() == dht::provider_reject_count, "one label per dht::ProviderReject");
static_assert(static_cast<std::size_t>(dht::ProviderReject::store_failed) == 11,
              "ProviderReject order changed: fix the table");

// The `direction` of kadmium_bytes_total and kadmium_packets_total.
inline constexpr std::string_view direction_in = "in";
inline constexpr std::string_view direction_out = "out";

// --- Pub/sub and store label enums (their cores do not exist in metrics/'s dependencies,
// so the exporter's input, metrics/snapshots.hpp, is indexed by these). ---

// Why a received message was dropped as invalid: the `reason` of kadmium_messages_invalid_total.
enum class InvalidReason : std::uint8_t {
    decode,            // the envelope did not decode
    too_large,         // payload above the node's limit
    unknown_topic,     // a topic the node neither subscribes to nor relays
    future_timestamp,  // author timestamp too far ahead of the local clock
    bad_signature,     // the ed25519 signature does not verify
    rejected,          // refused by validation after the signature (e.g. a repeated sequence number)
    bad_author,        // author key or id malformed, or not the sender it claims
    count_
};
inline constexpr std::size_t invalid_reason_count = static_cast<std::size_t>(InvalidReason::count_);
inline constexpr std::array<std::string_view, invalid_reason_count> invalid_reason_labels{
    "decode", "too_large", "unknown_topic", "future_timestamp", "bad_signature", "rejected", "bad_author"};
static_assert(!invalid_reason_labels.back().empty(), "one label per enumerator");

// Gossip control message types: the `type` of kadmium_gossip_control_total.
enum class ControlType : std::uint8_t { graft, prune, ihave, iwant, idontwant, choke, unchoke, count_ };
inline constexpr std::size_t control_type_count = static_cast<std::size_t>(ControlType::count_);
inline constexpr std::array<std::string_view, control_type_count> control_type_labels{
    "graft", "prune", "ihave", "iwant", "idontwant", "choke", "unchoke"};
static_assert(!control_type_labels.back().empty(), "one label per enumerator");

// pubsub::DropReason, the `reason` of kadmium_pubsub_dropped_total: its labels are
// pubsub::drop_reason_names (pubsub/stats.hpp), the router's own names, not a copy here.
// The host copies pubsub::Stats::dropped as it is (PubsubSnapshot::router_drops).

// Who opened a link: the `direction` of kadmium_links.
enum class LinkDirection : std::uint8_t { inbound, outbound, count_ };
inline constexpr std::size_t link_direction_count = static_cast<std::size_t>(LinkDirection::count_);
inline constexpr std::array<std::string_view, link_direction_count> link_direction_labels{"inbound", "outbound"};
static_assert(!link_direction_labels.back().empty(), "one label per enumerator");

// Received or sent: the `direction` of kadmium_link_bytes_total and
// kadmium_gossip_control_total (the same "in"/"out" as kadmium_bytes_total).
enum class Flow : std::uint8_t { in, out, count_ };
inline constexpr std::size_t flow_count = static_cast<std::size_t>(Flow::count_);

// Why a link frame was dropped or a link cut or refused: the `reason` of
// kadmium_link_frames_dropped_total.
enum class LinkDropReason : std::uint8_t {
    queue_full,         // the link's byte-bounded send queue had no room for the frame
    frame_too_large,    // a frame above the size limit (received or about to be sent)
    decrypt_failed,     // a frame that failed secretstream authentication (link cut)
    handshake_failed,   // a Noise handshake that failed or proved the wrong node id
    handshake_timeout,  // a handshake not finished in time
    slow_peer,          // a peer that could not keep up, cut
    too_many_links,     // a link refused at the links-per-node limit
    handshake_rate,     // a handshake refused by the per-source-address rate limit
    count_
};
inline constexpr std::size_t link_drop_reason_count = static_cast<std::size_t>(LinkDropReason::count_);
inline constexpr std::array<std::string_view, link_drop_reason_count> link_drop_reason_labels{
    "queue_full", "frame_too_large", "decrypt_failed", "handshake_failed",
    "handshake_timeout", "slow_peer", "too_many_links", "handshake_rate"};
static_assert(!link_drop_reason_labels.back().empty(), "one label per enumerator");

// How a reconciliation session with a peer ended: the `outcome` of kadmium_sync_sessions_total.
enum class SyncOutcome : std::uint8_t {
    ok,       // the ranges were reconciled and the missing messages fetched
    failed,   // the peer vanished, timed out or sent something invalid
    refused,  // the peer (or this node) declined the session
    budget,   // stopped at the round, byte or message budget
    count_
};
inline constexpr std::size_t sync_outcome_count = static_cast<std::size_t>(SyncOutcome::count_);
inline constexpr std::array<std::string_view, sync_outcome_count> sync_outcome_labels{"ok", "failed", "refused",
                                                                                      "budget"};
static_assert(!sync_outcome_labels.back().empty(), "one label per enumerator");

// kadmium_mesh_peers has one series per topic for at most this many topics at a time (first
// come, first served, a slot freed when its topic leaves); the rest are summed under
// topic="other", which always exists. Topic names that are longer than
// max_topic_label_bytes or not printable UTF-8 go to "other" too. Bounds the series count
// whatever topics peers make the node join.
inline constexpr std::size_t max_topic_series = 32;
inline constexpr std::size_t max_topic_label_bytes = 128;
inline constexpr std::string_view other_topic_label = "other";
// The `result` of kadmium_lan_announcements_total, in the order of node::LanDiscovery's
// counts (node/lan_discovery.hpp asserts the size): received ones by verdict, then sent.
inline constexpr std::array<std::string_view, 9> lan_result_labels{
    "accepted", "malformed", "self", "not_lan", "known", "repeat", "flood", "sent", "send_failed"};

// --- Histogram buckets (upper bounds; +Inf is implicit). ---

// Lookups take from about a millisecond (a LAN with a tiny table) to tens of seconds
// (several RPC timeouts in a row); roughly 1-2.5-5 steps keep p99 resolvable everywhere.
inline constexpr std::array<double, 14> lookup_duration_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
// Kademlia needs about log2(n)/b hops; 10 covers networks far larger than ours, and one
// bucket per hop keeps small counts exact. A 0-hop lookup (empty table) falls in le="1".
inline constexpr std::array<double, 10> lookup_hops_buckets{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

// Delivery latency is author clock to local clock: sub-millisecond on loopback, tens of ms
// across regions, seconds when a relay queues; beyond a minute it is clock skew or a
// catch-up that the host should not have observed.
inline constexpr std::array<double, 16> delivery_latency_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                 0.05,   0.1,   0.25,   0.5,   1.0,  2.5,
                                                                 5.0,    10.0,  30.0,   60.0};
// Peer scores around the thresholds of PUBSUB-NOTES (graylist -10000, publish -1000,
// gossip -100, acceptPX 100): one bucket edge at each, and decades between.
inline constexpr std::array<double, 10> peer_score_buckets{-10000, -1000, -100, -10, -1, 0, 1, 10, 100, 1000};
// One LMDB commit of a group of messages: ~0.1 ms without fsync, 1-20 ms with, more when
// the disk is busy.
inline constexpr std::array<double, 12> store_commit_buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                             0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

// Label lookups by enum; no bounds check needed since the arrays match the enums.
constexpr std::string_view label_of(dht::DropReason r) { return drop_reason_labels[static_cast<std::size_t>(r)]; }
constexpr std::string_view label_of(dht::RpcType t) { return rpc_type_labels[static_cast<std::size_t>(t)]; }
constexpr std::string_view label_of(dht::RpcOutcome o) { return rpc_outcome_labels[static_cast<std::size_t>(o)]; }
constexpr std::string_view label_of(dht::LookupKind k) { return lookup_kind_labels[static_cast<std::size_t>(k)]; }
constexpr std::string_view label_of(dht::ProviderReject r) {
    return provider_reject_labels[static_cast<std::size_t>(r)];
}
constexpr std::string_view label_of(InvalidReason r) { return invalid_reason_labels[static_cast<std::size_t>(r)]; }
constexpr std::string_view label_of(ControlType t) { return control_type_labels[static_cast<std::size_t>(t)]; }
constexpr std::string_view label_of(LinkDirection d) { return link_direction_labels[static_cast<std::size_t>(d)]; }
constexpr std::string_view label_of(Flow f) { return f == Flow::in ? direction_in : direction_out; }
constexpr std::string_view label_of(LinkDropReason r) {
    return link_drop_reason_labels[static_cast<std::size_t>(r)];
}
constexpr std::string_view label_of(SyncOutcome o) { return sync_outcome_labels[static_cast<std::size_t>(o)]; }
constexpr std::string_view label_of(pubsub::DropReason r) {
    return pubsub::drop_reason_names[static_cast<std::size_t>(r)];
}

}  // namespace metrics
