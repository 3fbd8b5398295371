// Catch-up in the simulator (the durable-history issue): subscribers that go offline for a
// window of the publishing period and come back with their store (--offline), and a
// partition that heals during publishing followed by anti-entropy. The runs assert the
// real target, every missed message recovered, so they fail until the router's catch-up
// (pubsub/router_catchup.cpp) finds what a node lacks. Also the new flags and report
// fields. Not the router's own unit tests (tests/unit/pubsub_*).
#include "sim/cli.hpp"
#include "sim/pubsub_workload.hpp"
#include "sim/report.hpp"
#include "tests/support/sim_scenarios.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace std::chrono_literals;

namespace {

// 200 nodes, 40 subscribers on one topic, 80 messages of 200 bytes over a 60 s workload
// (publishing from 20 s to 60 s), no liveness phase.
sim::ScenarioOptions catchup_scenario(std::uint64_t seed) {
    auto o = test::small_scenario(200, 0, seed);
    o.pubsub.subscribers = 40;
    o.pubsub.messages = 80;
    o.pubsub.msg_size = 200;
    o.workload = 60s;
    o.liveness = false;
    o.min_delivery = 1.0;
    return o;
}

}  // namespace

TEST_CASE("sim catch-up: subscribers offline for a window recover every message they missed", "[sim]") {
    auto o = catchup_scenario(21);
    o.pubsub.offline = 0.1;  // 4 of the 40 subscribers, offline from 20% to 60% of publishing
    auto r = sim::run_scenario(o);
    INFO(test::describe(r));
    auto const& p = r.pubsub;
    auto const& c = p.catchup;
    // The workload side: who went offline, and what they missed.
    CHECK(c.offline_planned == 4);
    CHECK(c.offline_subscribers == 4);
    CHECK(c.offline_skipped == 0);
    CHECK(p.subscribers_offline == 4);
    CHECK(p.subscribers_whole_run == 36);
    // Each one misses the messages of a 40% window of 80 evenly spread messages (its own
    // leave and return instants are spread over a second).
    CHECK(c.missed >= 4 * 30);
    CHECK(c.missed <= 4 * 34);
    // Never twice, never an unpublished message: the store survived the restart, so
    // nothing already delivered comes again.
    CHECK(p.double_deliveries == 0);
    CHECK(p.unknown_deliveries == 0);
    // The target (waits on the router's catch-up): everything recovered, mostly by
    // catch-up, within seconds of the return, and the sync traffic counted.
    CHECK(c.recovered == c.missed);
    CHECK(c.recovered_ratio == 1.0);
    CHECK(c.unrecovered_subscribers == 0);
    CHECK(c.recovered_subscribers == 4);
    CHECK(c.recovered_caught_up > 0);
    CHECK(c.catchup_s_p99 < 15.0);
    CHECK(c.counters.sync_bytes_sent > 0);
    CHECK(c.counters.sync_sessions[static_cast<std::size_t>(pubsub::SyncOutcome::complete)] > 0);
    CHECK(c.sync_bytes_per_recovered_message > 200);
    CHECK(p.delivery_ratio == 1.0);
    CHECK(r.passed());
}

TEST_CASE("sim catch-up: after a partition heals, anti-entropy brings what the other side published", "[sim]") {
    auto o = catchup_scenario(23);
    // Cut at 25 s into the workload (publishing runs from 20 s to 60 s), healed at 40 s;
    // anti-entropy every 10 s, and the run goes on 10 s + 2 x 10 s after the last publish.
    o.partitions.push_back(sim::PartitionSpec{.at = 25s, .duration = 15s, .fraction = 0.5, .one_way = false});
    o.pubsub.anti_entropy_interval = 10s;
    REQUIRE(sim::pubsub_drain(o) == 30s);
    auto r = sim::run_scenario(o);
    INFO(test::describe(r));
    auto const& p = r.pubsub;
    auto const& c = p.catchup;
    CHECK(p.double_deliveries == 0);
    CHECK(p.unknown_deliveries == 0);
    // About half the subscribers are on the other side of each message published in the cut.
    CHECK(c.partition_cut > 100);
    CHECK(c.counters.anti_entropy_runs > 0);
    // The target (waits on the router's anti-entropy): every cut delivery arrives.
    CHECK(c.partition_cut_delivered == c.partition_cut);
    CHECK(p.delivered == p.expected_deliveries);
    CHECK(r.passed());
}

TEST_CASE("sim catch-up: absences are deterministic", "[sim]") {
    auto o = test::small_scenario(80, 0, 4);
    o.pubsub.subscribers = 20;
    o.pubsub.messages = 30;
    o.pubsub.msg_size = 100;
    o.pubsub.offline = 0.2;
    auto a = sim::run_scenario(o);
    auto b = sim::run_scenario(o);
    CHECK(a.pubsub.catchup.offline_subscribers == 4);
    CHECK(a.pubsub.catchup.missed > 0);
    CHECK(a.trace_hash == b.trace_hash);
    CHECK(a.pubsub.catchup.missed == b.pubsub.catchup.missed);
    CHECK(a.pubsub.catchup.recovered == b.pubsub.catchup.recovered);
    CHECK(a.pubsub.catchup.catchup_s_p99 == b.pubsub.catchup.catchup_s_p99);
    // Another offline window gives another run.
    o.pubsub.offline_start = 0.3;
    auto c = sim::run_scenario(o);
    CHECK(c.trace_hash != a.trace_hash);
}

TEST_CASE("sim catch-up: --offline, --offline-window, --anti-entropy and --pubsub-drain-s", "[sim]") {
    auto parse = [](std::vector<std::string> args, std::string* err_text = nullptr) {
        args.insert(args.begin(), "kadmium-sim");
        std::ostringstream out, err;
        auto r = sim::parse_command_line(args, out, err);
        if (err_text) *err_text = err.str();
        return r;
    };
    auto r = parse({"--subscribers", "10", "--messages", "5", "--offline", "0.25", "--offline-window", "0.1:0.5",
                    "--anti-entropy", "20", "--pubsub-drain-s", "45"});
    REQUIRE(std::holds_alternative<sim::RunConfig>(r));
    auto const& ps = std::get<sim::RunConfig>(r).scenario.pubsub;
    CHECK(ps.offline == 0.25);
    CHECK(ps.offline_start == 0.1);
    CHECK(ps.offline_length == 0.5);
    CHECK(ps.anti_entropy_interval == 20s);
    REQUIRE(ps.drain);
    CHECK(*ps.drain == 45s);

    // Defaults: offline from 20% to 60% of publishing, the router's interval, the drain
    // from pubsub_drain().
    auto d = parse({"--subscribers", "10", "--messages", "5", "--partition", "10:5"});
    REQUIRE(std::holds_alternative<sim::RunConfig>(d));
    auto const& so = std::get<sim::RunConfig>(d).scenario;
    CHECK(so.pubsub.offline == 0.0);
    CHECK(so.pubsub.offline_start == 0.2);
    CHECK(so.pubsub.offline_length == 0.4);
    CHECK(so.pubsub.anti_entropy_interval == pubsub::CatchupConfig{}.anti_entropy_interval);
    CHECK_FALSE(so.pubsub.drain);
    CHECK(sim::pubsub_drain(so) == 10s + 2 * pubsub::CatchupConfig{}.anti_entropy_interval);
    auto quiet = so;
    quiet.partitions.clear();
    CHECK(sim::pubsub_drain(quiet) == 10s);

    std::string err;
    for (auto bad : std::vector<std::vector<std::string>>{
             {"--subscribers", "10", "--messages", "5", "--offline-window", "0.5:0.6"},
             {"--subscribers", "10", "--messages", "5", "--offline-window", "0.5"},
             {"--subscribers", "10", "--messages", "5", "--offline-window", "x:0.1"},
             {"--subscribers", "10", "--messages", "5", "--offline", "1.5"},
             {"--subscribers", "10", "--offline", "0.1"},
             {"--anti-entropy", "-1"}}) {
        auto b = parse(bad, &err);
        REQUIRE(std::holds_alternative<int>(b));
        CHECK(std::get<int>(b) == 2);
    }
    CHECK(sim::parse_offline_window("0:1"));
    CHECK_FALSE(sim::parse_offline_window("0.2:0"));
}

TEST_CASE("sim catch-up: the report's catchup section", "[sim]") {
    sim::ScenarioResult r;
    r.options.pubsub.subscribers = 10;
    r.options.pubsub.messages = 20;
    r.options.pubsub.offline = 0.2;
    r.pubsub.ran = true;
    auto& c = r.pubsub.catchup;
    c.offline_planned = 2;
    c.offline_subscribers = 2;
    c.missed = 16;
    c.recovered = 15;
    c.recovered_ratio = 15.0 / 16.0;
    c.recovered_subscribers = 1;
    c.unrecovered_subscribers = 1;
    c.catchup_s_p50 = 2.5;
    c.catchup_s_p99 = 2.5;
    c.unrecovered_examples.push_back("node 7: 1 of 8 missed messages never arrived");
    c.counters.sync_bytes_sent = 15000;
    c.counters.anti_entropy_runs = 3;
    c.counters.sync_sessions[static_cast<std::size_t>(pubsub::SyncOutcome::timeout)] = 1;
    c.sync_bytes_per_recovered_message = 1000;

    std::ostringstream json;
    sim::write_json(json, r, "kadmium-sim --offline 0.2");
    auto const j = json.str();
    for (auto field : {"\"catchup\": {", "\"offline_subscribers\": 2", "\"missed\": 16", "\"recovered\": 15",
                       "\"recovered_ratio\": 0.937500", "\"catchup_s_p50\": 2.500", "\"catchup_s_p99\": 2.500",
                       "\"sync_bytes_per_recovered_message\": 1000.0", "\"anti_entropy_runs\": 3",
                       "\"timeout\": 1", "\"unrecovered_subscribers\": 1",
                       "\"unrecovered_examples\": [\"node 7: 1 of 8 missed messages never arrived\"]"}) {
        INFO(field);
        CHECK(j.find(field) != std::string::npos);
    }
    std::ostringstream text;
    sim::write_summary(text, r);
    auto const t = text.str();
    CHECK(t.find("15 of 16 missed messages recovered (93.750%") != std::string::npos);
    CHECK(t.find("unrecovered: node 7") != std::string::npos);
    CHECK(t.find("timeout=1") != std::string::npos);
}
