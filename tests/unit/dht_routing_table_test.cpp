// Routing table rules: k per bucket, ping-before-evict of the least-recently-seen entry,
// at most two entries per /24 (or /64) per bucket, closest-first ordering.
#include "dht/routing_table.hpp"

#include "core/rng.hpp"

#include <catch2/catch.hpp>

using namespace dht;
using core::Instant;
using namespace std::chrono_literals;

namespace {
// A contact whose id falls in bucket `prefix_len` of `self`, on its own /24 by default.
Contact contact_in_bucket(NodeId const& self, std::size_t prefix_len, core::Rng& rng, std::uint8_t subnet) {
    for (;;) {
        core::PublicKey pk;
        rng.fill(pk.bytes);
        auto id = core::node_id_of(pk);
        if (static_cast<std::size_t>(self.distance(id).leading_zeros()) == prefix_len)
            return Contact::make(pk, core::Endpoint::v4(10, subnet, static_cast<std::uint8_t>(rng.uniform(250)), 1, 4000));
    }
}
// Fills bucket 0 of `table` with `n` contacts from /24s 0..n-1, seen at seconds 0..n-1.
std::vector<Contact> fill_bucket_zero(RoutingTable& table, NodeId const& self, core::Rng& rng, int n) {
    std::vector<Contact> in;
    for (int i = 0; i < n; ++i) {
        in.push_back(contact_in_bucket(self, 0, rng, static_cast<std::uint8_t>(i)));
        CHECK(table.observe(in.back(), Instant{} + std::chrono::seconds(i)).outcome == RoutingTable::Outcome::added);
    }
    return in;
}
}  // namespace

TEST_CASE("routing table: a full bucket pings its oldest entry and evicts only if the ping fails", "[unit]") {
    core::Rng rng(1);
    NodeId self;
    rng.fill(self.bytes);
    RoutingTable table(self, 4, 2, false, 0s);
    auto const in = fill_bucket_zero(table, self, rng, 4);
    auto newcomer = contact_in_bucket(self, 0, rng, 50);
    auto r = table.observe(newcomer, Instant{} + 10s);
    CHECK(r.outcome == RoutingTable::Outcome::pending);
    REQUIRE(r.ping_oldest);
    CHECK(r.ping_oldest->id == in[0].id);  // least recently seen
    CHECK_FALSE(table.contains(newcomer.id));

    SECTION("the oldest answers: it stays, the newcomer is dropped") {
        CHECK(table.observe(in[0], Instant{} + 11s).outcome == RoutingTable::Outcome::updated);
        CHECK(table.contains(in[0].id));
        CHECK_FALSE(table.contains(newcomer.id));
        // And the next newcomer pings the new oldest, in[1].
        auto again = table.observe(contact_in_bucket(self, 0, rng, 51), Instant{} + 12s);
        REQUIRE(again.ping_oldest);
        CHECK(again.ping_oldest->id == in[1].id);
    }
    SECTION("the ping fails: the newcomer replaces the oldest") {
        table.on_failure(in[0].id);
        CHECK_FALSE(table.contains(in[0].id));
        CHECK(table.contains(newcomer.id));
        CHECK(table.size() == 4);
    }
    SECTION("while a ping is in flight, more newcomers do not start more pings") {
        auto second = table.observe(contact_in_bucket(self, 0, rng, 52), Instant{} + 10s);
        CHECK(second.outcome == RoutingTable::Outcome::pending);
        CHECK_FALSE(second.ping_oldest);
    }
    SECTION("a failure of an entry that was not pinged does not evict it at once") {
        table.on_failure(in[2].id);
        CHECK(table.contains(in[2].id));
    }
    CHECK(table.check_invariants());
}

TEST_CASE("routing table: the oldest entry is pinged for a newcomer only once it looks idle, a stale one at once",
          "[unit]") {
    core::Rng rng(11);
    NodeId self;
    rng.fill(self.bytes);
    RoutingTable table(self, 4, 2, false, 15min);
    auto const in = fill_bucket_zero(table, self, rng, 4);
    // Heard from 10 s ago: no ping; the newcomer waits as a replacement.
    auto newcomer = contact_in_bucket(self, 0, rng, 50);
    auto r = table.observe(newcomer, Instant{} + 10s);
    CHECK(r.outcome == RoutingTable::Outcome::pending);
    CHECK_FALSE(r.ping_oldest);
    CHECK_FALSE(table.contains(newcomer.id));
    // Two failures in a row make an entry stale: it is replaced by the waiting newcomer.
    table.on_failure(in[2].id);
    table.on_failure(in[2].id);
    CHECK_FALSE(table.contains(in[2].id));
    CHECK(table.contains(newcomer.id));
    // A stale entry is pinged for the next newcomer however recently it was seen...
    table.on_failure(in[3].id);
    table.on_failure(in[3].id);  // no replacement left: it stays, stale
    REQUIRE(table.contains(in[3].id));
    auto second = table.observe(contact_in_bucket(self, 0, rng, 51), Instant{} + 11s);
    REQUIRE(second.ping_oldest);
    CHECK(second.ping_oldest->id == in[3].id);
    table.observe(in[3], Instant{} + 12s);  // it answers
    // ...and the oldest once 15 minutes have passed since we heard from it (the replacement
    // went in first in line, as old as the oldest entry).
    auto third = table.observe(contact_in_bucket(self, 0, rng, 52), Instant{} + 15min);
    REQUIRE(third.ping_oldest);
    CHECK(third.ping_oldest->id == newcomer.id);
    CHECK(table.check_invariants());
}

TEST_CASE("routing table: at most two entries per /24 per bucket; loopback exempt only when allowed", "[unit]") {
    core::Rng rng(2);
    NodeId self;
    rng.fill(self.bytes);
    RoutingTable table(self, 20, 2, false, 0s);
    int added = 0, rejected = 0;
    for (int i = 0; i < 6; ++i) {
        auto c = contact_in_bucket(self, 0, rng, 7);  // all in 10.7.x.0/24? no: third octet random
        c.address = core::Endpoint::v4(10, 7, 7, static_cast<std::uint8_t>(i + 1), 4000);
        auto o = table.observe(c, Instant{}).outcome;
        if (o == RoutingTable::Outcome::added) ++added;
        if (o == RoutingTable::Outcome::rejected_subnet) ++rejected;
    }
    CHECK(added == 2);
    CHECK(rejected == 4);
    // Another bucket has its own allowance.
    auto other = contact_in_bucket(self, 1, rng, 7);
    other.address = core::Endpoint::v4(10, 7, 7, 200, 4000);
    CHECK(table.observe(other, Instant{}).outcome == RoutingTable::Outcome::added);
    // IPv6 groups by /64.
    auto v6a = contact_in_bucket(self, 2, rng, 0);
    auto v6b = contact_in_bucket(self, 2, rng, 0);
    auto v6c = contact_in_bucket(self, 2, rng, 0);
    v6a.address = *core::Endpoint::parse("[2001:db8:0:1::a]:1");
    v6b.address = *core::Endpoint::parse("[2001:db8:0:1::b]:1");
    v6c.address = *core::Endpoint::parse("[2001:db8:0:1::c]:1");
    table.observe(v6a, Instant{});
    table.observe(v6b, Instant{});
    CHECK(table.observe(v6c, Instant{}).outcome == RoutingTable::Outcome::rejected_subnet);
    CHECK(table.check_invariants());

    RoutingTable local(self, 20, 2, true, 0s);
    for (int i = 0; i < 6; ++i) {
        auto c = contact_in_bucket(self, 0, rng, 0);
        c.address = core::Endpoint::v4(127, 0, 0, 1, static_cast<std::uint16_t>(5000 + i));
        CHECK(local.observe(c, Instant{}).outcome == RoutingTable::Outcome::added);
    }
}

TEST_CASE("routing table: closest() is sorted by XOR distance and puts stale entries last", "[unit]") {
    core::Rng rng(3);
    NodeId self;
    rng.fill(self.bytes);
    RoutingTable table(self, 20, 2, true, 0s);
    std::vector<Contact> all;
    for (int i = 0; i < 200; ++i) {
        core::PublicKey pk;
        rng.fill(pk.bytes);
        auto c = Contact::make(pk, core::Endpoint::v4(127, 0, 0, 1, static_cast<std::uint16_t>(i + 1)));
        if (table.observe(c, Instant{} + std::chrono::milliseconds(i)).outcome == RoutingTable::Outcome::added)
            all.push_back(c);
    }
    CHECK(table.size() == all.size());
    CHECK(table.check_invariants());
    NodeId target;
    rng.fill(target.bytes);
    auto got = table.closest(target, 10);
    REQUIRE(got.size() == 10);
    std::sort(all.begin(), all.end(), [&](Contact const& a, Contact const& b) { return target.closer(a.id, b.id); });
    for (std::size_t i = 0; i < 10; ++i) CHECK(got[i].id == all[i].id);
    // Two failures make the closest entry stale: it moves behind the healthy ones (in a
    // table with no replacement waiting: with one, it would be replaced).
    RoutingTable plain(self, 20, 2, true, 0s);
    for (std::size_t i = 0; i < all.size(); ++i) plain.observe(all[i], Instant{} + std::chrono::milliseconds(i));
    plain.on_failure(all[0].id);
    plain.on_failure(all[0].id);
    auto after = plain.closest(target, all.size());
    CHECK(after.front().id == all[1].id);
    CHECK(after.back().id == all[0].id);
    // In the first table, where newcomers found the bucket full, they wait as
    // replacements: the entry gives way.
    REQUIRE(table.bucket_size(table.prefix_len_of(all[0].id)) == 20);
    table.on_failure(all[0].id);
    CHECK(table.on_failure(all[0].id));
    CHECK_FALSE(table.contains(all[0].id));
    CHECK(table.size() == all.size());
    CHECK(table.check_invariants());
    // Self is never added.
    core::PublicKey none;
    CHECK(table.observe(Contact{self, none, core::Endpoint::v4(1, 1, 1, 1, 1)}, Instant{}).outcome ==
          RoutingTable::Outcome::rejected_self);
}

TEST_CASE("routing table: closest() agrees with a brute-force sort for many targets and sizes", "[unit]") {
    core::Rng rng(4);
    NodeId self;
    rng.fill(self.bytes);
    RoutingTable table(self, 20, 2, true, 0s);
    for (int i = 0; i < 3000; ++i) {
        core::PublicKey pk;
        rng.fill(pk.bytes);
        table.observe(Contact::make(pk, core::Endpoint::v4(127, 0, 0, 1, static_cast<std::uint16_t>(i + 1))),
                      Instant{} + std::chrono::milliseconds(i));
    }
    auto entries = table.entries();
    // Make a few entries stale.
    for (std::size_t i = 0; i < entries.size(); i += 17) {
        table.on_failure(entries[i].contact.id);
        table.on_failure(entries[i].contact.id);
    }
    entries = table.entries();
    REQUIRE(table.check_invariants());
    for (int round = 0; round < 200; ++round) {
        NodeId target;
        rng.fill(target.bytes);
        if (round % 10 == 0) target = entries[rng.uniform(entries.size())].contact.id;  // a member
        if (round == 1) target = self;
        std::size_t n = 1 + rng.uniform(100);
        auto expected = entries;
        std::sort(expected.begin(), expected.end(), [&](auto const& a, auto const& b) {
            bool sa = a.failures >= RoutingTable::stale_failures, sb = b.failures >= RoutingTable::stale_failures;
            if (sa != sb) return !sa;
            return target.closer(a.contact.id, b.contact.id);
        });
        expected.resize(std::min(n, expected.size()));
        auto got = table.closest(target, n);
        REQUIRE(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].id == expected[i].contact.id);
    }
}

TEST_CASE("routing table: an entry failing twice in a row gives way to a waiting replacement", "[unit]") {
    core::Rng rng(9);
    NodeId self;
    rng.fill(self.bytes);
    RoutingTable table(self, 2, 2, false, 0s);
    // Three contacts in the far bucket (prefix 0): two fit, the third waits.
    std::vector<Contact> far;
    for (int i = 0; far.size() < 3 && i < 1000; ++i) {
        core::PublicKey pk;
        rng.fill(pk.bytes);
        auto c = Contact::make(pk, core::Endpoint::v4(10, 0, static_cast<std::uint8_t>(i), 1, 4000));
        if (table.prefix_len_of(c.id) == 0) far.push_back(c);
    }
    REQUIRE(far.size() == 3);
    core::Instant t{};
    CHECK(table.observe(far[0], t).outcome == RoutingTable::Outcome::added);
    CHECK(table.observe(far[1], t).outcome == RoutingTable::Outcome::added);
    auto r = table.observe(far[2], t);
    CHECK(r.outcome == RoutingTable::Outcome::pending);
    REQUIRE(r.ping_oldest);
    // The oldest answers its ping: it stays, and the newcomer stays a replacement.
    table.observe(far[0], t + 1s);
    CHECK_FALSE(table.contains(far[2].id));
    // far[1] fails once: the caller is asked to verify it (an eviction ping)...
    CHECK_FALSE(table.on_failure(far[1].id));
    auto verify = table.verify_after_failure(far[1].id);
    REQUIRE(verify);
    CHECK(verify->id == far[1].id);
    CHECK_FALSE(table.verify_after_failure(far[1].id));  // one ping at a time
    // ...which fails: the replacement takes its place.
    CHECK(table.on_failure(far[1].id));
    CHECK_FALSE(table.contains(far[1].id));
    CHECK(table.contains(far[2].id));
    CHECK(table.size() == 2);
    CHECK(table.check_invariants());
    // No replacement left: a failing entry stays until remove_failures.
    CHECK_FALSE(table.verify_after_failure(far[0].id));
    for (unsigned i = 1; i < RoutingTable::remove_failures; ++i) CHECK_FALSE(table.on_failure(far[0].id));
    CHECK(table.on_failure(far[0].id));
    CHECK_FALSE(table.contains(far[0].id));
}

TEST_CASE("routing table: nearest() lists measured, healthy entries by round trip", "[unit]") {
    core::Rng rng(5);
    NodeId self;
    rng.fill(self.bytes);
    RoutingTable table(self, 20, 2, true, 0s);
    std::vector<Contact> all;
    for (int i = 0; i < 8; ++i) {
        auto c = contact_in_bucket(self, static_cast<std::size_t>(i % 3), rng, static_cast<std::uint8_t>(i));
        REQUIRE(table.observe(c, Instant{}).outcome == RoutingTable::Outcome::added);
        all.push_back(c);
    }
    CHECK(table.nearest(5).empty());  // nothing measured yet
    table.set_rtt(all[0].id, 90ms);
    table.set_rtt(all[1].id, 10ms);
    table.set_rtt(all[2].id, 40ms);
    table.set_rtt(all[3].id, 20ms);
    table.set_rtt(all[3].id, 30ms);  // the latest estimate counts
    auto near = table.nearest(3);
    REQUIRE(near.size() == 3);
    CHECK(near[0].id == all[1].id);
    CHECK(near[1].id == all[3].id);
    CHECK(near[2].id == all[2].id);
    CHECK(table.nearest(10).size() == 4);
    // An entry that failed since its last answer is left out until it answers again.
    table.on_failure(all[1].id);
    CHECK(table.nearest(1).front().id == all[3].id);
    table.observe(all[1], Instant{} + 1s);
    CHECK(table.nearest(1).front().id == all[1].id);  // observe keeps the estimate
    // Ids not in the table are ignored.
    auto stranger = contact_in_bucket(self, 5, rng, 99);
    table.set_rtt(stranger.id, 1ms);
    CHECK(table.nearest(10).size() == 4);
    CHECK(table.check_invariants());
}
