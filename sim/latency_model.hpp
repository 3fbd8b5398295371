// sim::LatencyModel: the one-way latency between two simulated nodes. A pair's base
// latency is a pure function of (seed, pair), so it is stable for the whole run without an
// N x N table; per-packet jitter is drawn by the network from the run's Rng. It is not a
// bandwidth or queueing model. Invariant: base() is never negative, and symmetric unless a matrix file says otherwise.
//
// Models (the --latency flag):
//   constant:MS           every packet takes MS milliseconds.
//   uniform:LO:HI         each pair gets a fixed base latency uniform in [LO, HI] ms.
//   regions[:JITTER_MS]   each node lives in one of R regions (uniformly, by index); the
//                         base is the region matrix entry; each packet adds jitter uniform
//                         in [0, JITTER_MS] (default 5). The matrix is built in (5 regions)
//                         or read from a file (load_matrix).
#pragma once

#include "core/time.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sim {

using NodeIndex = std::uint32_t;

class LatencyModel {
public:
    enum class Kind : std::uint8_t { constant, uniform, regions };

    static LatencyModel constant(core::Duration d);
    static LatencyModel uniform(core::Duration lo, core::Duration hi);
    // The built-in five-region matrix (us-east, us-west, europe, asia, south-america).
    static LatencyModel regions(core::Duration jitter);
    // A square matrix of one-way milliseconds, `names.size()` rows.
    static LatencyModel regions(std::vector<std::string> names, std::vector<double> matrix_ms, core::Duration jitter);

    // Parses the --latency syntax above; nullopt and a message in `error` when invalid.
    static std::optional<LatencyModel> parse(std::string_view spec, std::string& error);
    // Reads a region matrix file: optional '#' comment lines, a header line of region
    // names, then one row of R one-way latencies in ms per region. Replaces the matrix.
    bool load_matrix(std::string const& path, std::string& error);

    // The pair's fixed latency (without jitter). `seed` makes it differ between runs.
    core::Duration base(std::uint64_t seed, NodeIndex a, NodeIndex b) const;
    // The largest one-way latency the model can give, jitter included.
    core::Duration max_one_way() const;
    // Upper bound of the per-packet jitter added on top of base().
    core::Duration jitter() const { return jitter_; }
    // Region of node `i` (0 for the models without regions).
    std::size_t region_of(std::uint64_t seed, NodeIndex i) const;
    std::size_t region_count() const { return names_.empty() ? 1 : names_.size(); }
    std::string const& region_name(std::size_t r) const { return names_.at(r); }

    Kind kind() const { return kind_; }
    // The spec that recreates this model, e.g. "regions:5".
    std::string describe() const;

private:
    Kind kind_ = Kind::constant;
    core::Duration lo_{20'000};
    core::Duration hi_{20'000};
    core::Duration jitter_{0};
    std::vector<std::string> names_;
    std::vector<core::Duration> matrix_;  // row-major, names_.size() squared
    std::string matrix_file_;
};

// A 64-bit mix of several words (splitmix64 finaliser chained); the simulator's stable,
// toolchain-independent hash for per-pair and per-node derivations.
std::uint64_t mix64(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0);

}  // namespace sim
