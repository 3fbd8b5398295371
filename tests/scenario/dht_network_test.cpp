// Scenario tests: whole simulated networks running the real DHT engine, each a few
// seconds of wall time. Each reads as a story: the network forms, something goes wrong,
// and lookups still find the node closest to their target.
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "tests/support/sim_scenarios.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace sim;
using namespace std::chrono_literals;

namespace {
ScenarioOptions small(std::size_t nodes, std::size_t lookups, std::uint64_t seed = 1) {
    return test::small_scenario(nodes, lookups, seed);
}
using test::describe;
}  // namespace

TEST_CASE("dht: 500 nodes bootstrap and lookups find the closest node", "[scenario]") {
    auto r = run_scenario(small(500, 1000));
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.nodes_joined_end == 500);
    CHECK(r.join_failures == 0);
    CHECK(r.summary.finished == 1000);
    CHECK(r.summary.success_rate >= 0.995);
    CHECK(r.summary.hops_p50 <= 4);
    CHECK(r.dht.dropped_total() == 0);  // a clean network drops nothing
}

TEST_CASE("dht: lookups succeed under 10% loss", "[scenario]") {
    auto o = small(300, 500);
    o.network.loss = 0.10;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.network.lost > 1000);
    CHECK(r.join_failures == 0);
    // A request and its reply both cross the lossy link, twice with the one retry: the
    // closest node stays silent for about 3.6% of lookups, which then (correctly) report
    // the second closest.
    CHECK(r.summary.success_rate >= 0.95);
}

TEST_CASE("dht: a partition that heals", "[scenario]") {
    auto o = small(300, 600);
    // The network splits in two halves 10 s into the workload and heals 15 s later.
    o.partitions.push_back(PartitionSpec{.at = 10s, .duration = 15s, .fraction = 0.5});
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.network.cut > 100);
    std::size_t during = 0, after = 0, after_ok = 0;
    for (auto const& l : r.lookups) {
        if (l.partitioned) {
            ++during;
            continue;
        }
        ++after;
        after_ok += l.success;
    }
    CHECK(during > 100);
    // Outside the partition lookups behave as on a healthy network; inside it, they find
    // the closest node on their own side most of the time.
    CHECK(static_cast<double>(after_ok) / static_cast<double>(after) >= 0.99);
    CHECK(r.summary.success_rate >= 0.9);
}

TEST_CASE("dht: 20% churn", "[scenario]") {
    auto o = small(400, 600);
    o.churn = 0.2;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.left == 80);
    CHECK(r.joined_late == 80);
    CHECK(r.nodes_created == 480);
    CHECK(r.nodes_up_end == 400);
    CHECK(r.join_failures == 0);
    CHECK(r.summary.success_rate >= 0.97);
}

TEST_CASE("dht: nodes crash and restart with their identity", "[scenario]") {
    auto o = small(300, 500);
    o.crashes = 30;
    o.downtime = 10s;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.crashes == 30);
    CHECK(r.restarts == 30);
    CHECK(r.nodes_up_end == 300);
    CHECK(r.join_failures == 0);
    CHECK(r.to_down > 0);
    CHECK(r.summary.success_rate >= 0.97);
}

TEST_CASE("dht: duplicated and reordered datagrams over regions", "[scenario]") {
    auto o = small(300, 500);
    o.network.latency = LatencyModel::regions(10ms);
    o.network.duplicate = 0.05;
    o.network.reorder_window = 50ms;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.network.duplicated > 100);
    CHECK(r.summary.success_rate >= 0.99);
    // Duplicates are replays to the receiver: dropped and counted, never answered twice.
    CHECK(r.dht.dropped[static_cast<std::size_t>(dht::DropReason::replayed)] > 0);
}

TEST_CASE("dht: real packet crypto", "[scenario]") {
    auto o = small(100, 100);
    o.crypto = CryptoMode::real;
    auto r = run_scenario(o);
    INFO(describe(r));
    CHECK(r.passed());
    CHECK(r.join_failures == 0);
    CHECK(r.summary.success_rate >= 0.99);
}
