// Every Prometheus metric name, label key and label value kadmium exports, defined once
// (after libtorrent's session_stats.cpp). The exporter, the Grafana dashboards
// (grafana/check_dashboard.py greps this file) and docs/metrics.md all follow this table.
// It is not the exporter: it has no prometheus-cpp dependency and no code that runs.
// Invariant: each label table lists its values in the order of the dht:: enum it labels,
// so `table[static_cast<std::size_t>(e)]` is the label of `e`.
#pragma once

#include "dht/events.hpp"
#include "dht/stats.hpp"

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
inline constexpr std::string_view lookups_in_flight = "kadmium_lookups_in_flight";
inline constexpr std::string_view uptime_seconds = "kadmium_uptime_seconds";
inline constexpr std::string_view build_info = "kadmium_build_info";
inline constexpr std::string_view lan_announcements_total = "kadmium_lan_announcements_total";
}  // namespace name

// The whole list, for documentation checks and tests that walk every metric.
inline constexpr std::array<MetricInfo, 15> all_metrics{{
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
    {name::lookups_in_flight, MetricType::gauge, "DHT lookups started and not finished yet."},
    {name::uptime_seconds, MetricType::gauge, "Seconds since the node started."},
    {name::build_info, MetricType::gauge, "Always 1; the version label names the running build."},
    {name::lan_announcements_total, MetricType::counter,
     "LAN discovery announcements sent, and received by what was done with them."},
}};

// --- Label keys. ---
namespace label {
inline constexpr std::string_view type = "type";
inline constexpr std::string_view outcome = "outcome";
inline constexpr std::string_view reason = "reason";
inline constexpr std::string_view direction = "direction";
inline constexpr std::string_view kind = "kind";
inline constexpr std::string_view version = "version";
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
inline constexpr std::array<std::string_view, 5> rpc_type_labels{"hello", "ping", "find_node", "find_value",
                                                                  "store"};
static_assert(rpc_type_labels.size() == dht::rpc_type_count, "one label per dht::RpcType");
static_assert(static_cast<std::size_t>(dht::RpcType::store) == 4, "RpcType order changed: fix the table");

// dht::RpcOutcome, the `outcome` of kadmium_rpc_total.
inline constexpr std::array<std::string_view, 4> rpc_outcome_labels{"ok", "timeout", "served", "rejected"};
static_assert(rpc_outcome_labels.size() == dht::rpc_outcome_count, "one label per dht::RpcOutcome");
static_assert(static_cast<std::size_t>(dht::RpcOutcome::rejected) == 3, "RpcOutcome order changed: fix the table");

// dht::LookupKind, the `kind` of the lookup histograms. LookupKind has no count_
// enumerator, so the last value is checked instead.
inline constexpr std::array<std::string_view, 3> lookup_kind_labels{"find_node", "get", "put"};
static_assert(static_cast<std::size_t>(dht::LookupKind::put) + 1 == lookup_kind_labels.size(),
              "one label per dht::LookupKind");

// The `direction` of kadmium_bytes_total and kadmium_packets_total.
inline constexpr std::string_view direction_in = "in";
inline constexpr std::string_view direction_out = "out";

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

// Label lookups by enum; no bounds check needed since the arrays match the enums.
constexpr std::string_view label_of(dht::DropReason r) { return drop_reason_labels[static_cast<std::size_t>(r)]; }
constexpr std::string_view label_of(dht::RpcType t) { return rpc_type_labels[static_cast<std::size_t>(t)]; }
constexpr std::string_view label_of(dht::RpcOutcome o) { return rpc_outcome_labels[static_cast<std::size_t>(o)]; }
constexpr std::string_view label_of(dht::LookupKind k) { return lookup_kind_labels[static_cast<std::size_t>(k)]; }

}  // namespace metrics
