// Multi-router tests on the in-memory PubsubNet: meshes form from provider answers alone,
// every subscriber gets every message exactly once, and the mesh repairs itself when
// relays die.
#include "tests/support/pubsub_net.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

namespace {

// 30 routers, each linked to 3 random others (a bootstrap graph); `subscribers` of them join
// "chat" and find each other through NeedPeers / provider answers.
std::vector<std::size_t> build(test::PubsubNet& net, std::size_t nodes, std::size_t subscribers, core::Rng& rng) {
    for (std::size_t i = 0; i < nodes; ++i) net.add_node();
    for (std::size_t i = 0; i < nodes; ++i) {
        for (int k = 0; k < 3; ++k) net.connect(i, rng.uniform(nodes));
    }
    std::vector<std::size_t> subs;
    for (std::size_t i = 0; i < subscribers; ++i) {
        subs.push_back(i);
        net.subscribe(i, "chat");
    }
    return subs;
}

void check_exactly_once(test::PubsubNet& net, std::vector<std::size_t> const& subs,
                        std::vector<pubsub::MessageId> const& ids) {
    for (auto s : subs) {
        if (!net.node(s).up) continue;
        INFO("subscriber " << s);
        for (auto const& id : ids) {
            auto it = net.node(s).delivered.find(id);
            REQUIRE(it != net.node(s).delivered.end());
            CHECK(it->second == 1);
        }
        CHECK(net.node(s).delivered.size() == ids.size());
    }
}

}  // namespace

TEST_CASE("pubsub net: every subscriber gets every message exactly once", "[unit][pubsub]") {
    test::PubsubNet net({}, 7);
    core::Rng rng(7);
    auto subs = build(net, 30, 12, rng);
    net.run_for(5s);
    for (auto s : subs) {
        auto info = net.node(s).router->topics();
        REQUIRE(info.size() == 1);
        CHECK(info[0].mesh_peers >= 4);
    }
    std::vector<pubsub::MessageId> ids;
    for (int m = 0; m < 40; ++m) {
        // Publishers alternate between a subscriber and nodes that are not subscribed.
        std::size_t const from = m % 2 == 0 ? subs[m % subs.size()] : 12 + m % 18;
        ids.push_back(net.publish(from, "chat", "message " + std::to_string(m)).id);
        net.run_for(50ms);
    }
    net.run_for(3s);
    check_exactly_once(net, subs, ids);
    for (std::size_t i = 12; i < 30; ++i) CHECK(net.node(i).delivered.empty());
}

TEST_CASE("pubsub net: a publish right after start reaches peers that appear seconds later", "[unit][pubsub]") {
    test::PubsubNet net({}, 3);
    for (int i = 0; i < 6; ++i) net.add_node();
    net.subscribe(0, "chat");
    auto const early = net.publish(0, "chat", "first words").id;  // nobody known yet
    CHECK(net.node(0).router->stats().publish_sends == 0);
    net.run_for(2s);
    for (std::size_t i = 1; i < 6; ++i) {
        net.subscribe(i, "chat");
        net.connect(i, 0);
    }
    net.run_for(3s);
    for (std::size_t i = 0; i < 6; ++i) {
        INFO("node " << i);
        CHECK(net.node(i).delivered.count(early) == 1);
        CHECK(net.node(i).delivered[early] == 1);
    }
}

TEST_CASE("pubsub net: killing relays still delivers after heartbeat repair", "[unit][pubsub]") {
    test::PubsubNet net({}, 11);
    core::Rng rng(11);
    auto subs = build(net, 30, 30, rng);
    net.run_for(5s);
    std::vector<pubsub::MessageId> before;
    for (int m = 0; m < 10; ++m) {
        before.push_back(net.publish(subs[m], "chat", "before " + std::to_string(m)).id);
        net.run_for(20ms);
    }
    net.run_for(2s);
    // Kill the 8 nodes with the most mesh links (the busiest relays).
    std::vector<std::pair<std::size_t, std::size_t>> load;
    for (auto s : subs) load.emplace_back(net.node(s).router->topics()[0].mesh_peers, s);
    std::sort(load.rbegin(), load.rend());
    std::set<std::size_t> dead;
    for (int k = 0; k < 8; ++k) {
        dead.insert(load[k].second);
        net.kill(load[k].second);
    }
    net.run_for(3s);  // heartbeats repair the meshes
    std::vector<std::size_t> alive;
    for (auto s : subs) {
        if (dead.contains(s)) continue;
        alive.push_back(s);
        CHECK(net.node(s).router->topics()[0].mesh_peers >= 5);  // D_lo
    }
    std::vector<pubsub::MessageId> after;
    for (int m = 0; m < 20; ++m) {
        after.push_back(net.publish(alive[m % alive.size()], "chat", "after " + std::to_string(m)).id);
        net.run_for(20ms);
    }
    net.run_for(3s);
    for (auto s : alive) {
        INFO("subscriber " << s);
        for (auto const& id : after) CHECK(net.node(s).delivered[id] == 1);
        for (auto const& id : before) CHECK(net.node(s).delivered[id] == 1);
    }
}

TEST_CASE("pubsub net: many seeds, publishing from the first moment, subscribers killed", "[unit][pubsub][slow]") {
    for (std::uint64_t seed = 100; seed < 112; ++seed) {
        INFO("seed " << seed);
        test::PubsubNet net({}, seed);
        core::Rng rng(seed);
        std::size_t const nodes = 40;
        for (std::size_t i = 0; i < nodes; ++i) net.add_node();
        for (std::size_t i = 0; i < nodes; ++i) {
            for (int k = 0; k < 2; ++k) net.connect(i, rng.uniform(nodes));
        }
        std::vector<std::size_t> subs;
        for (std::size_t i = 0; i < 15; ++i) {
            subs.push_back(i);
            net.subscribe(i, "chat");
        }
        // Publishing starts before any mesh exists, from any node.
        std::vector<pubsub::MessageId> ids;
        for (int m = 0; m < 10; ++m) {
            ids.push_back(net.publish(rng.uniform(nodes), "chat", "early " + std::to_string(m)).id);
            net.run_for(100ms);
        }
        net.run_for(3s);
        for (int k = 0; k < 4; ++k) net.kill(subs[k]);
        net.run_for(50ms);
        for (int m = 0; m < 20; ++m) {
            std::size_t from = rng.uniform(nodes);
            while (!net.node(from).up) from = rng.uniform(nodes);
            ids.push_back(net.publish(from, "chat", "late " + std::to_string(m)).id);
            net.run_for(30ms);
        }
        net.run_for(5s);
        subs.erase(subs.begin(), subs.begin() + 4);
        check_exactly_once(net, subs, ids);
    }
}
