// sim::PubsubWorkload: the pub/sub part of a kadmium-sim run, and its delivery checker.
// At the start of the workload, `subscribers` random joined nodes subscribe (spread over
// subscribe_window, round-robin over `topics` topics); after mesh_settle, `messages`
// messages of msg_size bytes are published by random joined nodes (subscribers or not),
// spread evenly over the rest of the workload. With `offline`, a fraction of the
// subscribers goes offline for a window of the publishing period (the node stops and
// keeps its stores, as a process restarted from disk) and then comes back, subscribing
// again; the messages published meanwhile are its *missed* ones, which catch-up must
// bring. The checker fails the run on a message delivered twice to one node's application
// (across lives), or a delivery of a message that was never published (a forged or
// corrupted envelope, or a bad signature accepted: the id of what was delivered is
// recomputed from its bytes). Delivery is measured against subscribers up for the whole
// run, planned absences included: each must get every message of its topic published
// while it was subscribed, whether live or by catch-up. It is not the scenario
// (scenario.hpp runs the phases, starts and stops nodes, and calls it).
#pragma once

#include "core/rng.hpp"
#include "core/time.hpp"
#include "pubsub/config.hpp"
#include "pubsub/router.hpp"
#include "sim/sim_node.hpp"
#include "sim/simulator.hpp"

#include <array>
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
    // --offline: this fraction of the subscribers goes offline at offline_start and comes
    // back offline_length later, both fractions of the publishing period (from the first
    // publish to the end of the workload). Each one leaves and returns at its own instant
    // within offline_spread after those edges.
    double offline = 0.0;
    double offline_start = 0.2;
    double offline_length = 0.4;
    core::Duration offline_spread = 1s;
    // The routers' CatchupConfig::anti_entropy_interval for the run (zero: off).
    core::Duration anti_entropy_interval = pubsub::CatchupConfig{}.anti_entropy_interval;
    // The routers' Config::choke_keep (--choke-keep; 0: choking off).
    std::size_t choke_keep = pubsub::Config{}.choke ? pubsub::Config{}.choke_keep : 0;
    // How long the run goes on after the workload (the last publish): messages in flight,
    // catch-up, anti-entropy after a healed partition. nullopt: the scenario's default
    // (pubsub_drain() in scenario.hpp).
    std::optional<core::Duration> drain;
    bool enabled() const { return subscribers > 0 || messages > 0; }
};

// Catch-up after an absence (--offline) and after a partition, with the routers' catch-up
// counters summed over every node and life (the report's `catchup` section).
struct CatchupSummary {
    std::size_t offline_planned = 0;      // subscribers chosen to go offline
    std::size_t offline_subscribers = 0;  // went offline and came back
    std::size_t offline_skipped = 0;      // chosen but already down (a crash or churn)
    // (subscriber, message) pairs of messages published while the subscriber was offline,
    // and how many of them reached its application after it came back (live or caught up).
    std::size_t missed = 0;
    std::size_t recovered = 0;
    std::size_t recovered_caught_up = 0;  // of them, delivered with Delivered::caught_up
    double recovered_ratio = 1.0;
    // Per returning subscriber that missed something: time from its return until it had
    // every message it missed (only those that got them all: the others are unrecovered).
    std::size_t recovered_subscribers = 0;
    std::size_t unrecovered_subscribers = 0;
    double catchup_s_p50 = 0, catchup_s_p99 = 0, catchup_s_max = 0;
    std::vector<std::string> unrecovered_examples;  // "node n: k of m missed messages never arrived"
    // Expected deliveries whose subscriber the publisher could not reach when it published
    // (a partition), how many arrived all the same, and the longest such wait.
    std::size_t partition_cut = 0;
    std::size_t partition_cut_delivered = 0;
    double partition_cut_latency_s_max = 0;
    // Every delivery the routers marked caught_up, on any node.
    std::size_t caught_up_deliveries = 0;
    // Router counters, all nodes and lives (pubsub/stats.hpp).
    CatchupCounters counters;
    // counters.sync_bytes_sent / (recovered + partition_cut_delivered); 0 when none.
    double sync_bytes_per_recovered_message = 0;
};

// The mesh of topic 0 among its running subscribers, at one instant: how many mesh peers
// each has, and whether the mesh (edges both ends agree on) connects them all. A message
// reaches a subscriber outside the publisher's component only by gossip (IHAVE/IWANT).
struct MeshShape {
    bool taken = false;
    std::size_t subscribers = 0;  // running, subscribed
    std::size_t degree_min = 0, degree_p50 = 0, degree_max = 0;
    std::size_t below_d_lo = 0;        // subscribers with fewer than D_lo mesh peers
    std::size_t components = 0;        // connected components of the mesh
    std::size_t largest_component = 0;
    std::size_t one_sided_edges = 0;   // A meshes with B, B not with A
};

// Where a cold publish's time goes: the milestones of a publish from a node outside the
// topic, in the order they usually come. Each is timed from the publish call, on the
// publisher (the first four) or at the subscribers expected to get it (the last two).
enum class ColdStep : std::uint8_t {
    first_dial,      // the first link dialed (a provider record arrived; the engine dials at once)
    lookup_done,     // the topic's provider lookup ended (LookupDone)
    first_link,      // the first link up: its Noise handshake done on the publisher's side
    first_sent,      // the first copy of the message handed to a link (a pending publish sent)
    first_delivery,  // the first expected subscriber delivered it
    last_delivery,   // the last expected subscriber delivered it (of those that did)
};
inline constexpr std::size_t cold_step_count = 6;
char const* to_string(ColdStep step);
// The step a milestone is timed from in `since_previous` (lookup_done runs beside the
// dials, so it is timed from the publish like first_dial).
ColdStep previous_of(ColdStep step);

struct ColdMilestone {
    std::size_t count = 0;             // cold messages that reached it
    double ms_p50 = 0, ms_p99 = 0;     // since the publish call
    double step_ms_p50 = 0, step_ms_p99 = 0;  // since the previous milestone (previous_of)
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
    // The cold publishes timed milestone by milestone (ColdStep).
    std::size_t cold_published = 0;
    std::array<ColdMilestone, cold_step_count> cold_steps{};
    // Split by how each expected delivery reached its subscriber (pubsub::Arrival), warm
    // publishers only: the mesh path against gossip (IWANT) and catch-up.
    struct ArrivalSplit {
        std::size_t deliveries = 0;
        double latency_ms_p50 = 0, latency_ms_p99 = 0;
    };
    std::array<ArrivalSplit, pubsub::arrival_count> warm_by_arrival{};
    std::size_t subscribers_offline = 0;  // subscribers with a planned absence that came back
    MeshShape mesh_at_first_publish, mesh_at_end;
    CatchupSummary catchup;
};

// How the workload takes a subscriber offline and brings it back: the scenario stops the
// node keeping its stores (SimNode::stop(false)) and restarts it with the same identity,
// bootstrapping again; the restart calls on_up, which subscribes again.
struct NodeControl {
    std::function<void(NodeIndex)> stop;
    std::function<void(NodeIndex)> restart;
};

class PubsubWorkload {
public:
    PubsubWorkload(Simulator& sim, PubsubOptions const& options, std::uint64_t seed);

    // Picks the subscribers and schedules subscriptions and publishes in [start, end).
    // `pick` gives a random running, joined node.
    // With `offline`, `control` takes the chosen subscribers offline and back.
    void schedule(core::Instant start, core::Instant end, std::function<NodeIndex()> pick, NodeControl control = {});
    // The simulator's delivery hook.
    void on_delivered(NodeIndex node, pubsub::Delivered const& delivered);
    // Node lifecycle, from the scenario: a node went down (crash or leave) or came back
    // (a restarted subscriber subscribes again, as the runtime does from its saved list).
    void on_down(NodeIndex node);
    void on_up(NodeIndex node);
    // The simulator's on_watched hook: times the milestones of cold publishes (ColdStep).
    void on_watched(NodeIndex node, std::vector<node::Event> const& events);

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
        // Cold publishes: when the publisher reached each of its own milestones
        // (ColdStep::first_dial .. first_sent); unset until reached.
        std::array<std::optional<core::Instant>, 4> cold_at{};
    };
    // A cold publish being timed: its publisher is watched until every publisher-side
    // milestone is reached or cold_watch_max passes. Counters as they were before it.
    struct ColdWatch {
        std::size_t message = 0;
        std::uint64_t streams_opened = 0;
        std::uint64_t links_established = 0;
        std::uint64_t pending_sent = 0;
    };
    static constexpr core::Duration cold_watch_max = 60s;
    struct Subscriber {
        std::size_t topic = 0;
        core::Instant subscribed_at = core::Instant::max();
        bool whole_run = true;  // never went down, apart from its planned absence
        bool offline_planned = false;
        // The planned absence: [down_at, back_at); max while it has not happened.
        core::Instant down_at = core::Instant::max();
        core::Instant back_at = core::Instant::max();
    };

    void subscribe(NodeIndex node);
    void publish(std::size_t index, NodeIndex origin);
    void schedule_offline(std::vector<NodeIndex> const& chosen, core::Instant first, core::Duration span);
    void go_offline(NodeIndex node);
    void come_back(NodeIndex node);
    void summarise_catchup(PubsubSummary& r) const;
    void summarise_cold(PubsubSummary& r) const;
    void dump_deliveries() const;
    ColdWatch cold_counters(NodeIndex node) const;
    void stop_watching(NodeIndex node);
    MeshShape mesh_shape() const;
    // Whether the subscriber's deliveries are expected: up all run apart from a complete
    // planned absence, and subscribed.
    static bool counted(Subscriber const& s);
    static std::uint64_t key_of(NodeIndex node, std::size_t m) { return (static_cast<std::uint64_t>(node) << 32) | m; }

    Simulator& sim_;
    PubsubOptions options_;
    core::Rng rng_;
    std::unordered_map<NodeIndex, Subscriber> subscribers_;
    std::vector<Published> published_;
    std::unordered_map<core::NodeId, std::size_t, core::NodeIdHash> index_of_id_;
    // Deliveries per (node, message index), across lives: the exactly-once check.
    std::unordered_set<std::uint64_t> delivered_;
    // Latency and path of each delivery, by (node << 32 | message index).
    struct Delivery {
        double latency_ms = 0;
        pubsub::Arrival arrival = pubsub::Arrival::mesh;
    };
    std::unordered_map<std::uint64_t, Delivery> delivery_of_;
    std::size_t caught_up_deliveries_ = 0;
    // (subscriber, message) pairs the publisher could not reach when it published.
    std::unordered_set<std::uint64_t> cut_;
    NodeControl control_;
    // The node the workload is taking offline right now (on_down keeps it whole_run).
    std::optional<NodeIndex> going_offline_;
    MeshShape mesh_at_first_publish_;
    std::size_t offline_chosen_ = 0, offline_skipped_ = 0;
    std::size_t delivered_total_ = 0;
    std::size_t publish_failed_ = 0;
    std::size_t double_deliveries_ = 0;
    std::size_t unknown_deliveries_ = 0;
    std::optional<std::size_t> publishing_;  // the message being published right now
    std::unordered_map<NodeIndex, ColdWatch> cold_watch_;  // publishers being timed
};

}  // namespace sim
