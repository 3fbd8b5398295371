// What the host reads from the pub/sub core and the message store and hands to
// metrics::Exporter (update_pubsub, update_store). Plain structs with no behaviour: metrics/
// links no pubsub/ or message store code, so the host copies their counters in (it reads
// only pubsub/stats.hpp's DropReason and its name table, a header).
// Not the counters' owner: the cores keep their own; these are copies taken just before an
// update. Counters are cumulative since the core started (the exporter adds their growth,
// like dht::Stats); gauges are the current values.
#pragma once

#include "metrics/metric_names.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace metrics {

// Mesh size of one subscribed topic.
struct TopicMesh {
    std::string topic;
    std::size_t peers = 0;
};

struct PubsubSnapshot {
    // --- Cumulative counters. ---
    std::uint64_t published = 0;  // messages the node's applications published
    std::uint64_t delivered = 0;  // messages delivered to local subscribers (first valid copy)
    std::uint64_t duplicate = 0;  // copies received after the first
    std::array<std::uint64_t, invalid_reason_count> invalid{};                    // by InvalidReason
    std::array<std::uint64_t, flow_count> link_bytes{};                          // by Flow (in, out)
    std::array<std::uint64_t, link_drop_reason_count> link_drops{};              // by LinkDropReason
    std::array<std::array<std::uint64_t, flow_count>, control_type_count> control{};  // [ControlType][Flow]
    std::array<std::uint64_t, pubsub::drop_reason_count> router_drops{};         // pubsub::Stats::dropped

    // --- Gauges. ---
    std::size_t topics = 0;                                    // subscribed topics
    std::array<std::size_t, link_direction_count> links{};    // open links by LinkDirection
    // Mesh peers of each subscribed topic, any order, one entry per topic (a repeated topic
    // is summed). Any length: the exporter bounds the series (max_topic_series).
    std::vector<TopicMesh> mesh_peers;

    std::uint64_t& invalid_count(InvalidReason r) { return invalid[static_cast<std::size_t>(r)]; }
    std::uint64_t& bytes(Flow f) { return link_bytes[static_cast<std::size_t>(f)]; }
    std::uint64_t& link_drop(LinkDropReason r) { return link_drops[static_cast<std::size_t>(r)]; }
    std::uint64_t& router_drop(pubsub::DropReason r) { return router_drops[static_cast<std::size_t>(r)]; }
    std::uint64_t& control_count(ControlType t, Flow f) {
        return control[static_cast<std::size_t>(t)][static_cast<std::size_t>(f)];
    }
    std::size_t& link_count(LinkDirection d) { return links[static_cast<std::size_t>(d)]; }
};

struct StoreSnapshot {
    // --- Cumulative counters. ---
    std::uint64_t catchup_messages = 0;  // messages fetched by catch-up and anti-entropy
    std::array<std::uint64_t, sync_outcome_count> sync_sessions{};  // by SyncOutcome
    std::uint64_t dht_records_written_through = 0;  // write-behind queue full: stored synchronously
    std::uint64_t dht_records_lost = 0;             // accepted in memory, lost by a failed commit

    // --- Gauges. ---
    std::uint64_t messages = 0;        // messages stored
    std::uint64_t bytes = 0;           // bytes used by stored messages
    std::uint64_t capacity_bytes = 0;  // the most the store may use (its total size limit)

    std::uint64_t& sync_count(SyncOutcome o) { return sync_sessions[static_cast<std::size_t>(o)]; }
};

}  // namespace metrics
