// sim::Simulator: the discrete-event loop that hosts many node::Engines on one virtual
// clock and a modelled network. It delivers bytes, never decoded messages, so decoding,
// security checks and drop counting run exactly as in production. It is not a scenario:
// it knows no phases or workloads (scenario.hpp drives it). Invariants: virtual time never
// goes back; each event is processed once, in (time, sequence) order; every random choice
// comes from the run seed; each node has at most one valid pending wakeup.
//
// Each step pops one event and, for a node event, calls handle_datagram or handle_timeout,
// then drains poll_transmit() into the network, poll_event() into the event hook, and
// re-arms the node's wakeup at next_wakeup().
#pragma once

#include "core/time.hpp"
#include "dht/config.hpp"
#include "dht/events.hpp"
#include "sim/event_queue.hpp"
#include "sim/sim_network.hpp"
#include "sim/sim_node.hpp"
#include "sim/stream_link.hpp"

#include <cstdint>
#include <deque>
#include <unordered_set>
#include <functional>
#include <string>
#include <vector>

namespace sim {

// The DHT settings a simulated node runs with: the production defaults, with the caches
// shrunk so that 100,000 nodes fit in a few GB (sizes only; no protocol behaviour changes).
dht::Config sim_dht_config();

struct SimOptions {
    std::uint64_t seed = 1;
    CryptoMode crypto = CryptoMode::standin;
    dht::Config dht = sim_dht_config();
    // Pub/sub and links. `signing` gives every node a real ed25519 identity (needed once
    // any node subscribes or publishes; costs ~20 µs per node created).
    pubsub::Config pubsub{};
    links::Config link{};
    bool signing = false;
    NetworkOptions network;
    SimStreamLinks::Options streams{};
    // Records per node's MemStore.
    std::size_t records_max = 4096;
    // A guard against a runaway run: step() refuses to go beyond this many events.
    std::uint64_t events_max = 4'000'000'000;
};

// A broken safety property, found by the simulator's own checks.
struct Violation {
    core::Instant at;
    NodeIndex node = 0;
    std::string what;
};

class Simulator {
public:
    explicit Simulator(SimOptions options);

    // --- Nodes. ---
    // Creates the next node (index = node_count() before the call); it does not run yet.
    NodeIndex add_node();
    // Starts (or restarts) node `i` now and bootstraps it from `peers` (may be empty for
    // the first node).
    void start_node(NodeIndex i, std::vector<NodeIndex> const& peers);
    // Crashes node `i` now: its engine is destroyed, datagrams to it are dropped, its
    // stream links break. `leave` = it never comes back.
    void crash_node(NodeIndex i, bool leave);
    std::size_t node_count() const { return nodes_.size(); }
    SimNode& node(NodeIndex i) { return nodes_.at(i); }
    SimNode const& node(NodeIndex i) const { return nodes_.at(i); }

    // Runs `fn(engine, now)` on running node `i` as a command, then drains its outputs.
    // Returns what `fn` returns.
    template <class Fn>
    auto command(NodeIndex i, Fn&& fn) {
        auto& n = nodes_.at(i);
        CORE_ASSERT(n.up());
        if constexpr (std::is_void_v<decltype(fn(*n.engine, now_))>) {
            fn(*n.engine, now_);
            flush(i);
        } else {
            auto r = fn(*n.engine, now_);
            flush(i);
            return r;
        }
    }

    // --- Stream links (pub/sub). ---
    std::optional<LinkId> open_link(NodeIndex a, NodeIndex b);
    bool send_on_link(LinkId link, NodeIndex from, core::Bytes frame);
    // Byte-stream writes (SimStreamLinks::write): returns the bytes accepted; the rest
    // waits in the writer until link_writable() says there is room.
    std::size_t write_on_link(LinkId link, NodeIndex from, core::ByteView bytes);
    std::size_t link_writable(LinkId link, NodeIndex from) const { return links_.writable(now_, link, from); }
    void close_link(LinkId link, NodeIndex by);
    SimStreamLinks const& links() const { return links_; }

    // --- Network faults. ---
    void partition(double fraction, bool one_way);
    void heal();
    SimNetwork& network() { return network_; }
    SimNetwork const& network() const { return network_; }

    // --- Time and running. ---
    core::Instant now() const { return now_; }
    // Runs `action` at `at` (>= now()), in order with every other event.
    void at(core::Instant at, std::function<void()> action);
    // Processes the next event; false when the queue is empty or events_max is reached.
    bool step();
    // Processes every event due at or before `end`, then sets now() to `end`.
    void run_until(core::Instant end);
    // Stops the current run_until at the next event (from a hook or action).
    void stop() { stop_ = true; }
    bool stopped() const { return stop_; }

    // --- Hooks (called during step; they may call commands and at()). ---
    std::function<void(NodeIndex, dht::Event&)> on_event;
    std::function<void(NodeIndex, pubsub::Delivered&)> on_delivered;
    // Stream events of links the test opened itself (open_link); links the engines open
    // are handled by the simulator.
    std::function<void(NodeIndex, StreamEvent&)> on_stream;
    // Called after each input of a node whose `watched` flag is set, with the engine's
    // events of that input (the workload times cold publishes with it). Must not command
    // the node.
    std::function<void(NodeIndex, std::vector<node::Event> const&)> on_watched;

    // --- Observation. ---
    std::uint64_t events() const { return events_; }
    std::uint64_t trace_hash() const { return trace_; }
    // Mixes a record into the trace hash (the scenario adds lookup results).
    void trace(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d);
    std::size_t queue_size() const { return queue_.size(); }
    std::size_t queue_peak() const { return queue_peak_; }
    std::vector<Violation> const& violations() const { return violations_; }
    void violation(NodeIndex node, std::string what);
    // Sum of the DHT counters of every node, alive or not.
    dht::Stats total_stats() const;
    std::uint64_t datagrams_delivered() const { return delivered_; }
    std::uint64_t datagrams_to_down() const { return to_down_; }
    SimOptions const& options() const { return options_; }

private:
    struct Event {
        enum class Kind : std::uint8_t { datagram, wakeup, action, stream };
        Kind kind = Kind::action;
        NodeIndex node = 0;
        NodeIndex from = 0;         // datagram: sender
        std::uint32_t aux = 0;      // wakeup: incarnation; action, stream: slot
        core::Bytes bytes;          // datagram
    };

    // Drains node `i`'s outputs and re-arms its wakeup.
    void flush(NodeIndex i);
    // Hands a stream event of an engine-owned link to node `to`'s engine.
    void stream_to_engine(NodeIndex to, StreamEvent& event);
    void open_engine_link(NodeIndex i, node::StreamId stream, core::Endpoint const& to);
    void write_streams(NodeIndex i);
    void write_stream(NodeIndex i, node::StreamId stream);
    node::EngineConfig engine_config() const;
    void arm_wakeup(NodeIndex i);
    void schedule_stream(std::vector<SimStreamLinks::Delivery>& out);
    template <class T>
    std::uint32_t park(std::vector<T>& slab, std::vector<std::uint32_t>& free, T value);

    SimOptions options_;
    SimNetwork network_;
    SimStreamLinks links_;
    EventQueue<Event> queue_;
    // A deque: add_node() from a hook must not move the node a caller is using.
    std::deque<SimNode> nodes_;
    core::Instant now_{};
    bool stop_ = false;
    std::uint64_t events_ = 0;
    std::uint64_t trace_ = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
    std::uint64_t delivered_ = 0;
    std::uint64_t to_down_ = 0;
    std::size_t queue_peak_ = 0;
    std::vector<Violation> violations_;
    // Payloads too big for the queue entry, parked by slot.
    std::vector<std::function<void()>> actions_;
    std::vector<std::uint32_t> actions_free_;
    std::vector<SimStreamLinks::Delivery> streams_;
    std::vector<std::uint32_t> streams_free_;
    std::vector<SimStreamLinks::Delivery> stream_out_;  // scratch
    std::vector<dht::Event> events_scratch_;
    // Links opened by engines (the rest belong to on_stream).
    std::unordered_set<LinkId> engine_links_;
};

}  // namespace sim
