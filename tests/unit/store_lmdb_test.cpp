// Unit tests of store::LmdbStore against real LMDB environments in temporary directories:
// the RecordStore contract, persistence across reopen, the routing snapshot, a full map,
// group commit (batches, a failed put or commit inside one), and damaged or foreign files
// (which must give clear errors or skipped rows, never a crash). Damage is made with LMDB
// directly, the way a bad disk or another program would.
#include "tests/support/background_commit.hpp"
#include "tests/support/lmdb_open.hpp"
#include "tests/support/temp_dir.hpp"
#include "store/lmdb_store.hpp"

#include "core/crypto.hpp"
#include "core/rng.hpp"
#include "store/record.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using store::LmdbStore;
using store::Record;
using store::SnapshotEntry;
using store::StoreError;

constexpr std::size_t map_size = test::lmdb_map_size;

// A fresh directory under the system temp dir, removed with everything in it.
// One temp dir per test, named after this file's tests.
struct TempDir : test::TempDir {
    TempDir() : test::TempDir("kadmium-store-test") {}
};

std::unique_ptr<LmdbStore> open_ok(fs::path const& dir, std::size_t size = map_size) {
    return test::open_lmdb_ok(dir, size);
}

std::string open_error(fs::path const& dir) {
    auto r = LmdbStore::open(dir, map_size);
    REQUIRE_FALSE(r);
    return r.error();
}

core::Key key(std::string_view name) { return core::key_of(name); }

Record make(std::string_view k, std::string_view value, std::int64_t stored, std::int64_t expires) {
    return Record{key(k), core::to_bytes(value), core::key_of("source"), {stored}, {expires}};
}

// Direct access to a store's LMDB env, to damage it as a disk or another program would.
class RawEnv {
public:
    explicit RawEnv(fs::path const& env_dir) {
        REQUIRE(mdb_env_create(&env_) == 0);
        REQUIRE(mdb_env_set_maxdbs(env_, 8) == 0);
        REQUIRE(mdb_env_set_mapsize(env_, map_size) == 0);
        REQUIRE(mdb_env_open(env_, env_dir.c_str(), 0, 0600) == 0);
        REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn_) == 0);
    }
    ~RawEnv() {
        if (txn_ != nullptr) mdb_txn_abort(txn_);
        mdb_env_close(env_);
    }
    MDB_dbi dbi(char const* name, unsigned flags = 0) {
        MDB_dbi d;
        REQUIRE(mdb_dbi_open(txn_, name, flags, &d) == 0);
        return d;
    }
    void put(MDB_dbi d, core::ByteView k, core::ByteView v) {
        MDB_val mk{k.size(), const_cast<std::byte*>(k.data())}, mv{v.size(), const_cast<std::byte*>(v.data())};
        REQUIRE(mdb_put(txn_, d, &mk, &mv, 0) == 0);
    }
    // Flips one bit in the value of the first row of `d`; returns that row's key.
    core::Bytes damage_first_row(MDB_dbi d, std::size_t offset_from_end) {
        MDB_cursor* c;
        REQUIRE(mdb_cursor_open(txn_, d, &c) == 0);
        MDB_val k, v;
        REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
        core::Bytes kb(static_cast<std::byte*>(k.mv_data), static_cast<std::byte*>(k.mv_data) + k.mv_size);
        core::Bytes vb(static_cast<std::byte*>(v.mv_data), static_cast<std::byte*>(v.mv_data) + v.mv_size);
        mdb_cursor_close(c);
        REQUIRE(vb.size() > offset_from_end);
        vb[vb.size() - 1 - offset_from_end] ^= std::byte{0x01};
        put(d, kb, vb);
        return kb;
    }
    // Deletes the database itself, not only its rows.
    void drop(MDB_dbi d) { REQUIRE(mdb_drop(txn_, d, 1) == 0); }
    void commit() {
        REQUIRE(mdb_txn_commit(txn_) == 0);
        txn_ = nullptr;
    }

private:
    MDB_env* env_ = nullptr;
    MDB_txn* txn_ = nullptr;
};

core::Bytes format_row(char const magic[8], std::uint32_t version) {
    core::Bytes row(reinterpret_cast<std::byte const*>(magic), reinterpret_cast<std::byte const*>(magic) + 8);
    for (int i = 0; i < 4; ++i) row.push_back(static_cast<std::byte>(version >> (24 - 8 * i)));
    return row;
}

void write_garbage(fs::path const& file, std::size_t size, std::uint64_t seed) {
    core::Rng rng(seed);
    std::string data(size, '\0');
    for (auto& c : data) c = static_cast<char>(rng.next());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    REQUIRE(out.good());
}

bool contains(std::string const& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("lmdb store: creates <dir>/store with mode 0700 and starts empty", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    struct stat st;
    REQUIRE(::stat((dir.path() / "store").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(fs::exists(dir.path() / "store" / "data.mdb"));
    CHECK(s->count() == 0);
    CHECK(s->get(key("k"), {0}, 10).value().empty());
    CHECK(s->load_routing().value().empty());
    CHECK(s->usage().map_bytes == map_size);
}

TEST_CASE("lmdb store: put, get, refresh and several values per key", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    auto r = make("k", "hello", 10, 100);
    REQUIRE(s->put(r));
    auto got = s->get(key("k"), {50}, 10).value();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == r);

    auto refreshed = make("k", "hello", 20, 300);
    refreshed.source = core::key_of("another node");
    REQUIRE(s->put(refreshed));
    CHECK(s->count() == 1);
    got = s->get(key("k"), {200}, 10).value();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == refreshed);

    for (int i = 0; i < 5; ++i) REQUIRE(s->put(make("k", "more " + std::to_string(i), 0, 100)));
    REQUIRE(s->put(make("neighbour", "x", 0, 100)));
    CHECK(s->count() == 7);
    CHECK(s->get(key("k"), {50}, 100).value().size() == 6);
    CHECK(s->get(key("k"), {50}, 4).value().size() == 4);
    CHECK(s->get(key("k"), {50}, 0).value().empty());
    CHECK(s->get(key("k"), {100}, 100).value().size() == 1);  // only the refreshed one is live
    CHECK(s->get(key("nothing here"), {0}, 10).value().empty());
    CHECK(s->corrupt_records() == 0);
    CHECK(s->errors() == 0);
}

TEST_CASE("lmdb store: empty and large values round-trip", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    Record empty = make("e", "", 0, 100);
    Record big = make("b", "", 0, 100);
    big.value.assign(100'000, std::byte{0x5a});  // overflow pages
    REQUIRE(s->put(empty));
    REQUIRE(s->put(big));
    CHECK(s->get(key("e"), {0}, 1).value().at(0) == empty);
    CHECK(s->get(key("b"), {0}, 1).value().at(0) == big);
}

TEST_CASE("lmdb store: erase_expired honours limit and refreshed expiry", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    for (int i = 0; i < 10; ++i) REQUIRE(s->put(make("k" + std::to_string(i), "v", 0, 100 + i)));
    REQUIRE(s->put(make("k0", "v", 50, 1000)));  // refreshed: its old index row must go
    CHECK(s->erase_expired({99}, 100) == 0);
    CHECK(s->erase_expired({104}, 2) == 2);  // k1..k4 are due, two go
    CHECK(s->count() == 8);
    CHECK(s->erase_expired({104}, 100) == 2);
    CHECK(s->erase_expired({104}, 100) == 0);
    CHECK(s->erase_expired({999}, 0) == 0);
    CHECK(s->erase_expired({999}, 100) == 5);
    CHECK(s->count() == 1);
    CHECK(s->get(key("k0"), {999}, 10).value().size() == 1);
    CHECK(s->erase_expired({1000}, 100) == 1);
    CHECK(s->count() == 0);
}

TEST_CASE("lmdb store: a sweep larger than one transaction batch", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    for (int i = 0; i < 700; ++i) REQUIRE(s->put(make("k" + std::to_string(i), "v", 0, i)));
    CHECK(s->erase_expired({600}, 300) == 300);  // times 0..600 are due: 601 records
    CHECK(s->erase_expired({600}, 650) == 301);
    CHECK(s->erase_expired({600}, 650) == 0);
    CHECK(s->count() == 99);
}

TEST_CASE("lmdb store: for_each crosses read batches, allows re-entry, stops early", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    for (int i = 0; i < 600; ++i) REQUIRE(s->put(make("k" + std::to_string(i % 200), "v" + std::to_string(i), 0, 100)));
    std::vector<Record> seen;
    REQUIRE(s->for_each([&](Record const& r) {
        // Calling back into the store is allowed: no transaction is open here.
        CHECK_FALSE(s->get(r.key, {0}, 10).value().empty());
        seen.push_back(r);
        return true;
    }));
    REQUIRE(seen.size() == 600);
    for (std::size_t i = 1; i < seen.size(); ++i) {
        auto a = store::encoding::record_id(seen[i - 1].key, seen[i - 1].value);
        auto b = store::encoding::record_id(seen[i].key, seen[i].value);
        CHECK(a < b);
    }
    int n = 0;
    REQUIRE(s->for_each([&](Record const&) { return ++n < 300; }));
    CHECK(n == 300);
}

TEST_CASE("lmdb store: records and the snapshot persist across reopen", "[unit]") {
    TempDir dir;
    auto r = make("k", "persisted", 1, 100);
    {
        auto s = open_ok(dir.path());
        REQUIRE(s->put(r));
        REQUIRE(s->save_routing({SnapshotEntry{core::PublicKey{}, core::Endpoint::v4(10, 0, 0, 1, 4000), 123}}));
        s->sync();
    }
    auto s = open_ok(dir.path());
    CHECK(s->count() == 1);
    CHECK(s->get(key("k"), {0}, 10).value().at(0) == r);
    CHECK(s->load_routing().value().size() == 1);
    CHECK(s->erase_expired({100}, 10) == 1);  // the expiry index persisted too
}

TEST_CASE("lmdb store: routing snapshot round-trips and is replaced whole", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    std::vector<SnapshotEntry> entries;
    for (int i = 0; i < 50; ++i) {
        SnapshotEntry e;
        e.public_key.bytes[0] = static_cast<std::byte>(i);
        e.public_key.bytes[31] = std::byte{0xee};
        if (i % 2 == 0) {
            e.address = core::Endpoint::v4(192, 168, 1, static_cast<std::uint8_t>(i), static_cast<std::uint16_t>(4000 + i));
        } else {
            e.address = *core::Endpoint::parse("[2001:db8::" + std::to_string(i) + "]:65535");
        }
        e.last_seen_unix = 1'700'000'000 + i;
        entries.push_back(e);
    }
    entries[3].last_seen_unix = -5;  // a negative time survives the unsigned codec
    REQUIRE(s->save_routing(entries));
    CHECK(s->load_routing().value() == entries);

    std::vector<SnapshotEntry> fewer(entries.begin(), entries.begin() + 3);
    REQUIRE(s->save_routing(fewer));
    CHECK(s->load_routing().value() == fewer);
    REQUIRE(s->save_routing({}));
    CHECK(s->load_routing().value().empty());
}

TEST_CASE("lmdb store: the snapshot is bounded to snapshot_entries_max", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    std::vector<SnapshotEntry> entries(store::snapshot_entries_max + 5);
    for (std::size_t i = 0; i < entries.size(); ++i) entries[i].last_seen_unix = static_cast<std::int64_t>(i);
    REQUIRE(s->save_routing(entries));
    auto loaded = s->load_routing().value();
    REQUIRE(loaded.size() == store::snapshot_entries_max);
    CHECK(loaded.back().last_seen_unix == static_cast<std::int64_t>(store::snapshot_entries_max - 1));
}

TEST_CASE("lmdb store: a full map fails puts with full, keeps serving, recovers after a sweep", "[unit]") {
    auto const map_bytes = GENERATE(std::size_t{256 * 1024}, std::size_t{1024 * 1024});
    auto const value_bytes = GENERATE(std::size_t{100}, std::size_t{1000}, std::size_t{9000});
    CAPTURE(map_bytes, value_bytes);
    TempDir dir;
    auto s = open_ok(dir.path(), map_bytes);
    std::string const value(value_bytes, 'x');
    // Fill, check, sweep half, several times over: a full map must never get stuck.
    std::int64_t next_expiry = 100;
    int next_name = 0;
    for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        std::vector<std::string> names;
        StoreError error = StoreError::io;
        for (int i = 0; i < 100'000; ++i) {
            auto name = "k" + std::to_string(next_name++);
            auto r = s->put(make(name, value, 0, next_expiry++));
            if (!r) {
                error = r.error();
                break;
            }
            names.push_back(name);
        }
        REQUIRE(names.size() >= 2);
        REQUIRE(names.size() < 100'000);
        INFO(s->last_error());
        CHECK(error == StoreError::full);
        // Either the store's own reserve check or LMDB's MDB_MAP_FULL (a large value needs
        // contiguous pages, which a fragmented freelist may lack).
        CHECK((contains(s->last_error(), "map full") || contains(s->last_error(), "MDB_MAP_FULL")));
        // Reads still work; every record stored before the failure is there.
        for (auto const& name : names) REQUIRE(s->get(key(name), {0}, 1).value().size() == 1);
        CHECK(s->load_routing());
        CHECK_FALSE(s->put(make("one more", value, 0, 1'000'000)));
        // Sweeping the older half frees room for new puts.
        auto const count = s->count();
        auto const removed = s->erase_expired({next_expiry - static_cast<std::int64_t>(count / 2)}, 100'000);
        INFO("after the sweep: " << s->last_error());
        CHECK(removed >= count / 2);
        CHECK(s->count() == count - removed);
        REQUIRE(s->put(make("after sweep " + std::to_string(round), value, 0, next_expiry++)));
    }
    CHECK(s->errors() >= 5);
}

TEST_CASE("lmdb store: a record failing its checksum is skipped and counted", "[unit]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path());
        REQUIRE(s->put(make("k", "first", 0, 100)));
        REQUIRE(s->put(make("k", "second", 0, 100)));
        REQUIRE(s->put(make("other", "third", 0, 100)));
    }
    core::Bytes damaged_id;
    {
        RawEnv raw(dir.path() / "store");
        damaged_id = raw.damage_first_row(raw.dbi("records"), 0);  // last byte of expires_at
        raw.commit();
    }
    auto s = open_ok(dir.path());
    CHECK(s->count() == 3);
    std::size_t live = s->get(key("k"), {0}, 10).value().size() + s->get(key("other"), {0}, 10).value().size();
    CHECK(live == 2);
    CHECK(s->corrupt_records() == 1);
    int visited = 0;
    REQUIRE(s->for_each([&](Record const&) { ++visited; return true; }));
    CHECK(visited == 2);
    CHECK(s->corrupt_records() == 2);

    // Storing the same record again replaces the damaged row (and is counted once more).
    std::vector<Record> originals{make("k", "first", 0, 100), make("k", "second", 0, 100), make("other", "third", 0, 100)};
    auto damaged = std::find_if(originals.begin(), originals.end(), [&](Record const& r) {
        auto id = store::encoding::record_id(r.key, r.value);
        return core::Bytes(id.begin(), id.end()) == damaged_id;
    });
    REQUIRE(damaged != originals.end());
    auto replacement = *damaged;
    replacement.expires_at = {500};
    REQUIRE(s->put(replacement));
    CHECK(s->corrupt_records() == 3);
    CHECK(s->count() == 3);
    CHECK(s->get(damaged->key, {0}, 10).value().size() == (damaged->key == key("k") ? 2u : 1u));

    // The damaged row's index row (time 100) is now stale: the sweep drops it but keeps
    // the replacement, which expires at 500.
    CHECK(s->erase_expired({100}, 10) == 2);
    CHECK(s->count() == 1);
    CHECK(s->get(damaged->key, {100}, 10).value().at(0) == replacement);
    CHECK(s->erase_expired({500}, 10) == 1);
    CHECK(s->count() == 0);
}

TEST_CASE("lmdb store: the sweep deletes a damaged record when it comes due", "[unit]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path());
        REQUIRE(s->put(make("k", "v", 0, 100)));
    }
    {
        RawEnv raw(dir.path() / "store");
        raw.damage_first_row(raw.dbi("records"), 20);  // inside the source id
        raw.commit();
    }
    auto s = open_ok(dir.path());
    CHECK(s->get(key("k"), {0}, 10).value().empty());
    CHECK(s->erase_expired({99}, 10) == 0);
    CHECK(s->count() == 1);
    CHECK(s->erase_expired({100}, 10) == 1);
    CHECK(s->count() == 0);
    CHECK(s->corrupt_records() == 2);
}

TEST_CASE("lmdb store: a damaged routing entry is skipped", "[unit]") {
    TempDir dir;
    std::vector<SnapshotEntry> entries(3);
    for (int i = 0; i < 3; ++i) entries[i].last_seen_unix = 10 + i;
    {
        auto s = open_ok(dir.path());
        REQUIRE(s->save_routing(entries));
    }
    {
        RawEnv raw(dir.path() / "store");
        raw.damage_first_row(raw.dbi("routing"), 3);
        raw.commit();
    }
    auto s = open_ok(dir.path());
    auto loaded = s->load_routing().value();
    CHECK(loaded == std::vector<SnapshotEntry>(entries.begin() + 1, entries.end()));
    CHECK(s->corrupt_records() == 1);
}

TEST_CASE("lmdb store: a damaged or foreign meta database is a clear error", "[unit]") {
    TempDir dir;
    { auto s = open_ok(dir.path()); }
    auto const env_dir = dir.path() / "store";

    SECTION("wrong magic") {
        {
            RawEnv raw(env_dir);
            raw.put(raw.dbi("meta"), core::as_bytes("format"), format_row("NOTKADMS", 1));
            raw.commit();
        }
        auto e = open_error(dir.path());
        CHECK(contains(e, env_dir.string() + ": not a kadmium store ("));
    }
    SECTION("truncated format row") {
        {
            RawEnv raw(env_dir);
            raw.put(raw.dbi("meta"), core::as_bytes("format"), core::as_bytes("KADM"));
            raw.commit();
        }
        CHECK(contains(open_error(dir.path()), "not a kadmium store"));
    }
    SECTION("a schema version from the future") {
        {
            RawEnv raw(env_dir);
            raw.put(raw.dbi("meta"), core::as_bytes("format"), format_row("KADMSTOR", 2));
            raw.commit();
        }
        auto e = open_error(dir.path());
        CHECK(contains(e, "schema version 2 is not supported"));
    }
    SECTION("a missing database") {
        {
            RawEnv raw(env_dir);
            raw.drop(raw.dbi("routing"));
            raw.commit();
        }
        CHECK(contains(open_error(dir.path()), "database 'routing' is missing"));
    }
}

TEST_CASE("lmdb store: an LMDB env written by another program is refused", "[unit]") {
    TempDir dir;
    auto const env_dir = dir.path() / "store";
    fs::create_directories(env_dir);
    {
        RawEnv raw(env_dir);
        raw.put(raw.dbi(nullptr), core::as_bytes("some"), core::as_bytes("thing"));
        raw.commit();
    }
    CHECK(contains(open_error(dir.path()), "not a kadmium store (an LMDB environment without"));
}

TEST_CASE("lmdb store: a data file that is not an LMDB env is a clear error", "[unit]") {
    TempDir dir;
    auto const env_dir = dir.path() / "store";

    SECTION("garbage in place of a new store") {
        fs::create_directories(env_dir);
        write_garbage(env_dir / "data.mdb", 64 * 1024, 1);
    }
    SECTION("garbage over an existing store") {
        {
            auto s = open_ok(dir.path());
            REQUIRE(s->put(make("k", "v", 0, 100)));
        }
        write_garbage(env_dir / "data.mdb", fs::file_size(env_dir / "data.mdb"), 2);
    }
    SECTION("garbage over the first 8 KiB of both files (the system test's damage)") {
        {
            auto s = open_ok(dir.path());
            REQUIRE(s->put(make("k", "v", 0, 100)));
        }
        // The env is opened with MDB_NOLOCK, which makes no lock.mdb; a store an older
        // version wrote has one, which LMDB now ignores.
        CHECK_FALSE(fs::exists(env_dir / "lock.mdb"));
        std::ofstream(env_dir / "lock.mdb").put('\0');
        for (auto const* name : {"data.mdb", "lock.mdb"}) {
            core::Rng rng(3);
            std::string garbage(8192, '\0');
            for (auto& c : garbage) c = static_cast<char>(rng.next());
            std::fstream f(env_dir / name, std::ios::binary | std::ios::in | std::ios::out);
            f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
            REQUIRE(f.good());
        }
    }
    SECTION("a short text file") {
        fs::create_directories(env_dir);
        std::ofstream(env_dir / "data.mdb") << "hello, I am not a database\n";
    }
    auto e = open_error(dir.path());
    CHECK(contains(e, env_dir.string() + ": not a kadmium store (data.mdb: "));
}

TEST_CASE("lmdb store: bad directories are clear errors", "[unit]") {
    TempDir dir;
    CHECK(contains(open_error(dir.path() / "missing"), "cannot create directory"));
    std::ofstream(dir.path() / "store") << "a file, not a directory";
    CHECK(contains(open_error(dir.path()), "store: not a directory"));
}

// ---- Group commit (begin_batch / commit_batch). ----

namespace {

// Points every descriptor LMDB holds on `data_file` at a read-only descriptor of the same
// file, so that writes fail (EBADF) the way a failing disk's would; restore() puts the
// originals back. The test's stand-in for a disk error at commit.
class BreakWrites {
public:
    explicit BreakWrites(fs::path const& data_file) {
        auto const target = fs::canonical(data_file);
        for (auto const& entry : fs::directory_iterator("/proc/self/fd")) {
            std::error_code ec;
            auto const link = fs::read_symlink(entry.path(), ec);
            if (ec || link != target) continue;
            int const fd = std::stoi(entry.path().filename().string());
            saved_.push_back({fd, ::dup(fd)});
        }
        REQUIRE_FALSE(saved_.empty());
        int const ro = ::open(target.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(ro >= 0);
        for (auto [fd, copy] : saved_) REQUIRE(::dup2(ro, fd) == fd);
        ::close(ro);
    }
    ~BreakWrites() { restore(); }
    BreakWrites(BreakWrites const&) = delete;
    BreakWrites& operator=(BreakWrites const&) = delete;
    void restore() {
        for (auto [fd, copy] : saved_) {
            ::dup2(copy, fd);
            ::close(copy);
        }
        saved_.clear();
    }

private:
    std::vector<std::pair<int, int>> saved_;  // (LMDB's descriptor, a copy of it)
};

}  // namespace

TEST_CASE("lmdb store: erase_expired inside a batch commits the batch early and sweeps outside it", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    REQUIRE(s->put(make("old", "v", 0, 100)));
    s->begin_batch();
    REQUIRE(s->put(make("due", "v", 0, 100)));
    REQUIRE(s->put(make("kept", "v", 0, 1000)));
    CHECK(s->batch_uncommitted() == 2);
    // Both due records go, the one put in the batch too: the sweep saw it committed.
    CHECK(s->erase_expired({500}, 100) == 2);
    CHECK(s->in_batch());
    CHECK(s->batch_commits() == 1);
    CHECK(s->batch_uncommitted() == 0);
    // The batch goes on: later puts share a new transaction, committed by commit_batch.
    REQUIRE(s->put(make("after", "v", 0, 1000)));
    CHECK(s->batch_uncommitted() == 1);
    REQUIRE(s->commit_batch());
    CHECK(s->batch_commits() == 2);
    CHECK(s->count() == 2);
    s.reset();
    auto again = open_ok(dir.path());
    CHECK(again->get(key("kept"), {500}, 10).value().size() == 1);
    CHECK(again->get(key("after"), {500}, 10).value().size() == 1);
    CHECK(again->get(key("due"), {0}, 10).value().empty());
}

TEST_CASE("lmdb store: puts in a batch are seen by reads in the batch and kept by the commit", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    REQUIRE(s->put(make("before", "v", 0, 100)));
    s->begin_batch();
    CHECK(s->in_batch());
    // Reads before the batch's first put use their own read-only transaction.
    CHECK(s->count() == 1);
    CHECK(s->get(key("before"), {0}, 10).value().size() == 1);

    auto a = make("k", "a", 0, 100);
    auto b = make("k", "b", 0, 200);
    REQUIRE(s->put(a));
    REQUIRE(s->put(b));
    REQUIRE(s->put(make("other", "c", 0, 100)));
    CHECK(s->batch_uncommitted() == 3);
    CHECK(s->batch_commits() == 0);
    CHECK(s->count() == 4);
    auto got = s->get(key("k"), {0}, 10).value();
    REQUIRE(got.size() == 2);
    CHECK(std::count(got.begin(), got.end(), a) == 1);
    CHECK(std::count(got.begin(), got.end(), b) == 1);
    CHECK(s->get(key("k"), {150}, 10).value() == std::vector<Record>{b});

    // A refresh inside the batch moves the record's expiry and does not add a record.
    auto a2 = make("k", "a", 5, 300);
    REQUIRE(s->put(a2));
    CHECK(s->count() == 4);
    CHECK(s->get(key("k"), {250}, 10).value() == std::vector<Record>{a2});

    // for_each reads from the batch's transaction and may call back into the store,
    // puts included.
    int visited = 0;
    REQUIRE(s->for_each([&](Record const& r) {
        CHECK_FALSE(s->get(r.key, {0}, 10).value().empty());
        if (visited++ == 0) REQUIRE(s->put(make("added while iterating", "x", 0, 100)));
        return true;
    }));
    CHECK(visited >= 4);
    CHECK(s->count() == 5);
    CHECK(s->load_routing().value().empty());

    REQUIRE(s->commit_batch());
    CHECK_FALSE(s->in_batch());
    CHECK(s->batch_uncommitted() == 0);
    CHECK(s->batch_commits() == 1);
    CHECK(s->count() == 5);
    CHECK(s->get(key("k"), {250}, 10).value() == std::vector<Record>{a2});
    // The expiry index was maintained: b (200) goes, a2 (300) stays until its time.
    CHECK(s->erase_expired({100}, 100) == 3);
    CHECK(s->erase_expired({200}, 100) == 1);
    CHECK(s->get(key("k"), {0}, 10).value() == std::vector<Record>{a2});
    CHECK(s->errors() == 0);
    CHECK(s->commit_failures() == 0);
}

TEST_CASE("lmdb store: a committed batch persists across reopen; an empty batch writes nothing", "[unit]") {
    TempDir dir;
    std::vector<Record> records;
    for (int i = 0; i < 50; ++i) records.push_back(make("k" + std::to_string(i % 10), "v" + std::to_string(i), 0, 100 + i));
    {
        auto s = open_ok(dir.path());
        s->begin_batch();
        REQUIRE(s->commit_batch());  // nothing was put: no transaction, no commit
        CHECK(s->batch_commits() == 0);
        s->begin_batch();
        for (auto const& r : records) REQUIRE(s->put(r));
        REQUIRE(s->commit_batch());
        CHECK(s->batch_commits() == 1);
        // Outside a batch, puts are their own transactions again.
        REQUIRE(s->put(make("single", "v", 0, 1000)));
        CHECK(s->batch_commits() == 1);
    }
    auto s = open_ok(dir.path());
    CHECK(s->count() == 51);
    for (auto const& r : records) {
        auto got = s->get(r.key, {0}, 100).value();
        CHECK(std::count(got.begin(), got.end(), r) == 1);
    }
    CHECK(s->erase_expired({149}, 100) == 50);
    CHECK(s->count() == 1);
}

TEST_CASE("lmdb store: a batch left open when the store closes is committed", "[unit]") {
    // put() said yes to these records, so closing keeps them (the destructor commits,
    // then syncs). The node never closes mid-batch: a batch spans one receive burst.
    TempDir dir;
    {
        auto s = open_ok(dir.path());
        s->begin_batch();
        REQUIRE(s->put(make("k", "kept", 0, 100)));
        REQUIRE(s->put(make("k", "kept too", 0, 100)));
    }
    auto s = open_ok(dir.path());
    CHECK(s->count() == 2);
    CHECK(s->get(key("k"), {0}, 10).value().size() == 2);
}

TEST_CASE("lmdb store: a batch is committed early at batch_puts_max puts and at batch_bytes_max bytes", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path(), 256 * 1024 * 1024);
    s->begin_batch();
    for (std::size_t i = 0; i < LmdbStore::batch_puts_max; ++i) REQUIRE(s->put(make("k" + std::to_string(i), "v", 0, 100)));
    CHECK(s->batch_commits() == 0);
    CHECK(s->batch_uncommitted() == LmdbStore::batch_puts_max);
    REQUIRE(s->put(make("one more", "v", 0, 100)));  // commits the first 1024, then joins a new transaction
    CHECK(s->batch_commits() == 1);
    CHECK(s->batch_uncommitted() == 1);
    CHECK(s->count() == LmdbStore::batch_puts_max + 1);
    REQUIRE(s->commit_batch());
    CHECK(s->batch_commits() == 2);

    // 100 KB values: about 160 fit under batch_bytes_max.
    s->begin_batch();
    Record big = make("big", "", 0, 100);
    std::size_t const n = LmdbStore::batch_bytes_max / 100'000 + 10;
    for (std::size_t i = 0; i < n; ++i) {
        big.value.assign(100'000, static_cast<std::byte>(i));
        REQUIRE(s->put(big));
    }
    CHECK(s->batch_commits() == 3);
    CHECK(s->batch_uncommitted() < n);
    REQUIRE(s->commit_batch());
    CHECK(s->batch_commits() == 4);
    CHECK(s->get(key("big"), {0}, 1000).value().size() == n);
    CHECK(s->count() == LmdbStore::batch_puts_max + 1 + n);
    CHECK(s->errors() == 0);
}

TEST_CASE("lmdb store: a full map inside a batch fails those puts only; the rest commits", "[unit]") {
    auto const map_bytes = GENERATE(std::size_t{256 * 1024}, std::size_t{1024 * 1024});
    auto const value_bytes = GENERATE(std::size_t{100}, std::size_t{1000}, std::size_t{9000});
    CAPTURE(map_bytes, value_bytes);
    TempDir dir;
    std::vector<std::string> kept;
    {
        auto s = open_ok(dir.path(), map_bytes);
        std::string const value(value_bytes, 'x');
        std::int64_t next_expiry = 100;
        int next_name = 0;
        for (int round = 0; round < 4; ++round) {
            CAPTURE(round);
            s->begin_batch();
            std::vector<std::string> names;
            int failures = 0;
            // Fill until puts fail, and keep trying a few more inside the same batch:
            // each failure is that put's alone.
            for (int i = 0; i < 100'000 && failures < 3; ++i) {
                auto name = "k" + std::to_string(next_name++);
                auto r = s->put(make(name, value, 0, next_expiry++));
                if (!r) {
                    INFO(s->last_error());
                    CHECK(r.error() == StoreError::full);
                    CHECK((contains(s->last_error(), "map full") || contains(s->last_error(), "MDB_MAP_FULL")));
                    ++failures;
                    continue;
                }
                names.push_back(name);
            }
            REQUIRE(failures == 3);
            REQUIRE(names.size() >= 2);
            // Inside the batch, reads see every put that succeeded, and only those.
            for (auto const& name : names) REQUIRE(s->get(key(name), {0}, 1).value().size() == 1);
            auto const count = s->count();
            CHECK(count >= names.size());
            REQUIRE(s->commit_batch());
            CHECK(s->count() == count);
            for (auto const& name : names) REQUIRE(s->get(key(name), {0}, 1).value().size() == 1);
            // Batching gave up no room: a put on its own fails too.
            CHECK_FALSE(s->put(make("alone", value, 0, 1'000'000)));
            kept.insert(kept.end(), names.begin(), names.end());
            // Make room for the next round (the sweep runs outside batches).
            auto const removed = s->erase_expired({next_expiry - static_cast<std::int64_t>(count / 2)}, 100'000);
            CHECK(removed >= count / 2);
            std::erase_if(kept, [&](std::string const& name) { return s->get(key(name), {0}, 1).value().empty(); });
        }
        CHECK(s->commit_failures() == 0);
        CHECK(s->records_lost() == 0);
    }
    auto s = open_ok(dir.path(), map_bytes);
    CHECK(s->count() == kept.size());
    for (auto const& name : kept) REQUIRE(s->get(key(name), {0}, 1).value().size() == 1);
}

TEST_CASE("lmdb store: a failed batch commit loses that batch only and is counted", "[unit]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path());
        s->begin_batch();
        REQUIRE(s->put(make("first", "v", 0, 100)));
        REQUIRE(s->commit_batch());

        s->begin_batch();
        REQUIRE(s->put(make("lost", "a", 0, 100)));
        REQUIRE(s->put(make("lost", "b", 0, 100)));
        CHECK(s->count() == 3);
        {
            BreakWrites broken(dir.path() / "store" / "data.mdb");
            auto r = s->commit_batch();
            REQUIRE_FALSE(r);
            CHECK(r.error() == StoreError::io);
        }
        CHECK_FALSE(s->in_batch());
        CHECK(s->commit_failures() == 1);
        CHECK(s->records_lost() == 2);
        CHECK(s->errors() == 1);
        INFO(s->last_error());
        CHECK(contains(s->last_error(), "commit_batch"));
        CHECK(contains(s->last_error(), "2 records lost"));
        // The store keeps working: the lost records are gone, the next batch commits.
        CHECK(s->count() == 1);
        CHECK(s->get(key("lost"), {0}, 10).value().empty());
        s->begin_batch();
        REQUIRE(s->put(make("after", "v", 0, 100)));
        REQUIRE(s->commit_batch());
        CHECK(s->count() == 2);
    }
    auto s = open_ok(dir.path());
    CHECK(s->count() == 2);
    CHECK(s->get(key("first"), {0}, 10).value().size() == 1);
    CHECK(s->get(key("after"), {0}, 10).value().size() == 1);
    CHECK(s->get(key("lost"), {0}, 10).value().empty());
}

TEST_CASE("lmdb store: a put that fails inside a batch is rolled back alone", "[unit]") {
    TempDir dir;
    auto a = make("k", "a", 0, 100);
    auto b = make("k", "b", 0, 200);
    auto c = make("other", "c", 0, 300);
    {
        auto s = open_ok(dir.path());
        s->begin_batch();
        REQUIRE(s->put(a));
        REQUIRE(s->put(b));
        // A refresh of `a` that writes its rows (new record row, old index row deleted,
        // new index row) and then fails: none of it may remain.
        s->fail_nth_put(1);
        auto refreshed = make("k", "a", 50, 900);
        auto r = s->put(refreshed);
        REQUIRE_FALSE(r);
        CHECK(r.error() == StoreError::injected);
        CHECK(s->errors() == 1);
        CHECK(s->get(key("k"), {0}, 10).value().size() == 2);
        CHECK(s->get(key("k"), {150}, 10).value() == std::vector<Record>{b});
        // A new record that fails is not counted.
        s->fail_nth_put(1);
        REQUIRE_FALSE(s->put(make("never", "x", 0, 100)));
        CHECK(s->count() == 2);
        CHECK(s->batch_uncommitted() == 2);
        REQUIRE(s->put(c));
        REQUIRE(s->commit_batch());
        CHECK(s->errors() == 2);
        CHECK(s->commit_failures() == 0);
    }
    auto s = open_ok(dir.path());
    CHECK(s->count() == 3);
    CHECK(s->get(key("never"), {0}, 10).value().empty());
    // `a` kept its first expiry, and its index row: the sweep finds it at 100.
    CHECK(s->erase_expired({100}, 10) == 1);
    CHECK(s->get(key("k"), {0}, 10).value() == std::vector<Record>{b});
    CHECK(s->erase_expired({1000}, 10) == 2);
    CHECK(s->count() == 0);
}

TEST_CASE("lmdb store: the fail plan works outside a batch too", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    s->fail_nth_put(2);
    REQUIRE(s->put(make("k", "1", 0, 100)));
    CHECK(s->put(make("k", "2", 0, 100)).error() == StoreError::injected);
    REQUIRE(s->put(make("k", "3", 0, 100)));
    CHECK(s->count() == 2);
    CHECK(s->erase_expired({100}, 10) == 2);  // no index row was left behind by the failure
    CHECK(s->count() == 0);
}

// ---- Background commit (detach_batch / commit_detached / finish_detached). ----

TEST_CASE("lmdb store: a detached batch commits on another thread; reads meanwhile see the last commit, writes wait for it",
          "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    REQUIRE(s->put(make("old", "v0", 1, 1000)));
    auto commit = std::make_unique<test::BackgroundCommit>(*s);
    s->begin_batch();
    REQUIRE(s->put(make("new", "v1", 1, 1000)));
    REQUIRE(commit->start());
    CHECK(commit->detached().puts == 1);
    CHECK(s->committing());
    CHECK_FALSE(s->in_batch());
    // Reads in the window: the last committed state, without the batch's put.
    CHECK(s->get(key("new"), {10}, 10).value().empty());
    CHECK(s->get(key("old"), {10}, 10).value().size() == 1);
    CHECK(s->count() == 1);
    CHECK(s->usage().used_bytes > 0);
    CHECK(commit->finished() == 0);
    // A write waits for the commit (the settle hook), then goes ahead.
    REQUIRE(s->put(make("after", "v2", 1, 1000)));
    CHECK(commit->finished() == 1);
    CHECK(commit->ok());
    CHECK_FALSE(s->committing());
    CHECK(s->get(key("new"), {10}, 10).value().size() == 1);
    CHECK(s->count() == 3);
    CHECK(s->batch_commits() == 1);
    CHECK(s->commit_failures() == 0);
    // Committed for good: a reopen finds all three.
    commit.reset();
    s.reset();
    s = open_ok(dir.path());
    CHECK(s->count() == 3);
}

TEST_CASE("lmdb store: detaching a batch with nothing uncommitted opens no window", "[unit]") {
    TempDir dir;
    auto s = open_ok(dir.path());
    test::BackgroundCommit commit(*s);
    s->begin_batch();
    CHECK_FALSE(commit.start());
    CHECK_FALSE(s->committing());
    CHECK_FALSE(s->in_batch());
    // Every write entry point settles first: sync, a batch's first put, erase_expired.
    REQUIRE(s->put(make("k", "v", 1, 5)));
    s->begin_batch();
    REQUIRE(s->put(make("k2", "v", 1, 1000)));
    REQUIRE(commit.start());
    s->sync();
    CHECK(commit.finished() == 1);
    s->begin_batch();
    REQUIRE(s->put(make("k3", "v", 1, 1000)));
    REQUIRE(commit.start());
    CHECK(s->erase_expired({10}, 100) == 1);
    CHECK(commit.finished() == 2);
    CHECK(s->count() == 2);
}
