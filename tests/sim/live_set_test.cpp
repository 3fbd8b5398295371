// sim::LiveSet finds the XOR-closest id exactly as a full scan does, with and without a
// filter; sim::IndexSet picks uniformly and erases in O(1).
#include "sim/live_set.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace sim;
using core::NodeId;

namespace {

NodeId random_id(core::Rng& rng) {
    NodeId id;
    rng.fill(id.bytes);
    return id;
}

std::optional<NodeIndex> brute_force(std::vector<std::pair<NodeId, NodeIndex>> const& all, NodeId const& target,
                                     auto accept) {
    std::optional<std::pair<NodeId, NodeIndex>> best;
    for (auto const& e : all) {
        if (!accept(e.second)) continue;
        if (!best || target.closer(e.first, best->first)) best = e;
    }
    if (!best) return std::nullopt;
    return best->second;
}

}  // namespace

TEST_CASE("live set: closest equals a full scan", "[sim]") {
    core::Rng rng(99);
    LiveSet set;
    std::vector<std::pair<NodeId, NodeIndex>> all;
    for (NodeIndex i = 0; i < 3000; ++i) {
        auto id = random_id(rng);
        set.insert(id, i);
        all.emplace_back(id, i);
    }
    // Ids sharing long prefixes with others stress the deep end of the descent.
    for (NodeIndex i = 3000; i < 3064; ++i) {
        auto id = all[i % 7].first;
        id.bytes[31] ^= static_cast<std::byte>(i);
        id.bytes[20] ^= static_cast<std::byte>(i >> 3);
        if (set.contains(id)) continue;
        set.insert(id, i);
        all.emplace_back(id, i);
    }
    auto any = [](NodeIndex) { return true; };
    auto even = [](NodeIndex n) { return n % 2 == 0; };
    auto rare = [](NodeIndex n) { return n % 997 == 3; };
    for (int k = 0; k < 2000; ++k) {
        NodeId target = k % 3 == 0 ? all[rng.uniform(all.size())].first : random_id(rng);
        if (k % 5 == 0) target.bytes[31] ^= std::byte{1};
        CHECK(set.closest(target)->node == brute_force(all, target, any));
        CHECK(set.closest(target, even)->node == brute_force(all, target, even));
        CHECK(set.closest(target, rare)->node == brute_force(all, target, rare));
    }
    CHECK_FALSE(set.closest(random_id(rng), [](NodeIndex) { return false; }));
}

TEST_CASE("live set: erase and reinsert", "[sim]") {
    core::Rng rng(5);
    LiveSet set;
    auto a = random_id(rng), b = random_id(rng);
    set.insert(a, 1);
    set.insert(b, 2);
    CHECK(set.closest(a)->node == 1);
    CHECK(set.erase(a));
    CHECK_FALSE(set.erase(a));
    CHECK(set.closest(a)->node == 2);
    CHECK(set.size() == 1);
    CHECK(set.erase(b));
    CHECK_FALSE(set.closest(a));
}

TEST_CASE("index set: insert, erase, pick", "[sim]") {
    IndexSet s;
    for (NodeIndex i = 0; i < 10; ++i) s.insert(i);
    s.insert(3);
    CHECK(s.size() == 10);
    s.erase(3);
    s.erase(3);
    s.erase(9);
    CHECK(s.size() == 8);
    CHECK_FALSE(s.contains(3));
    CHECK(s.contains(4));
    core::Rng rng(1);
    std::map<NodeIndex, int> counts;
    for (int i = 0; i < 8000; ++i) ++counts[s.pick(rng)];
    CHECK(counts.size() == 8);
    for (auto [node, n] : counts) {
        CHECK(node != 3);
        CHECK(n == Approx(1000).margin(150));
    }
}
