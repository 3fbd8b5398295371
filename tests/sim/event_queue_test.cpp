// sim::EventQueue: events pop by time, then by the order they were pushed; never by
// payload, pointer or heap layout.
#include "sim/event_queue.hpp"

#include "core/rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <tuple>

using sim::EventQueue;

namespace {
core::Instant at_ms(std::int64_t ms) { return core::Instant{core::Duration{ms * 1000}}; }
}  // namespace

TEST_CASE("event queue: pops in time order", "[sim]") {
    EventQueue<int> q;
    q.push(at_ms(30), 3);
    q.push(at_ms(10), 1);
    q.push(at_ms(20), 2);
    REQUIRE(q.size() == 3);
    CHECK(q.peek_time() == at_ms(10));
    CHECK(q.pop()->payload == 1);
    CHECK(q.pop()->payload == 2);
    CHECK(q.pop()->payload == 3);
    CHECK_FALSE(q.pop());
    CHECK(q.empty());
}

TEST_CASE("event queue: ties pop in push order", "[sim]") {
    EventQueue<std::string> q;
    // Payloads that would sort the other way, so only the sequence can give this order.
    for (char c = 'z'; c >= 'a'; --c) q.push(at_ms(5), std::string(1, c));
    q.push(at_ms(1), "first");
    CHECK(q.pop()->payload == "first");
    for (char c = 'z'; c >= 'a'; --c) {
        auto e = q.pop();
        REQUIRE(e);
        CHECK(e->payload == std::string(1, c));
        CHECK(e->at == at_ms(5));
    }
}

TEST_CASE("event queue: sequence numbers count every push", "[sim]") {
    EventQueue<int> q;
    CHECK(q.push(at_ms(1), 0) == 0);
    CHECK(q.push(at_ms(1), 0) == 1);
    q.pop();
    CHECK(q.push(at_ms(0), 0) == 2);
    CHECK(q.pushed() == 3);
}

TEST_CASE("event queue: random interleaving matches a sorted reference", "[sim]") {
    core::Rng rng(7);
    EventQueue<std::uint64_t> q;
    std::vector<std::tuple<std::int64_t, std::uint64_t, std::uint64_t>> reference;  // (time, seq, payload)
    std::vector<std::tuple<std::int64_t, std::uint64_t, std::uint64_t>> popped;
    std::int64_t now = 0;
    for (int round = 0; round < 20000; ++round) {
        if (rng.chance(0.6) || q.empty()) {
            // Coarse times make many ties.
            auto t = now + static_cast<std::int64_t>(rng.uniform(50));
            auto payload = rng.next();
            auto seq = q.push(core::Instant{core::Duration{t}}, payload);
            reference.emplace_back(t, seq, payload);
        } else {
            auto e = q.pop();
            REQUIRE(e);
            REQUIRE(e->at.since_origin.count() >= now);  // time never goes back
            now = e->at.since_origin.count();
            popped.emplace_back(now, e->seq, e->payload);
        }
    }
    while (auto e = q.pop()) popped.emplace_back(e->at.since_origin.count(), e->seq, e->payload);
    std::sort(reference.begin(), reference.end());
    REQUIRE(popped.size() == reference.size());
    // Every event popped exactly once, and globally in (time, sequence) order because
    // pushes never go below the current time.
    CHECK(popped == reference);
}

TEST_CASE("event queue: payloads are released when popped", "[sim]") {
    EventQueue<std::vector<int>> q;
    q.push(at_ms(1), std::vector<int>(1000, 1));
    auto e = q.pop();
    REQUIRE(e);
    CHECK(e->payload.size() == 1000);
    // The slot is reused for the next push.
    q.push(at_ms(2), std::vector<int>{2});
    CHECK(q.pop()->payload == std::vector<int>{2});
}
