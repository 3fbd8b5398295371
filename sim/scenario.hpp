// sim::Scenario: the standard kadmium-sim run, in phases on one virtual clock:
//   1. join:     node 0 starts alone; node i starts at i / join_rate and bootstraps from
//                1..bootstrap_peers random nodes that have already joined; or, with a
//                join window, every node starts at a random time within the window and
//                bootstraps from random nodes that started before it, joined or not;
//   2. settle:   nothing is injected while routing tables fill;
//   3. workload: `lookups` find_node lookups from random joined nodes to random targets,
//                spread evenly, while churn, crash/restart and partitions happen; `puts`
//                values put in the first half, `gets` of them in the second half;
//   4. drain:    no new work until every lookup, put and get has finished and every
//                running node has joined (bounded by the lookup deadline plus 10 s, twice
//                when gets may wait for their put);
//   5. liveness (optional): the network heals (no partition, loss or duplication; no more
//                churn or crashes), settles, and a final batch of lookups and gets of
//                every stored value must all succeed.
// It is not the event loop (Simulator) and not a report (report.hpp).
//
// The checker: a lookup succeeds when the closest contact it returns is the live, joined
// node closest to the target by XOR, other than the origin itself (a lookup reports the
// nodes that answered it), among the nodes on the origin's side of a partition,
// either when the lookup was issued or when it finished; churn may change the answer
// while the lookup runs, and both are correct answers. A node counts as joined once its
// own-id lookup (the DHT's join) has finished with at least one contact, until it crashes.
// A running node that is not joined yet but closer than every joined one is a correct
// answer too (it is live; the lookup found it). Failed lookups are diagnosed: how many
// live nodes were closer than the answer, and how many routing tables held the truth.
// A get succeeds when its values contain the value that was put under its key, whoever
// holds it and whether or not the putter is still up; a get that failed while the network
// was partitioned is excused when no running node the origin can reach held the value.
#pragma once

#include "core/bytes.hpp"
#include "core/node_id.hpp"
#include "core/time.hpp"
#include "dht/config.hpp"
#include "dht/stats.hpp"
#include "sim/pubsub_workload.hpp"
#include "sim/simulator.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sim {

using namespace std::chrono_literals;

struct PartitionSpec {
    core::Duration at{};        // after the workload starts
    core::Duration duration{};  // then it heals
    double fraction = 0.5;      // share of nodes on side 1
    bool one_way = false;       // side 0 cannot reach side 1; side 1 still reaches side 0
};

struct ScenarioOptions {
    std::uint64_t seed = 1;
    std::size_t nodes = 1000;
    std::size_t lookups = 1000;
    double churn = 0.0;  // this fraction of `nodes` leaves during the workload; as many join
    std::size_t crashes = 0;
    core::Duration downtime = 30s;
    std::vector<PartitionSpec> partitions;
    CryptoMode crypto = CryptoMode::standin;
    NetworkOptions network;
    dht::Config dht = sim_dht_config();
    double join_rate = 500.0;  // nodes per virtual second in the join phase
    core::Duration settle = 30s;
    core::Duration workload = 60s;
    std::size_t bootstrap_peers = 3;
    // Nodes started together (--join-window): node 0 starts at 0, every other node at a
    // uniform random time in [0, join_window), bootstrapping from 1..bootstrap_peers random
    // nodes that started before it, whether or not they have joined (possibly only
    // microseconds before), as a script or a Kubernetes StatefulSet starts them.
    // join_rate is then unused.
    std::optional<core::Duration> join_window;
    // Runs the same scenario (same seed and node ids) a second time with sequential joins
    // at join_rate and no workload, and compares every node's routing-table size at the
    // workload start; fails when a node's is not within 2x of its sequential size.
    bool compare_sequential = false;
    // A node not joined this long after it started bootstraps again from other peers,
    // as a production node would retry its bootstrap list; at most join_retries times.
    core::Duration join_retry_after = 15s;
    unsigned join_retries = 3;
    // Values: `puts` puts from random joined nodes, spread over the first half of the
    // workload, and `gets` gets (nullopt: as many as puts) over the second half; get j
    // reads put j % puts's key from a random joined node other than the putter, no
    // earlier than the put's LookupDone.
    std::size_t puts = 0;
    std::optional<std::size_t> gets;
    // The liveness phase (phase 5 above): how long the healed network settles, and the
    // most lookups it then checks (it also gets every stored value). Off unless asked
    // here; the command line turns it on whenever a fault is on.
    bool liveness = false;
    core::Duration liveness_settle = 30s;
    std::size_t liveness_lookups_max = 1000;
    // Pub/sub (pubsub_workload.hpp); off unless subscribers or messages are asked for.
    PubsubOptions pubsub;
    // Fails the run when the pub/sub delivery ratio is below this.
    std::optional<double> min_delivery;
    // Fails the run when the lookup or the get success rate is below this.
    std::optional<double> min_success;
    std::uint64_t events_max = 4'000'000'000;
    // Failed lookups diagnosed (each costs a scan of every routing table), and failed
    // gets (a scan of every store); failed gets in a partition always are, since the
    // diagnosis decides whether they are excused.
    std::size_t diagnose_max = 10;
    // Progress lines on stderr (wall-clock paced; never affects the run).
    bool progress = false;
};

struct LookupRecord {
    NodeIndex origin = 0;
    core::NodeId target;
    core::Instant issued;
    core::Instant done;
    bool finished = false;
    bool abandoned = false;  // the origin crashed or left first
    bool success = false;
    bool partitioned = false;  // issued or finished while the network was partitioned
    int hops = 0;
    std::size_t queried = 0;
    std::optional<core::NodeId> found;
    std::optional<core::NodeId> truth_issued;
    std::optional<core::NodeId> truth_done;
    // Diagnosis of a failure (-1: not diagnosed): joined live nodes closer to the target
    // than `found`, and running nodes whose routing table holds the truth.
    std::int64_t found_rank = -1;
    std::int64_t truth_known_by = -1;
};

struct PutRecord {
    NodeIndex origin = 0;
    core::Key key;  // core::key_of("sim-key-<i>") for put i
    core::Bytes value;
    core::Instant issued;
    core::Instant done;
    bool finished = false;
    bool abandoned = false;  // the putter crashed or left first: its gets are skipped
    std::size_t stores_tried = 0;
    std::size_t stores_accepted = 0;
};

struct GetRecord {
    NodeIndex origin = 0;
    std::uint32_t put = 0;  // index in ScenarioResult::puts
    core::Instant issued;
    core::Instant done;
    bool finished = false;
    bool abandoned = false;    // the origin crashed or left first
    bool success = false;      // the values found include the put's value
    bool partitioned = false;  // issued or finished while the network was partitioned
    bool excused = false;      // failed in a partition with no holder reachable
    bool putter_gone = false;  // the putter had crashed or left when the get was issued
    int hops = 0;
    std::size_t queried = 0;
    std::size_t values = 0;  // distinct values found
    // Diagnosis of a failure (-1: not diagnosed): running nodes whose store holds the
    // value, how many of them the origin could reach, and how many of the k joined nodes
    // closest to the key hold it (0 points at placement, not at the get).
    std::int64_t holders_up = -1;
    std::int64_t holders_reachable = -1;
    std::int64_t holders_closest = -1;
};

struct GetSummary {
    std::size_t count = 0;      // issued
    std::size_t skipped = 0;    // never issued: their put was abandoned
    std::size_t finished = 0;   // LookupDone received
    std::size_t abandoned = 0;  // origin gone first; not in the rate
    std::size_t excused = 0;    // partitioned with no reachable holder; not in the rate
    std::size_t succeeded = 0;
    // Gets issued after their putter had crashed or left, and how many of them succeeded:
    // the replicas must outlive the node that put them.
    std::size_t putter_gone = 0, putter_gone_succeeded = 0;
    double success_rate = 1.0;  // succeeded / (count - abandoned - excused)
    double hops_p50 = 0;
    double latency_ms_p50 = 0, latency_ms_p99 = 0;
};

struct ValueSummary {
    std::size_t puts = 0;
    std::size_t puts_finished = 0;
    std::size_t puts_abandoned = 0;
    double puts_accepted_p50 = 0;  // stores_accepted of finished puts
    double puts_accepted_min = 0;
    double put_latency_ms_p50 = 0, put_latency_ms_p99 = 0;
    GetSummary gets;
};

struct LookupSummary {
    std::size_t count = 0;      // issued
    std::size_t finished = 0;   // LookupDone received
    std::size_t abandoned = 0;  // origin gone first; not in the rate
    std::size_t succeeded = 0;
    double success_rate = 0.0;  // succeeded / (count - abandoned)
    double hops_p50 = 0, hops_p99 = 0;
    double latency_ms_p50 = 0, latency_ms_p99 = 0;
    double queried_p50 = 0;
    std::size_t internal = 0;  // lookups the nodes started themselves (join, refresh, ...)
};

struct LivenessSummary {
    bool ran = false;
    double started_s = 0;  // virtual time the network healed
    LookupSummary lookups;
    GetSummary gets;
    bool passed = true;  // every lookup and get succeeded
};

struct ScenarioResult {
    ScenarioOptions options;
    std::vector<LookupRecord> lookups;  // workload lookups
    LookupSummary summary;
    std::vector<PutRecord> puts;
    std::vector<GetRecord> gets;  // workload gets
    ValueSummary values;
    std::vector<LookupRecord> liveness_lookups;
    std::vector<GetRecord> liveness_gets;
    LivenessSummary liveness;
    PubsubSummary pubsub;  // ran = false without pub/sub
    double virtual_seconds = 0;
    double wall_seconds = 0;
    std::uint64_t events = 0;
    std::uint64_t trace_hash = 0;
    double peak_rss_mb = 0;
    double memory_per_node_kb = 0;
    std::size_t queue_peak = 0;
    // Membership.
    std::size_t nodes_created = 0;
    std::size_t nodes_up_end = 0;
    std::size_t nodes_joined_end = 0;
    std::size_t join_failures = 0;  // up at the end but never joined
    // The first few of them: (node, start time, bootstrap retries).
    struct NotJoined {
        NodeIndex node = 0;
        core::Instant started;
        unsigned retries = 0;
    };
    std::vector<NotJoined> not_joined;
    std::size_t bootstrap_retries = 0;
    std::size_t left = 0, joined_late = 0, crashes = 0, restarts = 0;
    double join_ms_p50 = 0, join_ms_p99 = 0;
    // Routing tables and join traffic at the workload start (after join and settle):
    // every node's routing-table size by index (0 for a node down), their spread over the
    // nodes up, and what the nodes sent until then per node up (join, growth, refresh).
    std::vector<std::uint32_t> table_sizes;
    double table_min = 0, table_p1 = 0, table_p50 = 0, table_max = 0;
    double join_packets_per_node = 0, join_bytes_per_node = 0;
    // With compare_sequential: this run's table size over the sequential run's, per node
    // up in both (ratio spread, and how many are outside [0.5, 2]).
    struct TableComparison {
        std::size_t nodes = 0;
        double ratio_min = 0, ratio_p1 = 0, ratio_p50 = 0, ratio_max = 0;
        std::size_t outside_2x = 0;
        double sequential_p50 = 0;
        double sequential_packets_per_node = 0, sequential_bytes_per_node = 0;
    };
    std::optional<TableComparison> table_comparison;
    // Traffic.
    NetworkStats network;
    std::uint64_t delivered = 0;
    std::uint64_t to_down = 0;
    std::size_t links_opened = 0;
    dht::Stats dht;
    std::vector<Violation> violations;
    // Why the run failed its checks (empty: passed).
    std::vector<std::string> failures;
    bool passed() const { return failures.empty(); }
};

// Runs the scenario to the end. Deterministic in `options` (progress output aside).
ScenarioResult run_scenario(ScenarioOptions const& options);

// Sets the fault options and a few protocol settings from `options.seed`, within legal
// ranges (after TigerBeetle's VOPR and FoundationDB's knob randomization): loss,
// duplication, reordering, the latency model, churn, crash/restart, partitions, and the
// DHT's alpha, rpc_timeout and rpc_retries. Each fault is off half of the time, so that
// runs also cover the quiet cases. Overwrites whatever those fields held.
void randomize_faults(ScenarioOptions& options);

// How long a run with pub/sub goes on after the workload: options.pubsub.drain when
// set; else 10 s, plus two anti-entropy intervals when the run has a partition (every
// node then reconciles at least once after the heal).
core::Duration pubsub_drain(ScenarioOptions const& options);

// Nearest-rank percentile of `values` (sorted in place); 0 when empty.
double percentile(std::vector<double>& values, double p);

// Peak resident set size of this process so far, in MiB (getrusage).
double peak_rss_mb();

}  // namespace sim
