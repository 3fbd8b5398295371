// The lookup state machine on its own: alpha in flight, convergence on the k closest,
// slow candidates freeing their slot, and resiliency-beta termination.
#include "dht/lookup.hpp"

#include "core/rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace dht;

namespace {
std::vector<Contact> random_contacts(core::Rng& rng, std::size_t n) {
    std::vector<Contact> out;
    for (std::size_t i = 0; i < n; ++i) {
        core::PublicKey pk;
        rng.fill(pk.bytes);
        out.push_back(Contact::make(pk, core::Endpoint::v4(10, 0, static_cast<std::uint8_t>(i), 1, 4000)));
    }
    return out;
}

// Closest to `target` first.
void sort_by_distance(std::vector<Contact>& contacts, NodeId const& target) {
    std::sort(contacts.begin(), contacts.end(), [&](Contact const& a, Contact const& b) { return target.closer(a.id, b.id); });
}
}  // namespace

TEST_CASE("lookup: at most alpha in flight, and done only when the k closest answered", "[unit]") {
    core::Rng rng(1);
    NodeId self, target;
    rng.fill(self.bytes);
    rng.fill(target.bytes);
    Lookup l(self, target, 4, 2);
    auto seeds = random_contacts(rng, 10);
    l.add(seeds, 1);
    auto first = l.next_queries();
    CHECK(first.size() == 2);
    CHECK(l.next_queries().empty());  // both slots busy
    sort_by_distance(seeds, target);
    CHECK(first[0].contact.id == seeds[0].id);
    CHECK(first[1].contact.id == seeds[1].id);
    // Answers bring nothing new; the lookup walks down the 4 closest and stops.
    std::size_t answered = 0;
    for (int round = 0; round < 10 && !l.finished(); ++round) {
        for (auto const& c : (round == 0 ? first : l.next_queries())) {
            l.on_answer(c.contact.id, {});
            ++answered;
        }
    }
    CHECK(l.finished());
    CHECK(answered == 4);
    auto closest = l.closest_answered();
    REQUIRE(closest.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) CHECK(closest[i].id == seeds[i].id);
    CHECK(l.hops() == 1);
}

TEST_CASE("lookup: a slow candidate frees its slot; beta decides whether it blocks the end", "[unit]") {
    core::Rng rng(2);
    NodeId self, target;
    rng.fill(self.bytes);
    rng.fill(target.bytes);
    auto seeds = random_contacts(rng, 6);
    sort_by_distance(seeds, target);
    for (std::size_t beta : {std::size_t{0}, std::size_t{2}}) {
        Lookup l(self, target, 4, 1, beta);
        l.add(seeds, 1);
        // The 4th closest goes slow; everyone else answers.
        for (int round = 0; round < 20; ++round) {
            auto q = l.next_queries();
            if (q.empty()) break;
            for (auto const& c : q) {
                if (c.contact.id == seeds[3].id) l.on_slow(c.contact.id);
                else l.on_answer(c.contact.id, {});
            }
        }
        if (beta == 0) {
            CHECK_FALSE(l.finished());  // waits for the slow one's retry
            l.on_answer(seeds[3].id, {});
            CHECK(l.finished());
        } else {
            CHECK(l.finished());  // slow beyond the 2 closest: not waited for
        }
    }
    // A slow candidate among the beta closest is waited for.
    Lookup l(self, target, 4, 1, 2);
    l.add(seeds, 1);
    for (int round = 0; round < 20; ++round) {
        auto q = l.next_queries();
        if (q.empty()) break;
        for (auto const& c : q) {
            if (c.contact.id == seeds[0].id) l.on_slow(c.contact.id);
            else l.on_answer(c.contact.id, {});
        }
    }
    CHECK_FALSE(l.finished());
    l.on_failure(seeds[0].id);
    // The closest failed: the 5th closest moves into the k and gets asked.
    auto q = l.next_queries();
    REQUIRE(q.size() == 1);
    CHECK(q[0].contact.id == seeds[4].id);
    l.on_answer(seeds[4].id, {});
    CHECK(l.finished());
}

TEST_CASE("lookup: answers pull in closer nodes with hop counts; the shortlist stays bounded", "[unit]") {
    core::Rng rng(3);
    NodeId self, target;
    rng.fill(self.bytes);
    rng.fill(target.bytes);
    Lookup l(self, target, 3, 3);
    auto far = random_contacts(rng, 3);
    l.add(far, 1);
    auto pool = random_contacts(rng, 200);
    std::size_t next = 0;
    for (int round = 0; round < 50 && !l.finished(); ++round) {
        for (auto const& c : l.next_queries()) {
            std::vector<Contact> reply(pool.begin() + static_cast<std::ptrdiff_t>(next),
                                       pool.begin() + static_cast<std::ptrdiff_t>(std::min(next + 10, pool.size())));
            next = std::min(next + 10, pool.size());
            l.on_answer(c.contact.id, reply);
        }
    }
    CHECK(l.finished());
    CHECK(l.hops() >= 2);
    CHECK(l.queried() <= 200);
    // Ourselves never enters the shortlist.
    Lookup m(self, target, 3, 3);
    core::PublicKey none;
    m.add({Contact{self, none, core::Endpoint::v4(1, 1, 1, 1, 1)}}, 1);
    CHECK(m.next_queries().empty());
}

TEST_CASE("lookup: unresponsive candidates stop counting among the k closest; a late answer is kept", "[unit]") {
    core::Rng rng(4);
    NodeId self, target;
    rng.fill(self.bytes);
    rng.fill(target.bytes);
    auto seeds = random_contacts(rng, 8);
    sort_by_distance(seeds, target);
    Lookup l(self, target, 3, 3, 0);  // beta = 0: waits for every one of the k that is alive
    l.add(seeds, 1);
    auto first = l.next_queries();
    REQUIRE(first.size() == 3);
    // The two closest go silent: slow frees their slots at once, and the next are asked.
    CHECK(l.on_slow(seeds[0].id));
    CHECK(l.on_slow(seeds[1].id));
    auto more = l.next_queries();
    CHECK(more.empty());  // slow candidates still fill the k = 3 window
    CHECK(l.on_unresponsive(seeds[0].id));
    CHECK(l.on_unresponsive(seeds[1].id));
    more = l.next_queries();
    REQUIRE(more.size() == 2);
    CHECK(more[0].contact.id == seeds[3].id);
    CHECK(more[1].contact.id == seeds[4].id);
    l.on_answer(seeds[2].id, {});
    l.on_answer(seeds[3].id, {});
    CHECK_FALSE(l.finished());
    l.on_answer(seeds[4].id, {});
    CHECK(l.finished());  // never waited for the two silent ones
    auto closest = l.closest_answered();
    REQUIRE(closest.size() == 3);
    CHECK(closest[0].id == seeds[2].id);
    // A late answer from an unresponsive candidate still counts, closest first.
    CHECK(l.on_answer(seeds[0].id, {}));
    closest = l.closest_answered();
    REQUIRE(closest.size() == 3);
    CHECK(closest[0].id == seeds[0].id);
    CHECK(l.finished());
    // A failure learned elsewhere about a candidate never asked skips it; unknown ids change nothing.
    Lookup m(self, target, 3, 3);
    m.add(seeds, 1);
    CHECK(m.on_failure(seeds[0].id));
    CHECK_FALSE(m.on_slow(seeds[0].id));
    auto q = m.next_queries();
    REQUIRE(q.size() == 3);
    CHECK(q[0].contact.id == seeds[1].id);
}

TEST_CASE("lookup: suspects are skipped, and asked only when the lookup runs short", "[unit]") {
    core::Rng rng(5);
    NodeId self, target;
    rng.fill(self.bytes);
    rng.fill(target.bytes);
    auto seeds = random_contacts(rng, 6);
    sort_by_distance(seeds, target);
    auto suspect = [&](NodeId const& id) { return id == seeds[0].id || id == seeds[1].id; };
    {
        Lookup l(self, target, 3, 3);
        l.add(seeds, 1, suspect);
        auto q = l.next_queries();
        REQUIRE(q.size() == 3);
        CHECK(q[0].contact.id == seeds[2].id);
        for (auto const& c : q) l.on_answer(c.contact.id, {});
        CHECK(l.finished());
        CHECK(l.queried() == 3);
        CHECK(l.candidate(seeds[0].id)->state == Lookup::State::skipped);
    }
    {
        // Only three candidates, two of them suspect: the one left answers, then the
        // suspects are asked after all.
        Lookup l(self, target, 3, 3);
        l.add({seeds[0], seeds[1], seeds[2]}, 1, suspect);
        auto q = l.next_queries();
        REQUIRE(q.size() == 1);
        l.on_answer(q[0].contact.id, {});
        CHECK_FALSE(l.finished());
        q = l.next_queries();
        REQUIRE(q.size() == 2);
        for (auto const& c : q) l.on_unresponsive(c.contact.id);
        CHECK(l.finished());
        CHECK(l.closest_answered().size() == 1);
    }
}

TEST_CASE("lookup: once the beta closest have answered, the rest of the k closest are asked at once", "[unit]") {
    core::Rng rng(7);
    NodeId self, target;
    rng.fill(self.bytes);
    rng.fill(target.bytes);
    Lookup l(self, target, 20, 3, 3);
    auto seeds = random_contacts(rng, 30);
    sort_by_distance(seeds, target);
    // The seeds minus the 5 closest: those come in answers, as a walk towards the target finds them.
    std::vector<Contact> near(seeds.begin(), seeds.begin() + 5), far(seeds.begin() + 5, seeds.end());
    l.add(far, 1);
    auto first = l.next_queries();
    REQUIRE(first.size() == 3);  // alpha while the closest known have not answered
    // An answer that brings closer nodes: they are the new closest, still alpha at a time.
    l.on_answer(first[0].contact.id, near);
    auto second = l.next_queries();
    CHECK(second.size() == 1);  // the slot the answer freed
    CHECK(second[0].contact.id == near[0].id);
    // The three closest answer one by one and bring nothing closer: alpha at a time until
    // the third has answered; then the neighbourhood is found, and every other fresh
    // candidate among the 20 closest is asked at once, not 3 per round trip.
    l.on_answer(second[0].contact.id, {});
    for (std::size_t i = 1; i < 3; ++i) {
        auto next = l.next_queries();
        REQUIRE(next.size() == 1);
        CHECK(next[0].contact.id == near[i].id);
        l.on_answer(next[0].contact.id, {});
    }
    auto rest = l.next_queries();
    std::size_t in_flight = 2;  // first[1], first[2]
    CHECK(rest.size() + in_flight + 4 == 20);  // 4 answered so far
    for (auto const& c : rest) CHECK(target.closer(c.contact.id, seeds[20].id));  // only within the k closest
    for (auto const& c : rest) l.on_answer(c.contact.id, {});
    l.on_answer(first[1].contact.id, {});
    l.on_answer(first[2].contact.id, {});
    CHECK(l.finished());
    CHECK(l.queried() == 20);  // no node asked beyond the k closest
}

TEST_CASE("lookup: with no_retry_wait even the closest slow candidate does not hold the end", "[unit]") {
    core::Rng rng(8);
    NodeId self, target;
    rng.fill(self.bytes);
    rng.fill(target.bytes);
    auto seeds = random_contacts(rng, 6);
    sort_by_distance(seeds, target);
    for (std::size_t beta : {std::size_t{1}, Lookup::no_retry_wait}) {
        Lookup l(self, target, 4, 2, beta);
        l.add(seeds, 1);
        auto q = l.next_queries();
        REQUIRE(q.size() == 2);
        CHECK(l.on_slow(seeds[0].id));                  // the closest goes quiet
        for (auto const& c : l.next_queries()) l.on_answer(c.contact.id, {});  // the rest of the 4 at once
        l.on_answer(seeds[1].id, {});
        CHECK(l.finished() == (beta == Lookup::no_retry_wait));
        auto closest = l.closest_answered();
        CHECK(closest.size() == 3);
    }
}
