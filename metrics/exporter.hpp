// metrics::Exporter turns the DHT core's observations (dht::Stats counters, gauges the
// host reads from DhtNode, LookupDone events), and the pub/sub and message store snapshots
// of snapshots.hpp, into Prometheus metrics named in metric_names.hpp, and optionally
// serves them over HTTP at /metrics (prometheus-cpp pull).
// It is not a timer and reads no clock: node/ calls update() on its own schedule.
// Invariant: every known label combination exists from construction, so each series is
// exported (as 0) before anything happens, and counters only ever grow.
#pragma once

#include "core/result.hpp"
#include "dht/events.hpp"
#include "dht/stats.hpp"
#include "metrics/snapshots.hpp"
#include "metrics/health.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <memory>
#include <span>
#include <string>

namespace metrics {

// Values the host reads from the DHT node (and its clock) just before update().
struct Gauges {
    std::size_t peers = 0;              // DhtNode::peer_count()
    std::size_t active_peers = 0;       // DhtNode::active_peer_count(now)
    std::size_t records = 0;            // DhtNode::record_count()
    std::size_t lookups_in_flight = 0;  // DhtNode::lookups_in_flight()
    double uptime_s = 0;                // seconds since the node started
};

class Exporter {
public:
    // Registry-only mode: every metric exists, nothing listens. serialize() shows them.
    // Used by tests and by hosts that expose the text some other way.
    Exporter();
    ~Exporter();
    Exporter(Exporter const&) = delete;
    Exporter& operator=(Exporter const&) = delete;

    // Creates the metrics and serves them at http://<bind_address>/metrics, with
    // /healthz and /readyz answered from health() (see health.hpp).
    // `bind_address` is "host:port" as civetweb takes it ("127.0.0.1:9100", "[::1]:9100";
    // port 0 picks a free port, see port()). Fails with a readable message when the
    // address is malformed or cannot be bound (in use, no permission); never throws.
    // Cost: starts the exposer's HTTP threads. Destroying an exporter that has served a
    // scrape takes about 2 s (civetweb shutdown), so keep one per process.
    static core::Result<std::unique_ptr<Exporter>, std::string> start(std::string const& bind_address);

    // The TCP port actually bound, or 0 in registry-only mode.
    std::uint16_t port() const;

    // Adds to the Prometheus counters what `stats` gained since the previous call and sets
    // the gauges. Call it periodically from one thread (node/ does, on a timer), with the
    // stats of one DhtNode. A counter that went backwards means the host replaced the
    // node; its new value is then counted whole, as a fresh start from 0.
    void update(dht::Stats const& stats, Gauges const& gauges);

    // Sets kadmium_lan_announcements_total from LAN discovery's running totals, one per
    // lan_result_labels entry (in that order). Same thread as update().
    void update_lan(std::span<std::uint64_t const> totals);

    // Records a finished lookup (internal ones too) in the duration and hops histograms,
    // under its kind. Call it from the same thread as update().
    void observe_lookup(dht::LookupDone const& done);

    // Pub/sub: adds what the snapshot's counters gained since the previous call (same rules
    // as update(): from one thread, a counter that went backwards counts whole) and sets
    // the gauges. kadmium_mesh_peers gets one series per topic for at most
    // max_topic_series topics (a topic keeps its series while it stays in the snapshots;
    // one that leaves frees its slot and its series is removed); the others are summed
    // under topic="other". Call it on the same timer as update().
    void update_pubsub(PubsubSnapshot const& snapshot);

    // One live message delivered locally, `seconds` after its author's timestamp. A
    // negative value (the author's clock ahead of ours) counts as 0; NaN is ignored.
    // Messages delivered by catch-up should not be observed: their age is not latency.
    void observe_delivery_latency(double seconds);

    // The current score of every connected pub/sub peer, one observation each. Call it
    // periodically (e.g. with update_pubsub); rate() over the buckets then gives the score
    // distribution of the peers over time. NaN scores are ignored.
    void observe_peer_scores(std::span<double const> scores);

    // Message store and catch-up: counter growth and gauges, as update_pubsub().
    void update_store(StoreSnapshot const& snapshot);

    // One message store commit that took `seconds` (negative counts as 0, NaN ignored).
    void observe_store_commit(double seconds);
    // What /healthz and /readyz answer from; the host reports into it.
    Health& health();

    // Everything in the registry, in the Prometheus text exposition format (what a scrape
    // of /metrics returns, uncompressed). Cost: one full collection; for tests and debug.
    std::string serialize() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace metrics
