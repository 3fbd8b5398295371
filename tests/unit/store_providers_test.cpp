// Provider records through LmdbStore: RecordStore::erase (alone, inside a batch, across
// reopen), and a dht::ProviderTable whose records, replaced ones included, survive a
// reopen of the store and leave with the expiry sweep.
#include "tests/support/lmdb_open.hpp"
#include "tests/support/temp_dir.hpp"
#include "dht/provider_table.hpp"
#include "store/lmdb_store.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>

namespace {

namespace fs = std::filesystem;
using store::LmdbStore;
using store::Record;

constexpr std::size_t map_size = test::lmdb_map_size;
constexpr std::uint64_t now_ms = 1'700'000'000'000;
constexpr std::uint64_t hour_ms = 3'600'000;

// One temp dir per test, named after this file's tests.
struct TempDir : test::TempDir {
    TempDir() : test::TempDir("kadmium-providers-test") {}
};

std::unique_ptr<LmdbStore> open_ok(fs::path const& dir, std::size_t size = map_size) {
    return test::open_lmdb_ok(dir, size);
}

Record record(char const* key, char const* value, std::int64_t expires) {
    return Record{core::key_of(key), core::to_bytes(value), core::NodeId{}, {1}, {expires}};
}

core::Identity identity(std::uint8_t n) {
    core::crypto_init();
    std::array<std::byte, 32> seed{};
    seed[0] = std::byte{n};
    return core::Identity::from_seed(seed);
}

dht::ProviderRecord provider(std::uint8_t n, dht::Key const& topic, std::uint64_t expires) {
    core::IdentitySigner signer(identity(n));
    return dht::make_provider_record(signer, topic, {core::Endpoint::v4(10, 0, n, 1, 4000)}, expires);
}

dht::ProviderLimits limits() { return {256, 4, 10'000, false, 2 * hour_ms + 60'000}; }

}  // namespace

TEST_CASE("lmdb store: erase removes one record and its index row", "[unit]") {
    TempDir dir;
    auto st = open_ok(dir.path());
    REQUIRE(st->put(record("k", "a", 100)));
    REQUIRE(st->put(record("k", "b", 200)));
    auto erased = st->erase(core::key_of("k"), core::as_bytes("a"));
    REQUIRE(erased);
    CHECK(erased.value());
    auto again = st->erase(core::key_of("k"), core::as_bytes("a"));
    REQUIRE(again);
    CHECK_FALSE(again.value());
    CHECK(st->count() == 1);
    auto left = st->get(core::key_of("k"), {0}, 10);
    REQUIRE(left);
    REQUIRE(left.value().size() == 1);
    CHECK(left.value()[0].value == core::to_bytes("b"));
    // The sweep finds no index row of the erased record (it would count it as corrupt).
    CHECK(st->erase_expired({1000}, 100) == 1);
    CHECK(st->count() == 0);
    CHECK(st->corrupt_records() == 0);
}

TEST_CASE("lmdb store: erase inside a batch commits with the batch and persists", "[unit]") {
    TempDir dir;
    {
        auto st = open_ok(dir.path());
        REQUIRE(st->put(record("k", "old", 100)));
        st->begin_batch();
        REQUIRE(st->put(record("k", "new", 200)));
        auto erased = st->erase(core::key_of("k"), core::as_bytes("old"));
        REQUIRE(erased);
        CHECK(erased.value());
        CHECK(st->count() == 1);  // reads see the batch
        REQUIRE(st->commit_batch());
        // A batch holding only an erase commits it too.
        REQUIRE(st->put(record("j", "x", 100)));
        st->begin_batch();
        REQUIRE(st->erase(core::key_of("j"), core::as_bytes("x")));
        REQUIRE(st->commit_batch());
    }
    auto st = open_ok(dir.path());
    CHECK(st->count() == 1);
    auto left = st->get(core::key_of("k"), {0}, 10);
    REQUIRE(left);
    REQUIRE(left.value().size() == 1);
    CHECK(left.value()[0].value == core::to_bytes("new"));
}

TEST_CASE("lmdb store: provider records survive a reopen, replaced ones do not, and expire", "[unit]") {
    TempDir dir;
    auto topic = dht::topic_key("chat");
    {
        auto st = open_ok(dir.path());
        dht::Stats stats;
        dht::ProviderTable table(limits(), *st, stats);
        table.load(now_ms);
        for (std::uint8_t i = 1; i <= 3; ++i)
            REQUIRE(table.accept(provider(i, topic, now_ms + hour_ms), core::Endpoint::v4(10, 0, i, 1, 4000), now_ms));
        REQUIRE(table.accept(provider(2, topic, now_ms + 2 * hour_ms), core::Endpoint::v4(10, 0, 2, 1, 4000), now_ms));
        CHECK(st->count() == 3);
    }
    {
        auto st = open_ok(dir.path());
        CHECK(st->count() == 3);
        dht::Stats stats;
        dht::ProviderTable table(limits(), *st, stats);
        table.load(now_ms + 1000);
        CHECK(table.size() == 3);
        core::Rng rng(1);
        auto records = table.sample(topic, now_ms + 1000, 20, rng);
        REQUIRE(records.size() == 3);
        for (auto const& r : records) {
            CHECK_FALSE(dht::check_provider_record(r, now_ms + 1000, limits().lifetime_max_ms));
            CHECK(r.expires_ms == (r.node_id == identity(2).id ? now_ms + 2 * hour_ms : now_ms + hour_ms));
        }
        // The store's own sweep removes rows once their records expire (on whole seconds).
        auto after_first = static_cast<std::int64_t>((now_ms + hour_ms) / 1000);
        CHECK(st->erase_expired({after_first}, 100) == 2);
        CHECK(st->erase_expired({after_first + 3600}, 100) == 1);
        CHECK(st->count() == 0);
    }
    auto st = open_ok(dir.path());
    dht::Stats stats;
    dht::ProviderTable table(limits(), *st, stats);
    table.load(now_ms);
    CHECK(table.size() == 0);
}
