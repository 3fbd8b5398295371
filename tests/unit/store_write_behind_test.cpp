// Unit tests of store::WriteBehindStore over a real LmdbStore in a temporary directory: a
// put is accepted without a commit and read back from memory (merged with the disk's
// records), flush() commits the queue in one batch, a clean close keeps everything, a full
// queue writes through (joining an open batch, as the node's receive batch), and erase,
// the sweep, count and for_each agree with the disk's rules.
#include "tests/support/background_commit.hpp"
#include "tests/support/lmdb_open.hpp"
#include "tests/support/temp_dir.hpp"
#include "store/write_behind.hpp"

#include "core/crypto.hpp"
#include "store/lmdb_store.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using store::LmdbStore;
using store::Record;
using store::WriteBehindStore;

constexpr std::size_t map_size = test::lmdb_map_size;

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("kadmium-write-behind-test") {}
};

std::unique_ptr<LmdbStore> open_ok(fs::path const& dir, std::size_t size = map_size) {
    return test::open_lmdb_ok(dir, size);
}

core::Key key(std::string_view name) { return core::key_of(name); }

Record make(std::string_view k, std::string_view value, std::int64_t stored, std::int64_t expires) {
    return Record{key(k), core::to_bytes(value), core::key_of("source"), {stored}, {expires}};
}

std::vector<std::string> values(std::vector<Record> const& records) {
    std::vector<std::string> out;
    for (auto const& r : records) out.emplace_back(reinterpret_cast<char const*>(r.value.data()), r.value.size());
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

TEST_CASE("write-behind: a put is readable before its commit, and flush lands it on disk", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    WriteBehindStore wb(*disk);

    REQUIRE(wb.put(make("k", "v1", 100, 1000)));
    // Accepted without touching LMDB: nothing committed, nothing on disk yet.
    CHECK(disk->batch_commits() == 0);
    CHECK(disk->count() == 0);
    CHECK(disk->get(key("k"), {0}, 10).value().empty());
    CHECK(wb.queued() == 1);
    // A get between accept and commit sees it, and count() includes it.
    auto got = wb.get(key("k"), {200}, 10);
    REQUIRE(got);
    REQUIRE(got.value().size() == 1);
    CHECK(got.value()[0] == make("k", "v1", 100, 1000));
    CHECK(wb.count() == 1);
    CHECK(wb.get(key("other"), {200}, 10).value().empty());
    // Expired queued records are not returned.
    CHECK(wb.get(key("k"), {1000}, 10).value().empty());

    REQUIRE(wb.flush());
    CHECK(wb.queued() == 0);
    CHECK(disk->batch_commits() == 1);
    CHECK(disk->count() == 1);
    CHECK(disk->get(key("k"), {200}, 10).value() == std::vector<Record>{make("k", "v1", 100, 1000)});
    CHECK(wb.count() == 1);
    CHECK(wb.counts().queued == 1);
    CHECK(wb.counts().flushes == 1);
    CHECK(wb.counts().flushed == 1);
    CHECK(wb.counts().lost == 0);
    // Nothing queued: flush commits nothing.
    REQUIRE(wb.flush());
    CHECK(disk->batch_commits() == 1);
}

TEST_CASE("write-behind: many puts share one commit", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    WriteBehindStore wb(*disk);
    for (int i = 0; i < 100; ++i) REQUIRE(wb.put(make("k" + std::to_string(i), "v", 100, 1000)));
    CHECK(disk->batch_commits() == 0);
    CHECK(wb.count() == 100);
    REQUIRE(wb.flush());
    CHECK(disk->batch_commits() == 1);
    CHECK(disk->count() == 100);
    CHECK(wb.counts().flushed == 100);
}

TEST_CASE("write-behind: queued records merge with the disk's, newest version first", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    REQUIRE(disk->put(make("k", "old", 100, 500)));
    REQUIRE(disk->put(make("k", "kept", 100, 1000)));
    WriteBehindStore wb(*disk);

    // A refresh of a value the disk holds (new expiry), and a new value.
    REQUIRE(wb.put(make("k", "old", 300, 2000)));
    REQUIRE(wb.put(make("k", "new", 300, 2000)));
    CHECK(wb.count() == 3);  // the refresh is not a new record

    auto got = wb.get(key("k"), {600}, 10).value();
    CHECK(sorted(values(got)) == std::vector<std::string>{"kept", "new", "old"});
    // In the disk's order (by value hash), and the refresh's fields win.
    for (std::size_t i = 1; i < got.size(); ++i) {
        CHECK(core::blake2b_256(got[i - 1].value) < core::blake2b_256(got[i].value));
    }
    for (auto const& r : got) {
        if (values({r})[0] == "old") CHECK(r.expires_at.seconds == 2000);
    }
    // The limit holds across both sources.
    CHECK(wb.get(key("k"), {600}, 2).value().size() == 2);
    CHECK(wb.get(key("k"), {600}, 0).value().empty());
    // A refreshed queued copy that expired hides the disk's older copy too.
    REQUIRE(wb.put(make("k", "kept", 400, 700)));
    CHECK(sorted(values(wb.get(key("k"), {800}, 10).value())) == std::vector<std::string>{"new", "old"});

    REQUIRE(wb.flush());
    CHECK(disk->count() == 3);
    CHECK(sorted(values(disk->get(key("k"), {800}, 10).value())) == std::vector<std::string>{"new", "old"});
    CHECK(wb.count() == 3);
}

TEST_CASE("write-behind: a clean close keeps every accepted record", "[unit]") {
    TempDir dir;
    {
        auto disk = open_ok(dir.path());
        WriteBehindStore wb(*disk);
        REQUIRE(wb.put(make("a", "1", 100, 1000)));
        REQUIRE(wb.put(make("b", "2", 100, 1000)));
        CHECK(disk->count() == 0);
        // wb goes first (declared last): its destructor flushes into the open disk store.
    }
    auto disk = open_ok(dir.path());
    CHECK(disk->count() == 2);
    CHECK(values(disk->get(key("a"), {0}, 10).value()) == std::vector<std::string>{"1"});
    CHECK(values(disk->get(key("b"), {0}, 10).value()) == std::vector<std::string>{"2"});
}

TEST_CASE("write-behind: a full queue writes through, inside an open batch when there is one", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    WriteBehindStore wb(*disk, WriteBehindStore::Limits{2, 1024 * 1024});
    CHECK_FALSE(wb.should_flush());
    REQUIRE(wb.put(make("a", "1", 100, 1000)));
    CHECK(wb.should_flush());  // half full
    REQUIRE(wb.put(make("b", "2", 100, 1000)));
    // A refresh of a queued record still fits: it replaces its entry.
    REQUIRE(wb.put(make("a", "1", 200, 2000)));
    CHECK(wb.counts().fallbacks == 0);

    SECTION("outside a batch: its own committed transaction") {
        REQUIRE(wb.put(make("c", "3", 100, 1000)));
        CHECK(wb.counts().fallbacks == 1);
        CHECK(wb.queued() == 2);
        CHECK(disk->count() == 1);  // on disk at once
        CHECK(values(disk->get(key("c"), {0}, 10).value()) == std::vector<std::string>{"3"});
    }
    SECTION("inside the node's receive batch: it joins the batch, whose commit it waits for") {
        disk->begin_batch();
        REQUIRE(wb.put(make("c", "3", 100, 1000)));
        CHECK(wb.counts().fallbacks == 1);
        // The node holds its answers while the batch has uncommitted puts.
        CHECK(disk->batch_uncommitted() == 1);
        REQUIRE(disk->commit_batch());
        CHECK(disk->count() == 1);
    }
    // Every record is readable, and all of them are on disk after the flush.
    CHECK(wb.count() == 3);
    for (auto const* k : {"a", "b", "c"}) CHECK(wb.get(key(k), {150}, 10).value().size() == 1);
    REQUIRE(wb.flush());
    CHECK(disk->count() == 3);
    CHECK(disk->get(key("a"), {0}, 10).value()[0].expires_at.seconds == 2000);
}

TEST_CASE("write-behind: the byte bound falls back too", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    // Room for one 100-byte value plus its 64-byte id, not two.
    WriteBehindStore wb(*disk, WriteBehindStore::Limits{100, 300});
    REQUIRE(wb.put(make("a", std::string(100, 'x'), 100, 1000)));
    REQUIRE(wb.put(make("b", std::string(100, 'y'), 100, 1000)));
    CHECK(wb.counts().fallbacks == 1);
    CHECK(wb.queued() == 1);
    CHECK(wb.count() == 2);
}

TEST_CASE("write-behind: flush joins an open batch and commits with it", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    WriteBehindStore wb(*disk);
    REQUIRE(wb.put(make("a", "1", 100, 1000)));
    disk->begin_batch();
    REQUIRE(wb.flush());
    CHECK(disk->in_batch());
    CHECK(disk->batch_uncommitted() == 1);
    CHECK(wb.get(key("a"), {0}, 10).value().size() == 1);  // read through the batch
    REQUIRE(disk->commit_batch());
    CHECK(disk->batch_commits() == 1);
    CHECK(disk->count() == 1);
}

TEST_CASE("write-behind: erase of queued and of committed records", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    REQUIRE(disk->put(make("k", "on disk", 100, 1000)));
    WriteBehindStore wb(*disk);
    REQUIRE(wb.put(make("k", "queued", 100, 1000)));
    REQUIRE(wb.put(make("k", "on disk", 200, 2000)));  // queued refresh of a disk record
    CHECK(wb.count() == 2);

    CHECK(wb.erase(key("k"), core::to_bytes("queued")).value());
    CHECK(wb.count() == 1);
    CHECK(wb.erase(key("k"), core::to_bytes("on disk")).value());  // both copies go
    CHECK(wb.count() == 0);
    CHECK_FALSE(wb.erase(key("k"), core::to_bytes("never")).value());
    REQUIRE(wb.flush());
    CHECK(disk->count() == 0);
    CHECK(wb.get(key("k"), {0}, 10).value().empty());
}

TEST_CASE("write-behind: the sweep and for_each flush first and follow the disk's rules", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    REQUIRE(disk->put(make("k", "refreshed", 100, 500)));
    WriteBehindStore wb(*disk);
    REQUIRE(wb.put(make("k", "refreshed", 300, 2000)));  // outlives the disk's copy
    REQUIRE(wb.put(make("k", "short", 300, 400)));
    REQUIRE(wb.put(make("j", "other", 300, 2000)));

    CHECK(wb.erase_expired({600}, 100) == 1);  // "short" only: the refresh keeps its record
    CHECK(wb.queued() == 0);
    CHECK(wb.count() == 2);
    CHECK(values(wb.get(key("k"), {600}, 10).value()) == std::vector<std::string>{"refreshed"});

    REQUIRE(wb.put(make("z", "late", 300, 2000)));
    std::vector<core::Key> seen;
    REQUIRE(wb.for_each([&](Record const& r) {
        seen.push_back(r.key);
        return true;
    }));
    CHECK(seen.size() == 3);
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    CHECK(wb.queued() == 0);
}

TEST_CASE("write-behind: records flushed into a batch that commits in the background stay readable", "[unit]") {
    TempDir dir;
    auto disk = open_ok(dir.path());
    WriteBehindStore wb(*disk);
    REQUIRE(wb.put(make("k", "v1", 100, 1000)));
    REQUIRE(wb.put(make("gone", "v", 100, 1000)));
    test::BackgroundCommit commit(*disk, [&] { wb.release_flushed(); });
    disk->begin_batch();
    REQUIRE(wb.flush());
    REQUIRE(commit.start());

    // The disk's reads do not see the batch yet; the write-behind store does.
    CHECK(disk->get(key("k"), {200}, 10).value().empty());
    CHECK(values(wb.get(key("k"), {200}, 10).value()) == std::vector<std::string>{"v1"});
    CHECK(wb.count() == 2);
    // A refresh queued meanwhile is the newer version, and not a second record.
    REQUIRE(wb.put(make("k", "v1", 150, 2000)));
    auto got = wb.get(key("k"), {200}, 10).value();
    REQUIRE(got.size() == 1);
    CHECK(got[0].expires_at.seconds == 2000);
    CHECK(wb.count() == 2);
    CHECK(commit.finished() == 0);

    // An erase waits for the commit, then erases from the disk.
    REQUIRE(wb.erase(key("gone"), core::to_bytes(std::string_view("v"))).value());
    CHECK(commit.finished() == 1);
    CHECK(wb.get(key("gone"), {200}, 10).value().empty());
    CHECK(values(disk->get(key("k"), {200}, 10).value()) == std::vector<std::string>{"v1"});
    CHECK(wb.count() == 1);
}
