// The production host of node::Engine: one io_context on one thread, UDP sockets on every
// listen address, one timer at the engine's next wakeup, the HTTP API, the metrics
// exporter, and the LMDB store with its routing-table snapshot. It is the only place that
// reads clocks (steady_clock for core::Instant, system_clock once for the wall anchor).
// Invariant: after every input to the engine (datagram, timeout, command) its transmits
// and events are drained before anything else runs. Group commit: the puts of one receive
// burst share one LMDB transaction, and no output of the burst leaves (transmit sent,
// event delivered) while a put it may confirm is uncommitted; outputs of a failed commit
// are dropped (events still delivered).
#pragma once

#include "node/node_config.hpp"

namespace node {

// Runs a node in the foreground until SIGINT or SIGTERM. Returns the process exit code:
// 0 after a clean shutdown, 1 when the node cannot start (the reason is one line on
// stderr: unusable data dir, damaged identity or store, address in use, ...).
// The metrics exporter's HTTP threads are left running (see abandon_exporter in the .cpp):
// the caller exits the process soon after, without running static destructors (_Exit).
int run_node(NodeConfig const& config);

// The version string the node reports ("0.1.0").
char const* version();

}  // namespace node
