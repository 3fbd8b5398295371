// Unit tests for the pub/sub and message store side of metrics::Exporter: every series
// exists at 0 from construction, snapshot counters become monotonic Prometheus counters,
// kadmium_mesh_peers stays within its series bound, and the histograms bucket what they are
// given. Reads the registry through serialize(); no socket.
#include "metrics/exporter.hpp"
#include "metrics/metric_names.hpp"
#include "metrics/snapshots.hpp"
#include "pubsub/stats.hpp"
#include "tests/support/prometheus_text.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

using metrics::Flow;
using test_support::Labels;
using test_support::parse_samples;
using test_support::sample;
using test_support::series_count;

std::string str(std::string_view s) { return std::string(s); }
std::string bucket(std::string_view name) { return str(name) + "_bucket"; }
std::string count(std::string_view name) { return str(name) + "_count"; }
std::string sum(std::string_view name) { return str(name) + "_sum"; }

std::map<std::string, double> scrape(metrics::Exporter const& exporter) { return parse_samples(exporter.serialize()); }

}  // namespace

TEST_CASE("metrics: every pub/sub and store series is exported at 0 before any update", "[unit]") {
    metrics::Exporter exporter;
    auto const samples = scrape(exporter);
    namespace name = metrics::name;

    for (auto n : {name::messages_published_total, name::messages_delivered_total, name::messages_duplicate_total,
                   name::topics, name::catchup_messages_total, name::store_messages, name::store_bytes,
                   name::store_capacity_bytes, name::dht_records_written_through_total, name::dht_records_lost_total}) {
        INFO(n);
        CHECK(sample(samples, n) == 0.0);
    }
    for (auto reason : metrics::invalid_reason_labels) {
        CHECK(sample(samples, name::messages_invalid_total, {{"reason", str(reason)}}) == 0.0);
    }
    for (auto reason : metrics::link_drop_reason_labels) {
        CHECK(sample(samples, name::link_frames_dropped_total, {{"reason", str(reason)}}) == 0.0);
    }
    for (auto direction : metrics::link_direction_labels) {
        CHECK(sample(samples, name::links, {{"direction", str(direction)}}) == 0.0);
    }
    for (auto direction : {metrics::direction_in, metrics::direction_out}) {
        CHECK(sample(samples, name::link_bytes_total, {{"direction", str(direction)}}) == 0.0);
        for (auto type : metrics::control_type_labels) {
            CHECK(sample(samples, name::gossip_control_total, {{"direction", str(direction)}, {"type", str(type)}}) ==
                  0.0);
        }
    }
    for (auto outcome : metrics::sync_outcome_labels) {
        CHECK(sample(samples, name::sync_sessions_total, {{"outcome", str(outcome)}}) == 0.0);
    }
    for (auto reason : pubsub::drop_reason_names) {
        CHECK(sample(samples, name::pubsub_dropped_total, {{"reason", reason}}) == 0.0);
    }
    CHECK(sample(samples, name::mesh_peers, {{"topic", "other"}}) == 0.0);
    CHECK(series_count(samples, name::mesh_peers) == 1);
    for (auto h : {name::message_delivery_latency_seconds, name::peer_score, name::store_commit_seconds}) {
        INFO(h);
        CHECK(sample(samples, count(h)) == 0.0);
        CHECK(sample(samples, sum(h)) == 0.0);
        CHECK(sample(samples, bucket(h), {{"le", "+Inf"}}) == 0.0);
    }
    // The label counts the docs promise: 7 invalid reasons, 8 link drop reasons, 7 control
    // types in 2 directions, 4 sync outcomes, 36 router drop reasons.
    CHECK(series_count(samples, name::messages_invalid_total) == 7);
    CHECK(series_count(samples, name::link_frames_dropped_total) == 8);
    CHECK(series_count(samples, name::gossip_control_total) == 14);
    CHECK(series_count(samples, name::sync_sessions_total) == 4);
    CHECK(series_count(samples, name::pubsub_dropped_total) == 36);
}

TEST_CASE("metrics: update_pubsub adds counter growth and sets the gauges", "[unit]") {
    metrics::Exporter exporter;
    namespace name = metrics::name;
    metrics::PubsubSnapshot s;
    s.published = 4;
    s.delivered = 10;
    s.duplicate = 25;
    s.invalid_count(metrics::InvalidReason::bad_signature) = 2;
    s.invalid_count(metrics::InvalidReason::bad_author) = 1;
    s.bytes(Flow::in) = 5000;
    s.bytes(Flow::out) = 7000;
    s.link_drop(metrics::LinkDropReason::queue_full) = 3;
    s.link_drop(metrics::LinkDropReason::handshake_rate) = 1;
    s.control_count(metrics::ControlType::graft, Flow::out) = 6;
    s.control_count(metrics::ControlType::idontwant, Flow::in) = 2;
    s.router_drop(pubsub::DropReason::graft_in_backoff) = 3;
    s.router_drop(pubsub::DropReason::catchup_over_budget) = 40;
    s.topics = 2;
    s.link_count(metrics::LinkDirection::inbound) = 3;
    s.link_count(metrics::LinkDirection::outbound) = 5;
    s.mesh_peers = {{"chat", 6}, {"news", 4}};
    exporter.update_pubsub(s);

    auto samples = scrape(exporter);
    CHECK(sample(samples, name::messages_published_total) == 4.0);
    CHECK(sample(samples, name::messages_delivered_total) == 10.0);
    CHECK(sample(samples, name::messages_duplicate_total) == 25.0);
    CHECK(sample(samples, name::messages_invalid_total, {{"reason", "bad_signature"}}) == 2.0);
    CHECK(sample(samples, name::messages_invalid_total, {{"reason", "bad_author"}}) == 1.0);
    CHECK(sample(samples, name::messages_invalid_total, {{"reason", "decode"}}) == 0.0);
    CHECK(sample(samples, name::link_bytes_total, {{"direction", "in"}}) == 5000.0);
    CHECK(sample(samples, name::link_bytes_total, {{"direction", "out"}}) == 7000.0);
    CHECK(sample(samples, name::link_frames_dropped_total, {{"reason", "queue_full"}}) == 3.0);
    CHECK(sample(samples, name::link_frames_dropped_total, {{"reason", "handshake_rate"}}) == 1.0);
    CHECK(sample(samples, name::gossip_control_total, {{"direction", "out"}, {"type", "graft"}}) == 6.0);
    CHECK(sample(samples, name::gossip_control_total, {{"direction", "in"}, {"type", "graft"}}) == 0.0);
    CHECK(sample(samples, name::gossip_control_total, {{"direction", "in"}, {"type", "idontwant"}}) == 2.0);
    CHECK(sample(samples, name::pubsub_dropped_total, {{"reason", "graft_in_backoff"}}) == 3.0);
    CHECK(sample(samples, name::pubsub_dropped_total, {{"reason", "catchup_over_budget"}}) == 40.0);
    CHECK(sample(samples, name::pubsub_dropped_total, {{"reason", "graylisted"}}) == 0.0);
    CHECK(sample(samples, name::topics) == 2.0);
    CHECK(sample(samples, name::links, {{"direction", "inbound"}}) == 3.0);
    CHECK(sample(samples, name::links, {{"direction", "outbound"}}) == 5.0);
    CHECK(sample(samples, name::mesh_peers, {{"topic", "chat"}}) == 6.0);
    CHECK(sample(samples, name::mesh_peers, {{"topic", "news"}}) == 4.0);
    CHECK(sample(samples, name::mesh_peers, {{"topic", "other"}}) == 0.0);

    SECTION("a second snapshot adds only the growth; gauges follow it") {
        s.delivered = 15;
        s.invalid_count(metrics::InvalidReason::bad_signature) = 2;  // unchanged
        s.bytes(Flow::in) = 6000;
        s.link_count(metrics::LinkDirection::inbound) = 1;
        s.mesh_peers = {{"chat", 2}};
        s.topics = 1;
        exporter.update_pubsub(s);
        samples = scrape(exporter);
        CHECK(sample(samples, name::messages_delivered_total) == 15.0);
        CHECK(sample(samples, name::messages_published_total) == 4.0);
        CHECK(sample(samples, name::messages_invalid_total, {{"reason", "bad_signature"}}) == 2.0);
        CHECK(sample(samples, name::link_bytes_total, {{"direction", "in"}}) == 6000.0);
        CHECK(sample(samples, name::links, {{"direction", "inbound"}}) == 1.0);
        CHECK(sample(samples, name::topics) == 1.0);
        CHECK(sample(samples, name::mesh_peers, {{"topic", "chat"}}) == 2.0);
        // A topic the node left loses its series instead of showing a stale value.
        CHECK_FALSE(sample(samples, name::mesh_peers, {{"topic", "news"}}).has_value());
    }

    SECTION("counters that went backwards (a restarted core) count from 0 again, never down") {
        metrics::PubsubSnapshot fresh;
        fresh.delivered = 3;
        fresh.control_count(metrics::ControlType::graft, Flow::out) = 1;
        fresh.router_drop(pubsub::DropReason::graft_in_backoff) = 1;
        exporter.update_pubsub(fresh);
        samples = scrape(exporter);
        CHECK(sample(samples, name::messages_delivered_total) == 13.0);
        CHECK(sample(samples, name::messages_published_total) == 4.0);
        CHECK(sample(samples, name::gossip_control_total, {{"direction", "out"}, {"type", "graft"}}) == 7.0);
        CHECK(sample(samples, name::pubsub_dropped_total, {{"reason", "graft_in_backoff"}}) == 4.0);
        CHECK(sample(samples, name::pubsub_dropped_total, {{"reason", "catchup_over_budget"}}) == 40.0);
    }
}

TEST_CASE("metrics: kadmium_mesh_peers keeps at most max_topic_series topics and sums the rest", "[unit]") {
    metrics::Exporter exporter;
    auto const mesh = metrics::name::mesh_peers;
    constexpr std::size_t limit = metrics::max_topic_series;

    metrics::PubsubSnapshot s;
    for (std::size_t i = 0; i < limit + 10; ++i) {
        s.mesh_peers.push_back({"t" + std::to_string(1000 + i), 1 + i % 3});
    }
    // Names that can never be labels go to "other": too long, a control character, invalid
    // UTF-8, a surrogate, a topic literally called "other", a truncated sequence, empty.
    s.mesh_peers.push_back({std::string(metrics::max_topic_label_bytes + 1, 'x'), 100});
    s.mesh_peers.push_back({"bad\nname", 200});
    s.mesh_peers.push_back({"\xff\xfe", 300});
    s.mesh_peers.push_back({"\xed\xa0\x80", 400});
    s.mesh_peers.push_back({"other", 500});
    s.mesh_peers.push_back({"caf\xc3", 600});  // truncated sequence
    s.mesh_peers.push_back({"", 700});
    exporter.update_pubsub(s);

    auto samples = scrape(exporter);
    CHECK(test_support::series_count(samples, mesh) == limit + 1);
    // Slots are given in name order: t1000..t1031 have series, t1032..t1041 are summed.
    CHECK(sample(samples, mesh, {{"topic", "t1000"}}) == 1.0);
    CHECK(sample(samples, mesh, {{"topic", "t" + std::to_string(1000 + limit - 1)}}).has_value());
    CHECK_FALSE(sample(samples, mesh, {{"topic", "t" + std::to_string(1000 + limit)}}).has_value());
    double overflow = 0;
    for (std::size_t i = limit; i < limit + 10; ++i) overflow += static_cast<double>(1 + i % 3);
    CHECK(sample(samples, mesh, {{"topic", "other"}}) == overflow + 2800.0);

    SECTION("a topic that leaves frees its slot for a newcomer; one that stays keeps its series") {
        s.mesh_peers.erase(s.mesh_peers.begin());  // t1000 leaves
        s.mesh_peers.push_back({"a-new-topic", 9});  // sorts first, takes the free slot
        exporter.update_pubsub(s);
        samples = scrape(exporter);
        CHECK(test_support::series_count(samples, mesh) == limit + 1);
        CHECK_FALSE(sample(samples, mesh, {{"topic", "t1000"}}).has_value());
        CHECK(sample(samples, mesh, {{"topic", "a-new-topic"}}) == 9.0);
        CHECK(sample(samples, mesh, {{"topic", "t1001"}}).has_value());
        CHECK(sample(samples, mesh, {{"topic", "other"}}) == overflow + 2800.0);
    }

    SECTION("valid UTF-8 beyond ASCII is a label; a repeated topic is summed") {
        metrics::PubsubSnapshot small;
        small.mesh_peers = {{"caf\xc3\xa9", 2}, {"caf\xc3\xa9", 3}, {"\xf0\x9f\x92\xac", 1}};
        exporter.update_pubsub(small);
        samples = scrape(exporter);
        CHECK(test_support::series_count(samples, mesh) == 3);
        CHECK(sample(samples, mesh, {{"topic", "caf\xc3\xa9"}}) == 5.0);
        CHECK(sample(samples, mesh, {{"topic", "\xf0\x9f\x92\xac"}}) == 1.0);
        CHECK(sample(samples, mesh, {{"topic", "other"}}) == 0.0);
    }
}

TEST_CASE("metrics: delivery latency and peer scores fill their histograms", "[unit]") {
    metrics::Exporter exporter;
    auto const latency = metrics::name::message_delivery_latency_seconds;
    auto const score = metrics::name::peer_score;

    exporter.observe_delivery_latency(0.0004);
    exporter.observe_delivery_latency(0.02);
    exporter.observe_delivery_latency(-0.5);  // author clock ahead: counts as 0
    exporter.observe_delivery_latency(std::numeric_limits<double>::quiet_NaN());
    exporter.observe_delivery_latency(120.0);

    std::vector<double> const scores{-20000, -150, 0, 0.5, 50, 5000, std::numeric_limits<double>::quiet_NaN()};
    exporter.observe_peer_scores(scores);

    auto const samples = scrape(exporter);
    CHECK(sample(samples, count(latency)) == 4.0);
    CHECK(sample(samples, sum(latency)) == Approx(120.0204));
    CHECK(sample(samples, bucket(latency), {{"le", "0.0005"}}) == 2.0);
    CHECK(sample(samples, bucket(latency), {{"le", "0.025"}}) == 3.0);
    CHECK(sample(samples, bucket(latency), {{"le", "60"}}) == 3.0);
    CHECK(sample(samples, bucket(latency), {{"le", "+Inf"}}) == 4.0);

    CHECK(sample(samples, count(score)) == 6.0);
    CHECK(sample(samples, bucket(score), {{"le", "-10000"}}) == 1.0);
    CHECK(sample(samples, bucket(score), {{"le", "-100"}}) == 2.0);
    CHECK(sample(samples, bucket(score), {{"le", "0"}}) == 3.0);
    CHECK(sample(samples, bucket(score), {{"le", "1"}}) == 4.0);
    CHECK(sample(samples, bucket(score), {{"le", "100"}}) == 5.0);
    CHECK(sample(samples, bucket(score), {{"le", "1000"}}) == 5.0);
    CHECK(sample(samples, bucket(score), {{"le", "+Inf"}}) == 6.0);
}

TEST_CASE("metrics: update_store adds counter growth, sets gauges, and commits fill the histogram", "[unit]") {
    metrics::Exporter exporter;
    namespace name = metrics::name;
    metrics::StoreSnapshot s;
    s.catchup_messages = 50;
    s.sync_count(metrics::SyncOutcome::ok) = 3;
    s.sync_count(metrics::SyncOutcome::budget) = 1;
    s.messages = 1200;
    s.bytes = 300000;
    s.capacity_bytes = 1 << 30;
    s.dht_records_written_through = 4;
    exporter.update_store(s);
    s.catchup_messages = 70;
    s.dht_records_written_through = 9;
    s.dht_records_lost = 2;
    s.sync_count(metrics::SyncOutcome::refused) = 2;
    s.messages = 1300;
    exporter.update_store(s);
    exporter.observe_store_commit(0.0003);
    exporter.observe_store_commit(0.004);
    exporter.observe_store_commit(-1);

    auto const samples = scrape(exporter);
    CHECK(sample(samples, name::catchup_messages_total) == 70.0);
    CHECK(sample(samples, name::dht_records_written_through_total) == 9.0);
    CHECK(sample(samples, name::dht_records_lost_total) == 2.0);
    CHECK(sample(samples, name::sync_sessions_total, {{"outcome", "ok"}}) == 3.0);
    CHECK(sample(samples, name::sync_sessions_total, {{"outcome", "budget"}}) == 1.0);
    CHECK(sample(samples, name::sync_sessions_total, {{"outcome", "refused"}}) == 2.0);
    CHECK(sample(samples, name::sync_sessions_total, {{"outcome", "failed"}}) == 0.0);
    CHECK(sample(samples, name::store_messages) == 1300.0);
    CHECK(sample(samples, name::store_bytes) == 300000.0);
    CHECK(sample(samples, name::store_capacity_bytes) == static_cast<double>(1 << 30));
    CHECK(sample(samples, count(name::store_commit_seconds)) == 3.0);
    CHECK(sample(samples, bucket(name::store_commit_seconds), {{"le", "0.0001"}}) == 1.0);
    CHECK(sample(samples, bucket(name::store_commit_seconds), {{"le", "0.0005"}}) == 2.0);
    CHECK(sample(samples, bucket(name::store_commit_seconds), {{"le", "0.005"}}) == 3.0);
}

TEST_CASE("metrics: label tables match their enums", "[unit]") {
    CHECK(metrics::label_of(metrics::InvalidReason::decode) == "decode");
    CHECK(metrics::label_of(metrics::InvalidReason::bad_author) == "bad_author");
    CHECK(metrics::label_of(metrics::ControlType::idontwant) == "idontwant");
    CHECK(metrics::label_of(metrics::LinkDirection::outbound) == "outbound");
    CHECK(metrics::label_of(Flow::in) == "in");
    CHECK(metrics::label_of(Flow::out) == "out");
    CHECK(metrics::label_of(metrics::LinkDropReason::queue_full) == "queue_full");
    CHECK(metrics::label_of(metrics::LinkDropReason::handshake_rate) == "handshake_rate");
    CHECK(metrics::label_of(metrics::SyncOutcome::budget) == "budget");
    // The router's drop reasons label themselves with their enumerator names (pubsub's one
    // table): spot checks at both ends and between, then every name snake_case and unique.
    CHECK(metrics::label_of(pubsub::DropReason::graylisted) == "graylisted");
    CHECK(metrics::label_of(pubsub::DropReason::graft_in_backoff) == "graft_in_backoff");
    CHECK(metrics::label_of(pubsub::DropReason::px_bad_signature) == "px_bad_signature");
    CHECK(metrics::label_of(pubsub::DropReason::iwant_unknown_id) == "iwant_unknown_id");
    CHECK(metrics::label_of(pubsub::DropReason::pending_expired) == "pending_expired");
    CHECK(metrics::label_of(pubsub::DropReason::catchup_over_budget) == "catchup_over_budget");
    for (std::size_t i = 0; i < pubsub::drop_reason_count; ++i) {
        std::string_view const label = pubsub::drop_reason_names[i];
        INFO(label);
        CHECK(!label.empty());
        CHECK(label.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos);
        for (std::size_t j = i + 1; j < pubsub::drop_reason_count; ++j) CHECK(label != pubsub::drop_reason_names[j]);
    }
    // Every name is unique and every metric appears once in all_metrics.
    for (std::size_t i = 0; i < metrics::all_metrics.size(); ++i) {
        for (std::size_t j = i + 1; j < metrics::all_metrics.size(); ++j) {
            CHECK(metrics::all_metrics[i].name != metrics::all_metrics[j].name);
        }
    }
}
