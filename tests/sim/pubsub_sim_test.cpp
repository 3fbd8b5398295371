// The pub/sub workload in the simulator: real engines (Noise links over chunked streams,
// signed messages, provider lookups) at a size that runs in seconds, the delivery checker
// and the report fields.
#include "sim/pubsub_workload.hpp"
#include "tests/support/sim_scenarios.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

namespace {

sim::ScenarioOptions pubsub_scenario(std::uint64_t seed) {
    auto o = test::small_scenario(80, 20, seed);
    o.pubsub.subscribers = 16;
    o.pubsub.messages = 40;
    o.pubsub.msg_size = 200;
    o.workload = 40s;
    return o;
}

}  // namespace

TEST_CASE("sim pubsub: every subscriber gets every message exactly once", "[sim]") {
    auto r = sim::run_scenario(pubsub_scenario(5));
    INFO(test::describe(r));
    REQUIRE(r.pubsub.ran);
    CHECK(r.pubsub.published == 40);
    CHECK(r.pubsub.expected_deliveries == 40 * 16);
    CHECK(r.pubsub.delivered == r.pubsub.expected_deliveries);
    CHECK(r.pubsub.double_deliveries == 0);
    CHECK(r.pubsub.unknown_deliveries == 0);
    CHECK(r.pubsub.latency_ms_p50 > 0);
    CHECK(r.pubsub.bytes_per_delivery > 200);
    CHECK(r.passed());
}

TEST_CASE("sim pubsub: subscribers that stay up get everything while others crash and restart", "[sim]") {
    auto o = pubsub_scenario(9);
    o.crashes = 8;
    o.downtime = 5s;
    o.liveness = false;
    auto r = sim::run_scenario(o);
    INFO(test::describe(r));
    CHECK(r.pubsub.delivery_ratio >= 0.999);
    CHECK(r.pubsub.double_deliveries == 0);
    CHECK(r.pubsub.unknown_deliveries == 0);
}

TEST_CASE("sim pubsub: the same seed gives the same run", "[sim]") {
    auto a = sim::run_scenario(pubsub_scenario(3));
    auto b = sim::run_scenario(pubsub_scenario(3));
    CHECK(a.trace_hash == b.trace_hash);
    CHECK(a.pubsub.delivered == b.pubsub.delivered);
    CHECK(a.pubsub.latency_ms_p99 == b.pubsub.latency_ms_p99);
}

TEST_CASE("sim pubsub: the checker fails a run on a delivery nobody published", "[sim]") {
    sim::SimOptions so;
    so.signing = true;
    sim::Simulator s(so);
    auto n = s.add_node();
    s.start_node(n, {});
    sim::PubsubOptions po;
    po.subscribers = 1;
    sim::PubsubWorkload w(s, po, 1);
    // A message signed by someone, never published through the workload.
    pubsub::Delivered d;
    d.topic = sim::PubsubWorkload::topic_name(0);
    d.message.encoded = core::to_bytes("not a published envelope");
    d.message.id = core::blake2b_256(d.message.encoded);
    w.on_delivered(n, d);
    auto sum = w.summarise();
    CHECK(sum.unknown_deliveries == 1);
    CHECK(s.violations().size() == 1);
}
