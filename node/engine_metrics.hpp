// What the engine's counters and gauges look like to the metrics exporter: one pure
// mapping from node::Engine (router stats, link stats, topics) to metrics::PubsubSnapshot.
// Not the exporter (metrics/) and not the timer that calls it (the runtime).
#pragma once

#include "metrics/snapshots.hpp"
#include "node/engine.hpp"

namespace node {

metrics::PubsubSnapshot pubsub_snapshot(Engine const& engine);
// The catch-up counters of metrics::StoreSnapshot (the store's gauges are the host's).
void add_catchup(Engine const& engine, metrics::StoreSnapshot& snapshot);

}  // namespace node
