// sim::PubsubWorkload: the pub/sub part of a kadmium-sim run, and its delivery checker.
// At the start of the workload, `subscribers` random joined nodes subscribe (spread over
// subscribe_window, round-robin over `topics` topics); after mesh_settle, `messages`
// messages of msg_size bytes are published by random joined nodes (subscribers or not),
// spread evenly over the rest of the workload. The checker fails the run on a message
// delivered twice to one node's application, or a delivery of a message that was never
// published (a forged or corrupted envelope, or a bad signature accepted: the id of what
// was delivered is recomputed from its bytes). Delivery is measured against subscribers
// up for the whole run: each must get every message of its topic published while it was
// subscribed. It is not the scenario (scenario.hpp runs the phases and calls it).
#pragma once

#include "core/rng.hpp"
#include "core/time.hpp"
#include "pubsub/router.hpp"
#include "sim/simulator.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sim {

using namespace std::chrono_literals;

struct PubsubOptions {
    std::size_t subscribers = 0;  // 0: no pub/sub in this run
    std::size_t messages = 0;
    std::size_t topics = 1;
    std::size_t msg_size = 1024;
    core::Duration subscribe_window = 10s;
    // Publishing starts this long after the last subscription (meshes form).
    core::Duration mesh_settle = 10s;
    // A message whose publisher goes down within this time after publishing is not
    // expected anywhere (it may never have left the node).
    core::Duration publisher_grace = 5s;
    bool enabled() const { return subscribers > 0 || messages > 0; }
};

struct PubsubSummary {
    bool ran = false;
    std::size_t subscribers = 0;
    std::size_t subscribers_whole_run = 0;
    std::size_t published = 0;
    std::size_t publish_failed = 0;  // refused by the router (none expected)
    std::size_t abandoned = 0;       // publisher went down within publisher_grace
    std::size_t expected_deliveries = 0;
    std::size_t delivered = 0;       // of the expected ones
    std::size_t delivered_total = 0; // every delivery, churned subscribers' too
    double delivery_ratio = 1.0;
    double latency_ms_p50 = 0, latency_ms_p90 = 0, latency_ms_p99 = 0, latency_ms_max = 0;
    double duplicates_per_delivery = 0;  // messages received again by a node / deliveries
    double bytes_per_delivery = 0;       // link bytes sent by all nodes / deliveries
    std::uint64_t link_bytes = 0;
    std::uint64_t duplicates = 0;
    std::size_t double_deliveries = 0;   // checker: must be 0
    std::size_t unknown_deliveries = 0;  // checker: must be 0
    std::vector<std::string> missed_examples;  // "message m to node n"
    std::vector<double> latencies_ms;    // every expected delivery (the CDF plot)
    // Split by publisher: warm (had topic peers and sent at once: a subscriber or an
    // established fanout) and cold (first looked the topic up in the DHT and dialed).
    std::size_t warm_deliveries = 0;
    double warm_latency_ms_p50 = 0, warm_latency_ms_p99 = 0;
    double cold_latency_ms_p50 = 0, cold_latency_ms_p99 = 0;
};

class PubsubWorkload {
public:
    PubsubWorkload(Simulator& sim, PubsubOptions const& options, std::uint64_t seed);

    // Picks the subscribers and schedules subscriptions and publishes in [start, end).
    // `pick` gives a random running, joined node.
    void schedule(core::Instant start, core::Instant end, std::function<NodeIndex()> pick);
    // The simulator's delivery hook.
    void on_delivered(NodeIndex node, pubsub::Delivered const& delivered);
    // Node lifecycle, from the scenario: a node went down (crash or leave) or came back
    // (a restarted subscriber subscribes again, as the runtime does from its saved list).
    void on_down(NodeIndex node);
    void on_up(NodeIndex node);

    PubsubSummary summarise() const;
    static std::string topic_name(std::size_t t) { return "sim-topic-" + std::to_string(t); }

private:
    struct Published {
        NodeIndex origin = 0;
        std::size_t topic = 0;
        core::Instant at;
        bool published = false;
        bool warm = false;  // sent on links at once (see publish())
        bool abandoned = false;
    };
    struct Subscriber {
        std::size_t topic = 0;
        core::Instant subscribed_at = core::Instant::max();
        bool whole_run = true;  // never went down
    };

    void subscribe(NodeIndex node);
    void publish(std::size_t index, NodeIndex origin);

    Simulator& sim_;
    PubsubOptions options_;
    core::Rng rng_;
    std::unordered_map<NodeIndex, Subscriber> subscribers_;
    std::vector<Published> published_;
    std::unordered_map<core::NodeId, std::size_t, core::NodeIdHash> index_of_id_;
    // Deliveries per (node, message index), across lives: the exactly-once check.
    std::unordered_set<std::uint64_t> delivered_;
    // Latency of each delivery, by (node << 32 | message index).
    std::unordered_map<std::uint64_t, double> latency_of_;
    std::size_t delivered_total_ = 0;
    std::size_t publish_failed_ = 0;
    std::size_t double_deliveries_ = 0;
    std::size_t unknown_deliveries_ = 0;
    std::optional<std::size_t> publishing_;  // the message being published right now
};

}  // namespace sim
