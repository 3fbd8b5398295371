// Unit tests for metrics::Exporter: series exist at 0 from construction, dht::Stats deltas
// become monotonic counters, lookups fill the histograms, and the HTTP exposer serves and
// fails cleanly. Most tests read the registry through serialize(), with no socket; the one
// HTTP test uses the binary's only Exposer, since destroying one that served a scrape
// costs about 2 s (BUILD-NOTES.md).
#include "metrics/exporter.hpp"
#include "metrics/metric_names.hpp"
#include "tests/support/prometheus_text.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

using test_support::Labels;
using test_support::parse_samples;
using test_support::sample;

std::string str(std::string_view s) { return std::string(s); }

// GET /metrics from 127.0.0.1:port over a plain socket; HTTP/1.0 so the server closes the
// connection after the response. Every socket call is bounded by a 5 s timeout.
std::string http_get_metrics(std::uint16_t port) {
    int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval timeout{};
    timeout.tv_sec = 5;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        FAIL("connect to the exposer failed");
    }
    std::string const request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    std::string response;
    char buffer[4096];
    // Bounded in size as well as time: a runaway response must not hang the test.
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (response.size() < (1u << 20) && std::chrono::steady_clock::now() < deadline) {
        ssize_t const n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        response.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return response;
}

}  // namespace

TEST_CASE("metrics: every known label value is exported at 0 before any update", "[unit]") {
    metrics::Exporter exporter;
    auto const samples = parse_samples(exporter.serialize());

    for (auto reason : metrics::drop_reason_labels) {
        CHECK(sample(samples, metrics::name::packets_dropped_total, {{"reason", str(reason)}}) == 0.0);
    }
    for (auto type : metrics::rpc_type_labels) {
        for (auto outcome : metrics::rpc_outcome_labels) {
            CHECK(sample(samples, metrics::name::rpc_total, {{"type", str(type)}, {"outcome", str(outcome)}}) ==
                  0.0);
        }
    }
    for (auto direction : {metrics::direction_in, metrics::direction_out}) {
        CHECK(sample(samples, metrics::name::bytes_total, {{"direction", str(direction)}}) == 0.0);
        CHECK(sample(samples, metrics::name::packets_total, {{"direction", str(direction)}}) == 0.0);
    }
    for (auto kind : metrics::lookup_kind_labels) {
        Labels const labels{{"kind", str(kind)}};
        CHECK(sample(samples, str(metrics::name::lookup_duration_seconds) + "_count", labels) == 0.0);
        CHECK(sample(samples, str(metrics::name::lookup_hops) + "_count", labels) == 0.0);
    }
    for (auto name : {metrics::name::peers, metrics::name::active_peers, metrics::name::dht_records,
                      metrics::name::store_errors_total, metrics::name::routing_evictions_total,
                      metrics::name::dht_handoffs_total, metrics::name::dht_handoff_newcomers_skipped_total,
                      metrics::name::lookups_in_flight, metrics::name::uptime_seconds}) {
        INFO(name);
        CHECK(sample(samples, name) == 0.0);
    }
    // build_info carries the project version, whatever it is today.
    auto const build_info = samples.lower_bound(str(metrics::name::build_info) + "{version=\"");
    REQUIRE(build_info != samples.end());
    CHECK(build_info->first.rfind(str(metrics::name::build_info) + "{version=\"", 0) == 0);
    CHECK(build_info->second == 1.0);

    // Every metric of the table is in the output, with its type.
    std::string const text = exporter.serialize();
    for (auto const& m : metrics::all_metrics) {
        INFO(m.name);
        char const* type = m.type == metrics::MetricType::counter ? "counter"
                           : m.type == metrics::MetricType::gauge ? "gauge"
                                                                  : "histogram";
        CHECK(text.find("# TYPE " + str(m.name) + " " + type + "\n") != std::string::npos);
    }
}

TEST_CASE("metrics: update adds the counter deltas and sets the gauges", "[unit]") {
    metrics::Exporter exporter;
    dht::Stats stats;
    stats.drop(dht::DropReason::bad_mac) = 3;
    stats.rpc_count(dht::RpcType::ping, dht::RpcOutcome::ok) = 5;
    stats.rpc_count(dht::RpcType::store, dht::RpcOutcome::rejected) = 1;
    stats.bytes_in = 1000;
    stats.bytes_out = 400;
    stats.packets_in = 10;
    stats.packets_out = 4;
    stats.store_errors = 2;
    stats.evictions = 1;
    stats.handoffs = 6;
    stats.handoff_newcomers_skipped = 2;
    exporter.update(stats, {.peers = 12, .active_peers = 9, .records = 30, .lookups_in_flight = 2, .uptime_s = 60});

    auto samples = parse_samples(exporter.serialize());
    CHECK(sample(samples, metrics::name::packets_dropped_total, {{"reason", "bad_mac"}}) == 3.0);
    CHECK(sample(samples, metrics::name::packets_dropped_total, {{"reason", "stale"}}) == 0.0);
    CHECK(sample(samples, metrics::name::rpc_total, {{"type", "ping"}, {"outcome", "ok"}}) == 5.0);
    CHECK(sample(samples, metrics::name::rpc_total, {{"type", "store"}, {"outcome", "rejected"}}) == 1.0);
    CHECK(sample(samples, metrics::name::bytes_total, {{"direction", "in"}}) == 1000.0);
    CHECK(sample(samples, metrics::name::bytes_total, {{"direction", "out"}}) == 400.0);
    CHECK(sample(samples, metrics::name::packets_total, {{"direction", "in"}}) == 10.0);
    CHECK(sample(samples, metrics::name::packets_total, {{"direction", "out"}}) == 4.0);
    CHECK(sample(samples, metrics::name::store_errors_total) == 2.0);
    CHECK(sample(samples, metrics::name::routing_evictions_total) == 1.0);
    CHECK(sample(samples, metrics::name::dht_handoffs_total) == 6.0);
    CHECK(sample(samples, metrics::name::dht_handoff_newcomers_skipped_total) == 2.0);
    CHECK(sample(samples, metrics::name::peers) == 12.0);
    CHECK(sample(samples, metrics::name::active_peers) == 9.0);
    CHECK(sample(samples, metrics::name::dht_records) == 30.0);
    CHECK(sample(samples, metrics::name::lookups_in_flight) == 2.0);
    CHECK(sample(samples, metrics::name::uptime_seconds) == 60.0);

    SECTION("a second update adds only what grew, and gauges follow the latest values") {
        stats.drop(dht::DropReason::bad_mac) = 7;
        stats.drop(dht::DropReason::stale) = 1;
        stats.rpc_count(dht::RpcType::ping, dht::RpcOutcome::ok) = 5;  // unchanged
        stats.bytes_in = 1500;
        stats.store_errors = 2;
        exporter.update(stats, {.peers = 11, .active_peers = 3, .records = 0, .lookups_in_flight = 0, .uptime_s = 75});

        samples = parse_samples(exporter.serialize());
        CHECK(sample(samples, metrics::name::packets_dropped_total, {{"reason", "bad_mac"}}) == 7.0);
        CHECK(sample(samples, metrics::name::packets_dropped_total, {{"reason", "stale"}}) == 1.0);
        CHECK(sample(samples, metrics::name::rpc_total, {{"type", "ping"}, {"outcome", "ok"}}) == 5.0);
        CHECK(sample(samples, metrics::name::bytes_total, {{"direction", "in"}}) == 1500.0);
        CHECK(sample(samples, metrics::name::bytes_total, {{"direction", "out"}}) == 400.0);
        CHECK(sample(samples, metrics::name::store_errors_total) == 2.0);
        CHECK(sample(samples, metrics::name::peers) == 11.0);
        CHECK(sample(samples, metrics::name::active_peers) == 3.0);
        CHECK(sample(samples, metrics::name::dht_records) == 0.0);
        CHECK(sample(samples, metrics::name::uptime_seconds) == 75.0);
    }

    SECTION("stats that went backwards (a replaced node) count from 0 again, never down") {
        dht::Stats fresh;
        fresh.drop(dht::DropReason::bad_mac) = 2;
        fresh.bytes_in = 50;
        exporter.update(fresh, {});

        samples = parse_samples(exporter.serialize());
        CHECK(sample(samples, metrics::name::packets_dropped_total, {{"reason", "bad_mac"}}) == 5.0);
        CHECK(sample(samples, metrics::name::bytes_total, {{"direction", "in"}}) == 1050.0);
        CHECK(sample(samples, metrics::name::store_errors_total) == 2.0);

        fresh.drop(dht::DropReason::bad_mac) = 4;
        exporter.update(fresh, {});
        samples = parse_samples(exporter.serialize());
        CHECK(sample(samples, metrics::name::packets_dropped_total, {{"reason", "bad_mac"}}) == 7.0);
    }
}

TEST_CASE("metrics: finished lookups are counted in the histograms of their kind", "[unit]") {
    metrics::Exporter exporter;
    dht::LookupDone get;
    get.kind = dht::LookupKind::get;
    get.hops = 3;
    get.elapsed = std::chrono::milliseconds(20);
    exporter.observe_lookup(get);
    get.hops = 5;
    get.elapsed = std::chrono::seconds(2);
    exporter.observe_lookup(get);
    dht::LookupDone internal;
    internal.kind = dht::LookupKind::find_node;
    internal.internal = true;
    internal.hops = 0;
    internal.elapsed = std::chrono::microseconds(500);
    exporter.observe_lookup(internal);

    auto const samples = parse_samples(exporter.serialize());
    std::string const duration(metrics::name::lookup_duration_seconds);
    std::string const hops(metrics::name::lookup_hops);

    CHECK(sample(samples, duration + "_count", {{"kind", "get"}}) == 2.0);
    CHECK(sample(samples, duration + "_sum", {{"kind", "get"}}) == Approx(2.02));
    CHECK(sample(samples, duration + "_bucket", {{"kind", "get"}, {"le", "0.01"}}) == 0.0);
    CHECK(sample(samples, duration + "_bucket", {{"kind", "get"}, {"le", "0.025"}}) == 1.0);
    CHECK(sample(samples, duration + "_bucket", {{"kind", "get"}, {"le", "2.5"}}) == 2.0);
    CHECK(sample(samples, duration + "_bucket", {{"kind", "get"}, {"le", "+Inf"}}) == 2.0);
    CHECK(sample(samples, hops + "_count", {{"kind", "get"}}) == 2.0);
    CHECK(sample(samples, hops + "_sum", {{"kind", "get"}}) == 8.0);
    CHECK(sample(samples, hops + "_bucket", {{"kind", "get"}, {"le", "2"}}) == 0.0);
    CHECK(sample(samples, hops + "_bucket", {{"kind", "get"}, {"le", "3"}}) == 1.0);
    CHECK(sample(samples, hops + "_bucket", {{"kind", "get"}, {"le", "5"}}) == 2.0);

    // Internal lookups count too; a 0-hop lookup lands in the first bucket.
    CHECK(sample(samples, duration + "_count", {{"kind", "find_node"}}) == 1.0);
    CHECK(sample(samples, duration + "_bucket", {{"kind", "find_node"}, {"le", "0.001"}}) == 1.0);
    CHECK(sample(samples, hops + "_bucket", {{"kind", "find_node"}, {"le", "1"}}) == 1.0);

    CHECK(sample(samples, duration + "_count", {{"kind", "put"}}) == 0.0);
    CHECK(sample(samples, hops + "_count", {{"kind", "put"}}) == 0.0);
}

TEST_CASE("metrics: bad bind addresses are errors, not crashes", "[unit]") {
    auto const empty = metrics::Exporter::start("");
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().find("empty") != std::string::npos);

    // civetweb rejects what it cannot parse; the exporter reports it with the address.
    auto const garbage = metrics::Exporter::start("not an address");
    REQUIRE_FALSE(garbage.ok());
    CHECK(garbage.error().find("not an address") != std::string::npos);
}

// The binary's only Exposer: it serves one scrape, then its port is asked for twice.
TEST_CASE("metrics: the exposer serves /metrics over HTTP and refuses a port in use", "[unit]") {
    auto started = metrics::Exporter::start("127.0.0.1:0");
    REQUIRE(started.ok());
    auto& exporter = *started.value();
    std::uint16_t const port = exporter.port();
    REQUIRE(port != 0);

    exporter.update(dht::Stats{}, {.peers = 7, .active_peers = 0, .records = 0, .lookups_in_flight = 0, .uptime_s = 1});
    std::string const response = http_get_metrics(port);
    INFO(response.substr(0, 300));
    CHECK(response.rfind("HTTP/1.", 0) == 0);
    CHECK(response.find(" 200 ") != std::string::npos);
    CHECK(response.find("\nkadmium_peers 7") != std::string::npos);

    auto const again = metrics::Exporter::start("127.0.0.1:" + std::to_string(port));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().find(std::to_string(port)) != std::string::npos);
}
