// Shared helpers for simulator tests: a small scenario shape (fast join, short settle and
// workload) and a printable summary for INFO on failure. Test support only.
#pragma once

#include "sim/report.hpp"
#include "sim/scenario.hpp"

#include <sstream>
#include <string>

namespace test {

using namespace std::chrono_literals;

// `nodes` joining at 250/s, 20 s to settle, then `lookups` (and `puts`) over 40 s.
inline sim::ScenarioOptions small_scenario(std::size_t nodes, std::size_t lookups, std::uint64_t seed = 1,
                                           std::size_t puts = 0) {
    sim::ScenarioOptions o;
    o.seed = seed;
    o.nodes = nodes;
    o.lookups = lookups;
    o.puts = puts;
    o.join_rate = 250;
    o.settle = 20s;
    o.workload = 40s;
    return o;
}

inline std::string describe(sim::ScenarioResult const& r) {
    std::ostringstream out;
    sim::write_summary(out, r);
    return out.str();
}

}  // namespace test
