// sim::SimNetwork: the modelled UDP network between simulated nodes. It decides the fate
// of each datagram (lost, delayed, duplicated, cut by a partition) and maps node indexes to
// endpoints; it does not own the event queue or the nodes (the Simulator schedules what
// route() returns). Invariant: every random choice comes from the network's own Rng, in
// the order route() is called, so one seed gives one sequence of fates.
//
// Addresses: node i lives at 10.x.y.1:4000 with a /24 of its own (x.y from i, first octet
// from 10 up), because the DHT keeps at most 2 entries per /24 per bucket and a real
// network spreads nodes over many subnets.
#pragma once

#include "core/endpoint.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "sim/latency_model.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace sim {

inline constexpr std::uint16_t sim_port = 4000;
// Node indexes map to 10.0.0.1 .. 109.255.255.1, which stays clear of loopback (127/8)
// and other special ranges: 6.5 million nodes, far above any run.
inline constexpr std::size_t node_index_max = 100 * 65536;

core::Endpoint endpoint_of(NodeIndex i);
// The node at `e`, or nullopt for an address no simulated node can have.
std::optional<NodeIndex> index_of(core::Endpoint const& e);

struct NetworkOptions {
    LatencyModel latency = LatencyModel::constant(core::Duration{20'000});
    double loss = 0.0;       // probability that a datagram is dropped
    double duplicate = 0.0;  // probability that a datagram arrives twice
    // Each datagram is held back by an extra delay uniform in [0, reorder_window], so
    // datagrams between one pair sent closer together than this may arrive out of order.
    core::Duration reorder_window{0};
    // Datagrams above this size would be IP-fragmented on a real path: counted, delivered.
    std::size_t mtu = 1472;
};

struct NetworkStats {
    std::uint64_t sent = 0;
    std::uint64_t lost = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t cut = 0;         // dropped by a partition
    std::uint64_t oversize = 0;    // larger than the MTU
    std::uint64_t unroutable = 0;  // addressed to no simulated node
};

class SimNetwork {
public:
    SimNetwork(NetworkOptions options, std::uint64_t seed);

    // The fate of one datagram from `from` to `to` of `size` bytes: `count` deliveries
    // (0 = dropped, 2 = duplicated), each after `delay[i]`. Advances the Rng.
    struct Route {
        std::uint8_t count = 0;
        std::array<core::Duration, 2> delay{};
    };
    Route route(NodeIndex from, NodeIndex to, std::size_t size);

    // One-way latency of the pair without jitter or reordering (for stream links too).
    core::Duration base_latency(NodeIndex a, NodeIndex b) const { return options_.latency.base(seed_, a, b); }
    // base_latency plus this packet's jitter.
    core::Duration sample_latency(NodeIndex a, NodeIndex b);

    // Splits the nodes [0, node_count) into two sides: each node is on side 1 with
    // probability `fraction`. Symmetric cuts drop traffic both ways between the sides;
    // one-way cuts drop only side 0 -> side 1. Nodes created later join side 0.
    void partition(std::size_t node_count, double fraction, bool one_way);
    void heal();
    // Ends fault injection for a liveness check: heals any partition and turns loss and
    // duplication off. Latency, jitter and reordering stay: a correct protocol must work
    // under them, so they are conditions, not faults.
    void calm();
    bool partitioned() const { return partitioned_; }
    // Whether a datagram from `from` can reach `to` now (ignores loss).
    bool reachable(NodeIndex from, NodeIndex to) const;
    // The side of `i` in the current partition (0 when healed).
    std::uint8_t side_of(NodeIndex i) const { return partitioned_ && i < side_.size() ? side_[i] : 0; }

    NetworkOptions const& options() const { return options_; }
    NetworkStats const& stats() const { return stats_; }
    void count_unroutable() { ++stats_.unroutable; }
    std::size_t region_of(NodeIndex i) const { return options_.latency.region_of(seed_, i); }

private:
    NetworkOptions options_;
    std::uint64_t seed_;
    core::Rng rng_;
    NetworkStats stats_;
    bool partitioned_ = false;
    bool one_way_ = false;
    std::vector<std::uint8_t> side_;
};

}  // namespace sim
