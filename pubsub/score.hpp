// Peer scores, first version (PUBSUB-NOTES §1): P1 time in mesh and P2 first deliveries
// (small, capped, per topic), P4 invalid messages, P6 IP colocation and P7 behaviour
// penalties (squared). P3/P3b are off (see ScoreConfig). decay() runs each heartbeat.
// A disconnected peer's score is retained for a while so reconnecting does not clear a
// penalty. Pure bookkeeping: the router decides what the thresholds mean.
#pragma once

#include "core/time.hpp"
#include "pubsub/config.hpp"
#include "pubsub/types.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>

namespace pubsub {

// The parts of one peer's score, for observation and tests.
struct ScoreParts {
    double time_in_mesh = 0;     // P1 (weighted, all topics)
    double first_delivery = 0;   // P2
    double invalid = 0;          // P4
    double colocation = 0;       // P6
    double behaviour = 0;        // P7
    double total() const { return time_in_mesh + first_delivery + invalid + colocation + behaviour; }
};

class ScoreTable {
public:
    explicit ScoreTable(ScoreConfig const& config) : config_(config) {}

    // A link to `peer` came up; `group` is its colocation group (nullopt: exempt).
    void on_connected(NodeId const& peer, std::optional<std::uint64_t> group);
    void on_disconnected(core::Instant now, NodeId const& peer);
    void on_graft(core::Instant now, NodeId const& peer, TopicKey const& topic);
    void on_prune(NodeId const& peer, TopicKey const& topic);
    void on_first_delivery(NodeId const& peer, TopicKey const& topic);
    void on_invalid_message(NodeId const& peer);
    void add_behaviour_penalty(NodeId const& peer, double count = 1.0);
    // Decays counters and forgets retained scores that expired. Call each heartbeat.
    void decay(core::Instant now);

    double score(core::Instant now, NodeId const& peer) const { return parts(now, peer).total(); }
    ScoreParts parts(core::Instant now, NodeId const& peer) const;
    std::size_t size() const { return peers_.size(); }

private:
    struct TopicScore {
        std::optional<core::Instant> mesh_since;
        double first_deliveries = 0;
    };
    struct PeerScore {
        bool connected = false;
        bool retained = false;  // disconnected with a penalty, kept until retain_until
        std::optional<std::uint64_t> group;
        core::Instant retain_until{};
        double invalid = 0;
        double behaviour = 0;
        std::map<TopicKey, TopicScore> topics;
    };
    PeerScore& peer_entry(NodeId const& peer);
    void forget_oldest_retained();

    ScoreConfig config_;
    std::unordered_map<NodeId, PeerScore, core::NodeIdHash> peers_;
    std::unordered_map<std::uint64_t, std::size_t> group_counts_;  // connected peers per group
    std::size_t retained_ = 0;
};

}  // namespace pubsub
