// sim::SimNetwork and sim::LatencyModel: addressing, latency models, loss, duplication,
// reordering and partitions, each checked on its own with no engine involved.
#include "sim/sim_network.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

using namespace sim;
using core::Duration;

namespace {
Duration ms(std::int64_t v) { return Duration{v * 1000}; }
}  // namespace

TEST_CASE("network: every node has its own /24 and the mapping round-trips", "[sim]") {
    std::set<std::uint64_t> subnets;
    for (NodeIndex i : {0u, 1u, 255u, 256u, 65535u, 65536u, 99'999u, 1'000'000u}) {
        auto e = endpoint_of(i);
        CHECK(e.port == sim_port);
        CHECK_FALSE(e.is_loopback());
        CHECK(index_of(e) == i);
        subnets.insert(e.subnet_key());
    }
    CHECK(subnets.size() == 8);
    CHECK(endpoint_of(0).to_string() == "10.0.0.1:4000");
    CHECK_FALSE(index_of(core::Endpoint::v4(10, 0, 0, 2, sim_port)));
    CHECK_FALSE(index_of(core::Endpoint::v4(10, 0, 0, 1, 4001)));
    CHECK_FALSE(index_of(core::Endpoint::v4(127, 0, 0, 1, sim_port)));
}

TEST_CASE("latency: constant model", "[sim]") {
    auto m = LatencyModel::constant(ms(20));
    CHECK(m.base(1, 3, 9) == ms(20));
    CHECK(m.jitter() == Duration{0});
    CHECK(m.max_one_way() == ms(20));
    CHECK(m.describe() == "constant:20");
}

TEST_CASE("latency: uniform model is per pair, symmetric and in range", "[sim]") {
    auto m = LatencyModel::uniform(ms(10), ms(100));
    std::set<std::int64_t> seen;
    for (NodeIndex a = 0; a < 50; ++a) {
        for (NodeIndex b = 0; b < 50; ++b) {
            auto d = m.base(42, a, b);
            CHECK(d >= ms(10));
            CHECK(d <= ms(100));
            CHECK(d == m.base(42, b, a));
            seen.insert(d.count());
        }
    }
    CHECK(seen.size() > 100);
    CHECK(m.base(42, 1, 2) != m.base(43, 1, 2));  // the seed changes the draw (almost surely)
}

TEST_CASE("latency: regions model uses the matrix", "[sim]") {
    auto m = LatencyModel::regions({"a", "b"}, {1, 50, 50, 2}, ms(0));
    CHECK(m.region_count() == 2);
    int across = 0;
    for (NodeIndex a = 0; a < 40; ++a) {
        for (NodeIndex b = 0; b < 40; ++b) {
            auto ra = m.region_of(5, a), rb = m.region_of(5, b);
            auto want = ra != rb ? ms(50) : (ra == 0 ? ms(1) : ms(2));
            CHECK(m.base(5, a, b) == want);
            across += ra != rb;
        }
    }
    CHECK(across > 0);
    auto builtin = LatencyModel::regions(ms(5));
    CHECK(builtin.region_count() == 5);
    CHECK(builtin.jitter() == ms(5));
    CHECK(builtin.max_one_way() == ms(155));
    CHECK(LatencyModel::uniform(ms(3), ms(30)).max_one_way() == ms(30));
}

TEST_CASE("latency: parse accepts the documented forms and rejects others", "[sim]") {
    std::string error;
    CHECK(LatencyModel::parse("constant:35", error)->base(0, 1, 2) == ms(35));
    CHECK(LatencyModel::parse("uniform:5:9", error)->kind() == LatencyModel::Kind::uniform);
    CHECK(LatencyModel::parse("regions", error)->jitter() == ms(5));
    CHECK(LatencyModel::parse("regions:12.5", error)->jitter() == Duration{12'500});
    for (auto bad : {"", "constant", "constant:-1", "constant:x", "uniform:9:5", "regions:1:2", "lognormal:3",
                     "constant:1e9"}) {
        error.clear();
        CHECK_FALSE(LatencyModel::parse(bad, error));
        CHECK_FALSE(error.empty());
    }
}

TEST_CASE("latency: a matrix file replaces the built-in regions", "[sim]") {
    auto path = std::filesystem::temp_directory_path() / "kadmium_sim_matrix_test.txt";
    {
        std::ofstream f(path);
        f << "# one-way ms\nnear far\n1 80\n80 3\n";
    }
    auto m = LatencyModel::regions(ms(7));
    std::string error;
    REQUIRE(m.load_matrix(path.string(), error));
    CHECK(m.region_count() == 2);
    CHECK(m.region_name(1) == "far");
    CHECK(m.jitter() == ms(7));
    {
        std::ofstream f(path);
        f << "a b\n1 2\n";
    }
    CHECK_FALSE(m.load_matrix(path.string(), error));
    CHECK_FALSE(m.load_matrix((path.string() + ".missing"), error));
    std::filesystem::remove(path);
}

TEST_CASE("network: loss and duplication happen at the configured rates", "[sim]") {
    SimNetwork net({.latency = LatencyModel::constant(ms(10)), .loss = 0.2, .duplicate = 0.1}, 3);
    int delivered = 0, dropped = 0, twice = 0;
    for (int i = 0; i < 20000; ++i) {
        auto r = net.route(1, 2, 100);
        if (r.count == 0) ++dropped;
        if (r.count == 2) ++twice;
        delivered += r.count;
        for (int k = 0; k < r.count; ++k) CHECK(r.delay[k] == ms(10));
    }
    CHECK(dropped == Approx(4000).margin(300));
    CHECK(twice == Approx(1600).margin(200));
    CHECK(delivered == 20000 - dropped + twice);
    CHECK(net.stats().sent == 20000);
    CHECK(net.stats().lost == static_cast<std::uint64_t>(dropped));
    CHECK(net.stats().duplicated == static_cast<std::uint64_t>(twice));
}

TEST_CASE("network: jitter and the reorder window spread delays", "[sim]") {
    SimNetwork net({.latency = LatencyModel::constant(ms(10)), .reorder_window = ms(30)}, 3);
    Duration lo = Duration::max(), hi = Duration::min();
    for (int i = 0; i < 2000; ++i) {
        auto r = net.route(1, 2, 100);
        REQUIRE(r.count == 1);
        lo = std::min(lo, r.delay[0]);
        hi = std::max(hi, r.delay[0]);
    }
    CHECK(lo >= ms(10));
    CHECK(hi <= ms(40));
    CHECK(hi - lo > ms(25));
}

TEST_CASE("network: the same seed gives the same fates", "[sim]") {
    NetworkOptions o{.latency = LatencyModel::regions(ms(5)), .loss = 0.3, .duplicate = 0.2};
    SimNetwork a(o, 11), b(o, 11), c(o, 12);
    bool differs = false;
    for (int i = 0; i < 1000; ++i) {
        auto ra = a.route(i % 17, i % 29, 80), rb = b.route(i % 17, i % 29, 80), rc = c.route(i % 17, i % 29, 80);
        REQUIRE(ra.count == rb.count);
        for (int k = 0; k < ra.count; ++k) CHECK(ra.delay[k] == rb.delay[k]);
        differs |= ra.count != rc.count || (ra.count > 0 && ra.delay[0] != rc.delay[0]);
    }
    CHECK(differs);
}

TEST_CASE("network: symmetric and one-way partitions, then heal", "[sim]") {
    SimNetwork net({}, 5);
    net.partition(1000, 0.5, false);
    REQUIRE(net.partitioned());
    NodeIndex a = 0, b = 0;
    while (net.side_of(a) != 0) ++a;
    while (net.side_of(b) != 1) ++b;
    CHECK(net.reachable(a, a));
    CHECK_FALSE(net.reachable(a, b));
    CHECK_FALSE(net.reachable(b, a));
    CHECK(net.route(a, b, 10).count == 0);
    CHECK(net.stats().cut == 1);
    // Nodes created after the cut are on side 0.
    CHECK(net.side_of(5000) == 0);

    net.partition(1000, 0.5, true);
    while (net.side_of(a) != 0) ++a;
    while (net.side_of(b) != 1) ++b;
    CHECK_FALSE(net.reachable(a, b));
    CHECK(net.reachable(b, a));

    net.heal();
    CHECK_FALSE(net.partitioned());
    CHECK(net.reachable(a, b));
    CHECK(net.route(a, b, 10).count == 1);
}

TEST_CASE("network: datagrams above the MTU are counted", "[sim]") {
    SimNetwork net({.mtu = 1200}, 1);
    CHECK(net.route(1, 2, 1200).count == 1);
    CHECK(net.route(1, 2, 1201).count == 1);
    CHECK(net.stats().oversize == 1);
}
