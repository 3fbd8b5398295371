// Nodes started together (kadmium-sim --join-window): every node starts within a short
// window, bootstrapping from one random node started before it, joined or not. Every node
// joins, lookups are exact, and every routing table ends within 2x of its size with
// sequential joins (ScenarioOptions::compare_sequential). Small enough for seconds under
// ASan; docs/simulator.md has the 10,000-node figures.
#include "sim/cli.hpp"
#include "sim/scenario.hpp"
#include "tests/support/sim_scenarios.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace sim;
using namespace std::chrono_literals;
using test::describe;

TEST_CASE("join window: 120 nodes started within 1 s converge like sequential joins", "[sim]") {
    auto o = test::small_scenario(120, 240, 5);
    o.join_window = 1s;
    o.bootstrap_peers = 1;
    o.settle = 10s;
    o.workload = 10s;
    o.compare_sequential = true;
    o.min_success = 1.0;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.join_failures == 0);
    CHECK(r.bootstrap_retries == 0);  // the DHT's own re-asks sufficed; the host never had to
    CHECK(r.summary.success_rate == 1.0);
    REQUIRE(r.table_comparison);
    CHECK(r.table_comparison->nodes == 120);
    CHECK(r.table_comparison->outside_2x == 0);
    CHECK(r.table_min >= 20);
    // Join traffic stays within 2x of what the same nodes send joining one by one.
    CHECK(r.join_packets_per_node <= 2 * r.table_comparison->sequential_packets_per_node);
}

TEST_CASE("join window: the command line sets it", "[sim]") {
    std::ostringstream out, err;
    auto parsed = parse_command_line({"kadmium-sim", "--join-window", "5", "--compare-sequential"}, out, err);
    auto* cfg = std::get_if<RunConfig>(&parsed);
    REQUIRE(cfg);
    REQUIRE(cfg->scenario.join_window);
    CHECK(*cfg->scenario.join_window == 5s);
    CHECK(cfg->scenario.compare_sequential);
    auto bad = parse_command_line({"kadmium-sim", "--join-window", "0"}, out, err);
    CHECK(std::get<int>(bad) == 2);
}
