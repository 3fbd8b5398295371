// The modelled UDP network; see sim_network.hpp.
#include "sim/sim_network.hpp"

#include "core/assert.hpp"

namespace sim {

core::Endpoint endpoint_of(NodeIndex i) {
    CORE_ASSERT(i < node_index_max);
    return core::Endpoint::v4(static_cast<std::uint8_t>(10 + (i >> 16)), static_cast<std::uint8_t>(i >> 8),
                              static_cast<std::uint8_t>(i), 1, sim_port);
}

std::optional<NodeIndex> index_of(core::Endpoint const& e) {
    if (!e.is_v4() || e.port != sim_port || e.addr[3] != 1 || e.addr[0] < 10) return std::nullopt;
    auto i = static_cast<NodeIndex>(((e.addr[0] - 10u) << 16) | (unsigned{e.addr[1]} << 8) | e.addr[2]);
    if (i >= node_index_max) return std::nullopt;
    return i;
}

SimNetwork::SimNetwork(NetworkOptions options, std::uint64_t seed)
    : options_(std::move(options)), seed_(seed), rng_(mix64(seed, 0x6e6574 /* "net" */)) {
    CORE_ASSERT(options_.loss >= 0.0 && options_.loss <= 1.0);
    CORE_ASSERT(options_.duplicate >= 0.0 && options_.duplicate <= 1.0);
    CORE_ASSERT(options_.reorder_window.count() >= 0);
}

core::Duration SimNetwork::sample_latency(NodeIndex a, NodeIndex b) {
    auto d = base_latency(a, b);
    auto const jitter = options_.latency.jitter().count();
    if (jitter > 0) d += core::Duration{static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(jitter) + 1))};
    auto const reorder = options_.reorder_window.count();
    if (reorder > 0) d += core::Duration{static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(reorder) + 1))};
    return d;
}

SimNetwork::Route SimNetwork::route(NodeIndex from, NodeIndex to, std::size_t size) {
    ++stats_.sent;
    if (size > options_.mtu) ++stats_.oversize;
    Route r;
    if (!reachable(from, to)) {
        ++stats_.cut;
        return r;
    }
    // Draw the loss and duplication coins only when the option is on, so that turning
    // on one fault does not reshuffle the random choices of runs without it.
    if (options_.loss > 0.0 && rng_.chance(options_.loss)) {
        ++stats_.lost;
        return r;
    }
    r.delay[r.count++] = sample_latency(from, to);
    if (options_.duplicate > 0.0 && rng_.chance(options_.duplicate)) {
        ++stats_.duplicated;
        r.delay[r.count++] = sample_latency(from, to);
    }
    return r;
}

void SimNetwork::partition(std::size_t node_count, double fraction, bool one_way) {
    CORE_ASSERT(fraction >= 0.0 && fraction <= 1.0);
    side_.assign(node_count, 0);
    for (auto& s : side_) s = rng_.chance(fraction) ? 1 : 0;
    partitioned_ = true;
    one_way_ = one_way;
}

void SimNetwork::heal() {
    partitioned_ = false;
    side_.clear();
}

void SimNetwork::calm() {
    heal();
    options_.loss = 0.0;
    options_.duplicate = 0.0;
}

bool SimNetwork::reachable(NodeIndex from, NodeIndex to) const {
    if (!partitioned_) return true;
    auto a = side_of(from), b = side_of(to);
    if (a == b) return true;
    return one_way_ && a == 1;  // one-way cuts drop side 0 -> side 1 only
}

}  // namespace sim
