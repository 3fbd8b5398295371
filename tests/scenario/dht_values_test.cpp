// Scenario tests for values and liveness: whole simulated networks running the real DHT
// engine, each a few seconds of wall time. Values are put, the network misbehaves, and
// other nodes still get them; then the faults end, and every lookup and every get of a
// stored value must succeed (the liveness phase).
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "tests/support/sim_scenarios.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace sim;
using namespace std::chrono_literals;

namespace {
ScenarioOptions small(std::size_t nodes, std::size_t lookups, std::size_t puts, std::uint64_t seed = 1) {
    return test::small_scenario(nodes, lookups, seed, puts);
}
using test::describe;
}  // namespace

TEST_CASE("dht: values put under 10% loss are found by other nodes", "[scenario]") {
    auto o = small(300, 100, 200);
    o.network.loss = 0.10;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.network.lost > 1000);
    auto const& v = r.values;
    CHECK(v.puts == 200);
    CHECK(v.puts_finished == 200);
    // A put answers at its write quorum (a majority of the replicas closest it found); the
    // other STOREs go on in the background, through retries.
    CHECK(v.puts_accepted_p50 >= static_cast<double>(o.dht.replicas / 2 + 1));
    CHECK(v.gets.count == 200);  // --gets defaults to --puts
    CHECK(v.gets.finished == 200);
    CHECK(v.gets.success_rate >= 0.99);
    CHECK_FALSE(r.liveness.ran);  // ScenarioOptions leaves it off; the CLI turns it on with faults
}

TEST_CASE("dht: values outlive their putters under 20% churn", "[scenario]") {
    auto o = small(300, 100, 200);
    o.churn = 0.2;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.left == 60);
    auto const& g = r.values.gets;
    CHECK(g.count + g.skipped == 200);
    CHECK(g.skipped <= 10);  // puts whose putter left before the put finished
    CHECK(g.success_rate >= 0.99);
    // Replicas live on the k closest nodes, not on the putter: a get still finds the value
    // after the node that put it has left.
    CHECK(g.putter_gone >= 5);
    CHECK(static_cast<double>(g.putter_gone_succeeded) >= 0.9 * static_cast<double>(g.putter_gone));
}

TEST_CASE("dht: after a partition and 10% loss end, every lookup and every get succeeds", "[scenario]") {
    auto o = small(200, 200, 100);
    o.network.loss = 0.10;
    // Halves split 10 s into the workload, while values are still being put, and heal
    // 15 s later.
    o.partitions.push_back(PartitionSpec{.at = 10s, .duration = 15s, .fraction = 0.5});
    o.liveness = true;
    o.liveness_settle = 10s;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.network.cut > 100);
    CHECK(r.values.puts_finished == 100);
    auto const& l = r.liveness;
    REQUIRE(l.ran);
    CHECK(l.started_s > core::to_seconds(o.settle + o.workload));  // after the workload and its drain
    CHECK(l.passed);
    CHECK(l.lookups.count == 200);  // min(--liveness-lookups 1000, --lookups)
    CHECK(l.lookups.succeeded == 200);
    CHECK(l.lookups.success_rate == 1.0);
    CHECK(l.gets.count == 100);  // every stored value
    CHECK(l.gets.succeeded == 100);
    CHECK(r.liveness_lookups.size() == 200);
    CHECK(r.liveness_gets.size() == 100);
    for (auto const& g : r.liveness_gets) CHECK_FALSE(g.partitioned);
}

TEST_CASE("dht: a liveness run without faults is a plain extra batch", "[scenario]") {
    auto o = small(200, 100, 50);
    o.liveness = true;
    o.liveness_settle = 5s;
    o.liveness_lookups_max = 40;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.liveness.passed);
    CHECK(r.liveness.lookups.count == 40);
    CHECK(r.liveness.gets.count == 50);
    // Liveness lookups are reported apart from the workload's.
    CHECK(r.summary.count == 100);
    CHECK(r.values.gets.count == 50);
}
