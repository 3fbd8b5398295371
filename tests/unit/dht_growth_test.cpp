// Growing the routing table after start (Config::grow_interval_min), on the in-process
// test network: nodes started together, each bootstrapping from one started just before
// it, converge; a bootstrap address that comes up late is asked again; requesters are
// learned; and the growth ticks stop once the table is full and steady.
#include "tests/support/test_net.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace dht;
using namespace std::chrono_literals;
using test::TestNet;

namespace {

Config local_config() {
    Config c;
    c.rpc_timeout = 500ms;
    return c;
}

bool knows(TestNet& net, std::size_t i, std::size_t j) {
    auto peers = net[i].node->peers();
    return std::any_of(peers.begin(), peers.end(), [&](PeerInfo const& p) { return p.contact.id == net[j].node->id(); });
}

}  // namespace

TEST_CASE("dht growth: 30 nodes started at once, each from a random earlier one, all converge", "[unit]") {
    TestNet net(local_config(), 7);
    core::Rng pick(11);
    for (int i = 0; i < 30; ++i) net.add_node();
    // Every bootstrap at the same instant: nobody has joined when the others ask.
    for (std::size_t i = 1; i < net.size(); ++i) {
        net[i].node->bootstrap(net.now(), net[pick.uniform(i)].address);
        net.drain(i);
    }
    net.run_for(10s);
    std::size_t fewest = net.size();
    for (std::size_t i = 0; i < net.size(); ++i) fewest = std::min(fewest, net[i].node->peer_count());
    INFO("smallest routing table after 10 s: " << fewest);
    CHECK(fewest >= 20);
    // And a lookup of every node's id from node 0 finds that node first.
    for (std::size_t j = 1; j < net.size(); ++j) {
        auto done = net.wait_done(0, net[0].node->find_node(net.now(), net[j].node->id()));
        REQUIRE_FALSE(done.closest.empty());
        CHECK(done.closest[0].id == net[j].node->id());
    }
}

TEST_CASE("dht growth: a bootstrap address that comes up late is asked again", "[unit]") {
    TestNet net(local_config());
    for (int i = 0; i < 3; ++i) net.add_node();
    net[0].up = false;  // not started yet: every hello to it is lost
    net[1].node->bootstrap(net.now(), net[0].address);
    net[2].node->bootstrap(net.now(), net[0].address);
    net.drain(1);
    net.drain(2);
    // Long past the hello's own retries (about 5 s).
    net.run_for(20s);
    CHECK(net[1].node->peer_count() == 0);
    net[0].up = true;
    CHECK(net.run_until_true([&] { return knows(net, 1, 0) && knows(net, 2, 0); }, 90s));
    // Both joined through node 0, and the growth ticks made them find each other.
    CHECK(net.run_until_true([&] { return knows(net, 1, 2) && knows(net, 2, 1); }, 90s));
    std::size_t reached = 0;
    for (auto const& e : net[1].events) reached += std::holds_alternative<BootstrapReached>(e);
    CHECK(reached == 1);
}

TEST_CASE("dht growth: a node learns every node that sends it a request", "[unit]") {
    TestNet net(local_config());
    for (int i = 0; i < 2; ++i) net.add_node();
    net[1].node->bootstrap(net.now(), net[0].address);
    net.drain(1);
    net.run_for(2s);
    // Node 0 never asked anyone: it knows node 1 from node 1's requests alone.
    CHECK(knows(net, 0, 1));
    CHECK(knows(net, 1, 0));
}

TEST_CASE("dht growth: ticks stop once the table is full and steady", "[unit]") {
    TestNet net(local_config(), 3);
    for (int i = 0; i < 30; ++i) net.add_node();
    net.bootstrap_all(5s);
    // Growth: ticks 1, 2, 4, ... 60 s apart, then one more quiet tick at 60 s ends it.
    net.run_for(5min);
    auto before = net[5].node->stats().lookups_started;
    net.run_for(10min);
    auto during = net[5].node->stats().lookups_started - before;
    // Only the periodic refresh is left: ticks every ~3.75 min (bucket_refresh_interval / 4),
    // each refreshing the few buckets not looked up for 15 min. Growth ticks would add
    // at least 3 lookups a minute (30 in 10 min).
    INFO("lookups started in 10 quiet minutes: " << during);
    CHECK(during <= 12);
}

TEST_CASE("dht growth: a tick whose table is full and did not grow sends nothing", "[unit]") {
    // 30 nodes: every table holds the 29 others (not thin) soon after the joins. Ticks
    // then come 8, 16, 32, 60 s apart; none of them should look anything up, since the
    // table did not grow since the tick before (each such round cost ~150 datagrams per
    // node for nothing: 100 node processes on 2 cores spent a quarter of them on it).
    TestNet net(local_config(), 9);
    for (int i = 0; i < 30; ++i) net.add_node();
    net.bootstrap_all(10s);
    for (std::size_t i = 0; i < net.size(); ++i) REQUIRE(net[i].node->peer_count() == 29);
    std::vector<std::uint64_t> before;
    for (std::size_t i = 0; i < net.size(); ++i) before.push_back(net[i].node->stats().lookups_started);
    auto const packets_before = net[5].node->stats().packets_out;
    net.run_for(100s);  // ticks at ~15, 31, 63 s and beyond; no bucket refresh due yet
    for (std::size_t i = 0; i < net.size(); ++i) CHECK(net[i].node->stats().lookups_started == before[i]);
    CHECK(net[5].node->stats().packets_out == packets_before);
    // A node that joins later is still found: it announces itself by its own join.
    auto late = net.add_node();
    net[late].node->bootstrap(net.now(), net[0].address);
    net.run_for(10s);
    CHECK(net[late].node->peer_count() >= 20);
    std::size_t knowers = 0;
    for (std::size_t i = 0; i < late; ++i) knowers += knows(net, i, late) ? 1 : 0;
    CHECK(knowers >= 15);
}
