// kadmium_pubsub_dropped_total{reason} end to end: a real drop in the pub/sub router shows
// in the exported counter of its reason, every reason's series is there at 0 from the
// first scrape, and the other reasons stay 0. Drives a whole node::Engine (its stats go
// through node::pubsub_snapshot, the runtime's path) and a bare router fed a scripted RPC.
// Reads the registry through Exporter::serialize(); no socket.
#include "metrics/exporter.hpp"
#include "metrics/metric_names.hpp"
#include "node/engine_metrics.hpp"
#include "pubsub/stats.hpp"
#include "tests/support/engine_net.hpp"
#include "tests/support/prometheus_text.hpp"
#include "tests/support/pubsub_router_fixture.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>

using namespace std::chrono_literals;

namespace {

using test_support::parse_samples;
using test_support::sample;

auto const dropped = metrics::name::pubsub_dropped_total;

// Every reason's series exists; `reason` has `expected` and all others are 0.
void check_only(std::map<std::string, double> const& samples, pubsub::DropReason reason, double expected) {
    CHECK(test_support::series_count(samples, dropped) == pubsub::drop_reason_count);
    for (std::size_t i = 0; i < pubsub::drop_reason_count; ++i) {
        auto const r = static_cast<pubsub::DropReason>(i);
        INFO(pubsub::to_string(r));
        CHECK(sample(samples, dropped, {{"reason", pubsub::to_string(r)}}) == (r == reason ? expected : 0.0));
    }
}

}  // namespace

TEST_CASE("pubsub drop metrics: a publish no peer came for is exported as pending_expired", "[unit]") {
    test::EngineNet net;
    net.add();
    node::Engine& engine = net.engine(0);
    metrics::Exporter exporter;

    // First scrape, before anything happened: all reasons at 0.
    exporter.update_pubsub(node::pubsub_snapshot(engine));
    check_only(parse_samples(exporter.serialize()), pubsub::DropReason::pending_expired, 0.0);

    // A node that knows nobody publishes: the message waits for a topic peer that never
    // comes, and is dropped when its pending time runs out.
    REQUIRE(engine.publish(net.now(), "lonely", core::as_bytes("anyone?")).ok());
    net.run_for(node::EngineConfig{}.pubsub.pending_ttl / 2);
    exporter.update_pubsub(node::pubsub_snapshot(engine));
    check_only(parse_samples(exporter.serialize()), pubsub::DropReason::pending_expired, 0.0);

    net.run_for(node::EngineConfig{}.pubsub.pending_ttl);
    REQUIRE(engine.pubsub().stats().drop(pubsub::DropReason::pending_expired) == 1);
    exporter.update_pubsub(node::pubsub_snapshot(engine));
    check_only(parse_samples(exporter.serialize()), pubsub::DropReason::pending_expired, 1.0);

    // Later updates add nothing when nothing more was dropped.
    net.run_for(5s);
    exporter.update_pubsub(node::pubsub_snapshot(engine));
    check_only(parse_samples(exporter.serialize()), pubsub::DropReason::pending_expired, 1.0);
}

TEST_CASE("pubsub drop metrics: a GRAFT for a topic the node has not joined is exported as graft_unknown_topic",
          "[unit]") {
    test::RouterFixture f;
    metrics::Exporter exporter;
    metrics::PubsubSnapshot snapshot;

    f.subscribe("joined");
    f.link_up(1);
    f.announce(1, "elsewhere");
    f.graft(1, "elsewhere");  // a topic peer 1 is in, but this node is not
    REQUIRE(f.stats().drop(pubsub::DropReason::graft_unknown_topic) == 1);

    snapshot.router_drops = f.stats().dropped;  // what node::pubsub_snapshot copies
    exporter.update_pubsub(snapshot);
    check_only(parse_samples(exporter.serialize()), pubsub::DropReason::graft_unknown_topic, 1.0);

    // A GRAFT for the joined topic is no drop; a second stray one counts again.
    f.graft(1, "joined");
    f.graft(1, "elsewhere");
    snapshot.router_drops = f.stats().dropped;
    exporter.update_pubsub(snapshot);
    check_only(parse_samples(exporter.serialize()), pubsub::DropReason::graft_unknown_topic, 2.0);
}
