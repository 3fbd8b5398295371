// Unit tests of store::MemStore: the RecordStore contract (put, refresh, get, expiry,
// sweeps, for_each), its records_max limit, the fail plan, its per-instance size, and that
// two stores fed the same operations look the same.
#include "store/mem_store.hpp"

#include "core/crypto.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {

using store::MemStore;
using store::Record;
using store::StoreError;

core::Key key(std::string_view name) { return core::key_of(name); }

Record make(std::string_view k, std::string_view value, std::int64_t stored, std::int64_t expires) {
    return Record{key(k), core::to_bytes(value), core::key_of("source"), {stored}, {expires}};
}

std::vector<Record> all(MemStore& s) {
    std::vector<Record> out;
    REQUIRE(s.for_each([&](Record const& r) { out.push_back(r); return true; }));
    return out;
}

}  // namespace

TEST_CASE("mem store: an empty store is small and allocates nothing", "[unit]") {
    STATIC_REQUIRE(sizeof(MemStore) < 128);
    MemStore s;
    CHECK(s.count() == 0);
    CHECK(s.erase_expired({1'000'000}, 100) == 0);
}

TEST_CASE("mem store: put then get returns the record", "[unit]") {
    MemStore s;
    auto r = make("k", "hello", 10, 100);
    REQUIRE(s.put(r));
    auto got = s.get(key("k"), {50}, 10);
    REQUIRE(got);
    REQUIRE(got.value().size() == 1);
    CHECK(got.value()[0] == r);
    CHECK(s.get(key("other"), {50}, 10).value().empty());
    CHECK(s.count() == 1);
}

TEST_CASE("mem store: storing the same value again refreshes the record", "[unit]") {
    MemStore s;
    REQUIRE(s.put(make("k", "v", 10, 100)));
    auto refreshed = make("k", "v", 20, 200);
    refreshed.source = core::key_of("someone else");
    REQUIRE(s.put(refreshed));
    CHECK(s.count() == 1);
    auto got = s.get(key("k"), {150}, 10).value();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == refreshed);
}

TEST_CASE("mem store: a key holds several values, get honours limit", "[unit]") {
    MemStore s;
    for (int i = 0; i < 5; ++i) REQUIRE(s.put(make("k", "value " + std::to_string(i), 0, 100)));
    REQUIRE(s.put(make("k2", "other", 0, 100)));
    CHECK(s.count() == 6);
    CHECK(s.get(key("k"), {0}, 100).value().size() == 5);
    CHECK(s.get(key("k"), {0}, 3).value().size() == 3);
    CHECK(s.get(key("k"), {0}, 0).value().empty());
}

TEST_CASE("mem store: a record is gone from get at its expiry time", "[unit]") {
    MemStore s;
    REQUIRE(s.put(make("k", "short", 0, 100)));
    REQUIRE(s.put(make("k", "long", 0, 200)));
    CHECK(s.get(key("k"), {99}, 10).value().size() == 2);
    auto at_expiry = s.get(key("k"), {100}, 10).value();  // expires_at > now, strictly
    REQUIRE(at_expiry.size() == 1);
    CHECK(at_expiry[0].value == core::to_bytes("long"));
    CHECK(s.count() == 2);  // still held until swept
}

TEST_CASE("mem store: erase_expired removes at most limit records", "[unit]") {
    MemStore s;
    for (int i = 0; i < 10; ++i) REQUIRE(s.put(make("k" + std::to_string(i), "v", 0, 100 + i)));
    CHECK(s.erase_expired({99}, 100) == 0);
    CHECK(s.erase_expired({104}, 3) == 3);  // five are due, three go
    CHECK(s.count() == 7);
    CHECK(s.erase_expired({104}, 100) == 2);
    CHECK(s.erase_expired({104}, 100) == 0);
    CHECK(s.erase_expired({1000}, 0) == 0);
    CHECK(s.erase_expired({1000}, 100) == 5);
    CHECK(s.count() == 0);
}

TEST_CASE("mem store: a refresh to a later expiry keeps the record through the sweep", "[unit]") {
    MemStore s;
    REQUIRE(s.put(make("k", "v", 0, 100)));
    REQUIRE(s.put(make("k", "v", 50, 300)));
    CHECK(s.erase_expired({200}, 10) == 0);
    CHECK(s.count() == 1);
    // And an earlier expiry after a sweep computed its lower bound.
    REQUIRE(s.put(make("k2", "v", 0, 150)));
    CHECK(s.erase_expired({200}, 10) == 1);
}

TEST_CASE("mem store: for_each visits records in key order and can stop early", "[unit]") {
    MemStore s;
    for (int i = 0; i < 20; ++i) REQUIRE(s.put(make("k" + std::to_string(i % 7), "v" + std::to_string(i), 0, 100)));
    auto records = all(s);
    REQUIRE(records.size() == 20);
    for (std::size_t i = 1; i < records.size(); ++i) CHECK(records[i - 1].key <= records[i].key);
    int seen = 0;
    REQUIRE(s.for_each([&](Record const&) { return ++seen < 4; }));
    CHECK(seen == 4);
}

TEST_CASE("mem store: records_max makes new records fail with full, refreshes still work", "[unit]") {
    MemStore s(3);
    for (int i = 0; i < 3; ++i) REQUIRE(s.put(make("k", std::to_string(i), 0, 100)));
    auto r = s.put(make("k", "one too many", 0, 100));
    REQUIRE_FALSE(r);
    CHECK(r.error() == StoreError::full);
    CHECK(s.put(make("k", "1", 5, 500)));
    CHECK(s.count() == 3);
    CHECK(s.erase_expired({100}, 10) == 2);
    CHECK(s.put(make("k", "fits again", 0, 100)));
}

TEST_CASE("mem store: the fail plan fails exactly the n-th put and changes nothing", "[unit]") {
    MemStore s;
    s.fail_nth_put(3);
    CHECK(s.put(make("a", "v", 0, 100)));
    CHECK(s.put(make("b", "v", 0, 100)));
    auto third = s.put(make("c", "v", 0, 100));
    REQUIRE_FALSE(third);
    CHECK(third.error() == StoreError::injected);
    CHECK(std::string(store::to_string(third.error())) == "injected");
    CHECK(s.get(key("c"), {0}, 10).value().empty());
    CHECK(s.count() == 2);
    CHECK(s.put(make("d", "v", 0, 100)));
    CHECK(s.put(make("c", "v", 0, 100)));
    CHECK(s.count() == 4);

    s.fail_nth_put(1);
    CHECK_FALSE(s.put(make("e", "v", 0, 100)));
    s.fail_nth_put(2);
    s.fail_nth_put(0);  // cancelled
    CHECK(s.put(make("e", "v", 0, 100)));
    CHECK(s.put(make("f", "v", 0, 100)));
}

TEST_CASE("mem store: the fail plan for get", "[unit]") {
    MemStore s;
    REQUIRE(s.put(make("a", "v", 0, 100)));
    s.fail_nth_get(2);
    CHECK(s.get(key("a"), {0}, 10));
    auto second = s.get(key("a"), {0}, 10);
    REQUIRE_FALSE(second);
    CHECK(second.error() == StoreError::injected);
    CHECK(s.get(key("a"), {0}, 10).value().size() == 1);
}

TEST_CASE("mem store: the same operations give the same contents", "[unit]") {
    auto run = [] {
        MemStore s(50);
        for (int i = 0; i < 200; ++i) {
            (void)s.put(make("k" + std::to_string(i * 7919 % 13), "v" + std::to_string(i * 31 % 17), i, i + 40));
            if (i % 25 == 0) s.erase_expired({i}, 5);
        }
        return all(s);
    };
    CHECK(run() == run());
}

TEST_CASE("store: to_string names every error", "[unit]") {
    CHECK(std::string(store::to_string(StoreError::full)) == "full");
    CHECK(std::string(store::to_string(StoreError::io)) == "io");
    CHECK(std::string(store::to_string(StoreError::corrupt)) == "corrupt");
}
