// Unit tests of store::LmdbMessageStore on real LMDB environments in temporary
// directories: (ts, id) order, range/before/keys paging with exclusive cursors, last() on
// a large store, retention by age and by size (per topic and total), the group-commit
// batch, the durable outbox, and damaged or foreign message databases (skipped and
// counted rows, or a clear open error; never a crash).
#include "tests/support/background_commit.hpp"
#include "tests/support/temp_dir.hpp"
#include "store/message_db.hpp"

#include "core/crypto.hpp"
#include "pubsub/envelope.hpp"

#include <catch2/catch.hpp>
#include <lmdb.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;
using pubsub::Message;
using pubsub::StoreCursor;
using pubsub::StoreStatus;
using store::LmdbMessageStore;
using store::LmdbStore;
using store::MessageRetention;

// One temp dir per test, named after this file's tests.
struct TempDir : test::TempDir {
    TempDir() : test::TempDir("kadmium-msgstore-test") {}
};

std::unique_ptr<LmdbStore> open_env(fs::path const& dir, std::size_t map = 256u * 1024 * 1024) {
    auto r = LmdbStore::open(dir, map);
    if (!r) FAIL("open failed: " << r.error());
    return std::move(r).value();
}

core::Identity const& author() {
    static core::Identity const id = [] {
        core::crypto_init();
        return core::Identity::generate();
    }();
    return id;
}

pubsub::TopicKey topic(std::string const& name) { return core::key_of(name); }

Message msg(pubsub::TopicKey const& t, std::int64_t ts, std::string const& text, std::uint64_t seq = 0) {
    static std::uint64_t next = 1;
    return pubsub::sign_message(author(), t, seq ? seq : next++, ts, core::as_bytes(std::string_view(text)));
}

std::vector<std::int64_t> times(std::vector<Message> const& ms) {
    std::vector<std::int64_t> out;
    for (auto const& m : ms) out.push_back(m.ts_ms);
    return out;
}

}  // namespace

TEST_CASE("message store: put, contains, get, duplicate; persists across reopen", "[unit]") {
    TempDir dir;
    auto const t = topic("chat");
    auto const m = msg(t, 1000, "hello");
    {
        auto env = open_env(dir.path());
        LmdbMessageStore s(*env, {});
        CHECK_FALSE(s.contains(m.id));
        CHECK(s.put(m) == StoreStatus::stored);
        CHECK(s.put(m) == StoreStatus::duplicate);
        CHECK(s.contains(m.id));
        CHECK(s.message_count() == 1);
        CHECK(s.bytes() == m.encoded.size());
    }
    auto env = open_env(dir.path());
    LmdbMessageStore s(*env, {});
    auto got = s.get(m.id);
    REQUIRE(got);
    CHECK(got->encoded == m.encoded);
    CHECK(got->payload == m.payload);
    CHECK(pubsub::verify_message(*got));
    CHECK(s.message_count() == 1);
}

TEST_CASE("message store: (ts, id) order per topic; range, before and keys page with exclusive cursors", "[unit]") {
    TempDir dir;
    auto env = open_env(dir.path());
    LmdbMessageStore s(*env, {});
    auto const a = topic("a"), b = topic("b");
    // Inserted out of order, with ties on ts, interleaved with another topic.
    std::vector<std::int64_t> const ts{50, 10, 30, 30, 20, 40, 10, 60};
    for (auto x : ts) {
        REQUIRE(s.put(msg(a, x, "a" + std::to_string(x))) == StoreStatus::stored);
        REQUIRE(s.put(msg(b, x + 1, "b")) == StoreStatus::stored);
    }
    auto all = s.range(a, std::nullopt, 100);
    REQUIRE(all.size() == ts.size());
    for (std::size_t i = 1; i < all.size(); ++i)
        CHECK(StoreCursor{all[i - 1].ts_ms, all[i - 1].id} < StoreCursor{all[i].ts_ms, all[i].id});
    CHECK(times(all) == std::vector<std::int64_t>{10, 10, 20, 30, 30, 40, 50, 60});

    // Forward pages of 3 with the last item as the exclusive cursor cover everything once.
    std::vector<Message> paged;
    std::optional<StoreCursor> after;
    for (int guard = 0; guard < 10; ++guard) {
        auto page = s.range(a, after, 3);
        if (page.empty()) break;
        after = StoreCursor{page.back().ts_ms, page.back().id};
        paged.insert(paged.end(), page.begin(), page.end());
    }
    REQUIRE(paged.size() == all.size());
    for (std::size_t i = 0; i < all.size(); ++i) CHECK(paged[i].id == all[i].id);

    // Backward pages (history from the end) too, each ascending.
    std::vector<Message> back;
    std::optional<StoreCursor> before;
    for (int guard = 0; guard < 10; ++guard) {
        auto page = s.before(a, before, 3);
        if (page.empty()) break;
        before = StoreCursor{page.front().ts_ms, page.front().id};
        back.insert(back.begin(), page.begin(), page.end());
    }
    REQUIRE(back.size() == all.size());
    for (std::size_t i = 0; i < all.size(); ++i) CHECK(back[i].id == all[i].id);

    CHECK(times(s.last(a, 3)) == std::vector<std::int64_t>{40, 50, 60});
    CHECK(times(s.last(b, 1)) == std::vector<std::int64_t>{61});
    CHECK(s.last(topic("none"), 5).empty());
    // keys: [from, to), no payloads.
    auto k = s.keys(a, 20, 50, 100);
    REQUIRE(k.size() == 4);
    CHECK(k.front().ts_ms == 20);
    CHECK(k.back().ts_ms == 40);
    CHECK(s.keys(a, 20, 50, 2).size() == 2);
}

TEST_CASE("message store: last(50) on a large store is a cursor read", "[unit]") {
    TempDir dir;
    auto env = open_env(dir.path(), 1024u * 1024 * 1024);
    LmdbMessageStore s(*env, MessageRetention::for_map(1024u * 1024 * 1024));
    auto const t = topic("big"), other = topic("other");
    constexpr int n = 100'000;
    std::vector<Message> chunk;
    for (int i = 0; i < n; ++i) {
        chunk.push_back(msg(i % 2 ? other : t, 1'000'000 + i, "m"));
        if (chunk.size() == 5000) {
            for (auto st : s.put_many(chunk)) REQUIRE(st == StoreStatus::stored);
            chunk.clear();
        }
    }
    CHECK(s.message_count() == n);
    auto const start = std::chrono::steady_clock::now();
    std::vector<Message> last;
    for (int i = 0; i < 100; ++i) last = s.last(t, 50);
    auto const per_call = (std::chrono::steady_clock::now() - start) / 100;
    REQUIRE(last.size() == 50);
    CHECK(last.back().ts_ms == 1'000'000 + n - 2);
    CHECK(last.front().ts_ms == 1'000'000 + n - 100);
    // A scan of 100k rows with envelope parsing takes tens of ms even in release builds;
    // 50 parsed rows take well under one (wide margin for sanitizer builds).
    CHECK(per_call < std::chrono::milliseconds(10));
}

TEST_CASE("message store: retention by age expires in bounded steps", "[unit]") {
    TempDir dir;
    auto env = open_env(dir.path());
    MessageRetention r;
    r.age_ms = 1000;
    LmdbMessageStore s(*env, r);
    auto const t = topic("t");
    for (int i = 0; i < 600; ++i) REQUIRE(s.put(msg(t, i, "x")) == StoreStatus::stored);
    for (int i = 0; i < 10; ++i) REQUIRE(s.put(msg(t, 5000 + i, "new")) == StoreStatus::stored);
    // now = 5500: everything before 4500 is too old. A budget of 100 drops 100.
    CHECK(s.expire(5500, 100) == 100);
    CHECK(s.message_count() == 510);
    CHECK(s.expire(5500, 10'000) == 500);
    CHECK(s.message_count() == 10);
    CHECK(s.expire(5500, 10'000) == 0);
    CHECK(times(s.range(t, std::nullopt, 100)).front() == 5000);
    CHECK(s.bytes() == 10 * s.get(s.last(t, 1)[0].id)->encoded.size());
}

TEST_CASE("message store: retention by size per topic and in total drops the oldest", "[unit]") {
    TempDir dir;
    auto env = open_env(dir.path());
    auto const a = topic("a"), b = topic("b");
    auto const size = msg(a, 0, std::string(100, 'x')).encoded.size();
    MessageRetention r;
    r.topic_bytes_max = 10 * size;
    r.total_bytes_max = 15 * size;
    LmdbMessageStore s(*env, r);
    for (int i = 0; i < 25; ++i) REQUIRE(s.put(msg(a, i, std::string(100, 'x'))) == StoreStatus::stored);
    // Per topic: the 10 newest of a.
    CHECK(s.message_count() == 10);
    CHECK(times(s.range(a, std::nullopt, 100)).front() == 15);
    for (int i = 0; i < 8; ++i) REQUIRE(s.put(msg(b, 100 + i, std::string(100, 'x'))) == StoreStatus::stored);
    // In total: 15, the oldest of a went first.
    CHECK(s.message_count() == 15);
    CHECK(s.bytes() == 15 * size);
    CHECK(s.range(a, std::nullopt, 100).size() == 7);
    CHECK(s.range(b, std::nullopt, 100).size() == 8);
    CHECK(s.evicted() == 18);
    // A message larger than a limit never fits.
    CHECK(s.put(msg(a, 200, std::string(20 * size, 'y'))) == StoreStatus::full);
    CHECK_FALSE(s.has_room(20 * size));
    CHECK(s.has_room(size));
}

TEST_CASE("message store: puts share the env's batch; reads see them; commit keeps them", "[unit]") {
    TempDir dir;
    auto const t = topic("t");
    std::vector<Message> ms;
    for (int i = 0; i < 10; ++i) ms.push_back(msg(t, i, "b"));
    {
        auto env = open_env(dir.path());
        LmdbMessageStore s(*env, {});
        env->begin_batch();
        for (auto const& m : ms) REQUIRE(s.put(m) == StoreStatus::stored);
        CHECK(env->batch_uncommitted() == 10);
        CHECK(s.message_count() == 10);
        CHECK(s.last(t, 3).size() == 3);
        REQUIRE(s.outbox_add(ms[0].id, "t"));
        REQUIRE(env->commit_batch());
        CHECK(env->batch_commits() == 1);
    }
    auto env = open_env(dir.path());
    LmdbMessageStore s(*env, {});
    CHECK(s.message_count() == 10);
    CHECK(s.outbox_size() == 1);
}

TEST_CASE("message store: the outbox survives a reopen and empties entry by entry", "[unit]") {
    TempDir dir;
    auto const t = topic("t");
    auto m1 = msg(t, 1, "one"), m2 = msg(t, 2, "two");
    {
        auto env = open_env(dir.path());
        LmdbMessageStore s(*env, {});
        REQUIRE(s.put(m1) == StoreStatus::stored);
        REQUIRE(s.outbox_add(m1.id, "room one"));
        REQUIRE(s.put(m2) == StoreStatus::stored);
        REQUIRE(s.outbox_add(m2.id, "room one"));
    }
    auto env = open_env(dir.path());
    LmdbMessageStore s(*env, {});
    auto entries = s.outbox(10);
    REQUIRE(entries.size() == 2);
    std::set<pubsub::MessageId> ids{entries[0].id, entries[1].id};
    CHECK(ids == std::set<pubsub::MessageId>{m1.id, m2.id});
    CHECK(entries[0].topic == "room one");
    CHECK(s.outbox(1).size() == 1);
    REQUIRE(s.outbox_remove(m1.id));
    REQUIRE(s.outbox_remove(m1.id));  // idempotent
    CHECK(s.outbox_size() == 1);
    CHECK(s.outbox(10)[0].id == m2.id);
}

TEST_CASE("message store: a full map refuses puts, keeps reads, recovers after expiry", "[unit]") {
    TempDir dir;
    auto env = open_env(dir.path(), 2u * 1024 * 1024);
    MessageRetention r;  // limits far above the map: the map fills first
    r.age_ms = 1000;
    LmdbMessageStore s(*env, r);
    auto const t = topic("t");
    int stored = 0;
    StoreStatus last = StoreStatus::stored;
    for (int i = 0; i < 1000 && last == StoreStatus::stored; ++i) {
        last = s.put(msg(t, i, std::string(8000, 'z')));
        stored += last == StoreStatus::stored;
    }
    CHECK(last == StoreStatus::full);
    CHECK(stored > 10);
    CHECK_FALSE(s.has_room(8000));
    CHECK(s.last(t, 5).size() == 5);
    CHECK(s.message_count() == static_cast<std::size_t>(stored));
    // Everything is too old at now = 1,000,000: the sweep frees the map.
    CHECK(s.expire(1'000'000, 10'000) == static_cast<std::size_t>(stored));
    CHECK(s.put(msg(t, 999'999, "after")) == StoreStatus::stored);
}

TEST_CASE("message store: damaged rows are skipped and counted; the rest stays readable", "[unit]") {
    TempDir dir;
    auto const t = topic("t");
    std::vector<Message> ms;
    for (int i = 0; i < 5; ++i) ms.push_back(msg(t, i, "m" + std::to_string(i)));
    {
        auto env = open_env(dir.path());
        LmdbMessageStore s(*env, {});
        for (auto const& m : ms) REQUIRE(s.put(m) == StoreStatus::stored);
    }
    {
        // Damage message 2's envelope the way a bad disk would: one flipped byte.
        MDB_env* raw = nullptr;
        REQUIRE(mdb_env_create(&raw) == 0);
        mdb_env_set_maxdbs(raw, 16);
        REQUIRE(mdb_env_open(raw, (dir.path() / "store").c_str(), 0, 0600) == 0);
        MDB_txn* txn = nullptr;
        REQUIRE(mdb_txn_begin(raw, nullptr, 0, &txn) == 0);
        MDB_dbi dbi;
        REQUIRE(mdb_dbi_open(txn, "messages", 0, &dbi) == 0);
        MDB_cursor* c = nullptr;
        REQUIRE(mdb_cursor_open(txn, dbi, &c) == 0);
        MDB_val k, v;
        REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
        REQUIRE(mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0);
        REQUIRE(mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0);
        core::Bytes bad(static_cast<std::byte const*>(v.mv_data), static_cast<std::byte const*>(v.mv_data) + v.mv_size);
        bad[bad.size() / 2] ^= std::byte{0x40};
        MDB_val nv{bad.size(), bad.data()};
        REQUIRE(mdb_cursor_put(c, &k, &nv, MDB_CURRENT) == 0);
        mdb_cursor_close(c);
        REQUIRE(mdb_txn_commit(txn) == 0);
        mdb_env_close(raw);
    }
    auto env = open_env(dir.path());
    LmdbMessageStore s(*env, {});
    auto all = s.range(t, std::nullopt, 10);
    CHECK(times(all) == std::vector<std::int64_t>{0, 1, 3, 4});
    CHECK(s.corrupt() == 1);
    CHECK(env->corrupt_records() == 1);
    CHECK_FALSE(s.get(ms[2].id));
    CHECK(s.get(ms[3].id));
    CHECK(s.last(t, 2).size() == 2);
    // New puts still work.
    CHECK(s.put(msg(t, 10, "after")) == StoreStatus::stored);
}

TEST_CASE("message store: a foreign 'messages' entry is a clear open error", "[unit]") {
    TempDir dir;
    { auto env = open_env(dir.path()); }
    {
        // Another program replaced the messages database by a plain row of the main one.
        MDB_env* raw = nullptr;
        REQUIRE(mdb_env_create(&raw) == 0);
        mdb_env_set_maxdbs(raw, 16);
        REQUIRE(mdb_env_open(raw, (dir.path() / "store").c_str(), 0, 0600) == 0);
        MDB_txn* txn = nullptr;
        REQUIRE(mdb_txn_begin(raw, nullptr, 0, &txn) == 0);
        MDB_dbi dbi, main;
        REQUIRE(mdb_dbi_open(txn, "messages", 0, &dbi) == 0);
        REQUIRE(mdb_drop(txn, dbi, 1) == 0);
        REQUIRE(mdb_dbi_open(txn, nullptr, 0, &main) == 0);
        std::string const key = "messages", value = "not a database";
        MDB_val k{key.size(), const_cast<char*>(key.data())}, v{value.size(), const_cast<char*>(value.data())};
        REQUIRE(mdb_put(txn, main, &k, &v, 0) == 0);
        REQUIRE(mdb_txn_commit(txn) == 0);
        mdb_env_close(raw);
    }
    auto r = LmdbStore::open(dir.path(), 64u * 1024 * 1024);
    REQUIRE_FALSE(r);
    CHECK(r.error().find("store: damaged kadmium store ('messages'") != std::string::npos);
    CHECK(r.error().find('\n') == std::string::npos);
}

TEST_CASE("message store: during a background commit puts and outbox changes wait in order, then are written", "[unit]") {
    TempDir dir;
    auto env = open_env(dir.path());
    LmdbMessageStore store(*env, MessageRetention{});
    auto const t = topic("chat");
    auto const m1 = msg(t, 1000, "one");
    auto const m2 = msg(t, 2000, "two");
    auto const m3 = msg(t, 3000, "three");
    REQUIRE(store.put(m1) == StoreStatus::stored);
    test::BackgroundCommit commit(*env);
    env->begin_batch();
    REQUIRE(store.put(m2) == StoreStatus::stored);
    REQUIRE(commit.start());

    // Kept, not written: nothing waits for the commit.
    CHECK(store.put(m3) == StoreStatus::stored);
    CHECK(store.put(m3) == StoreStatus::duplicate);
    CHECK(store.put(m1) == StoreStatus::duplicate);  // committed before the window
    CHECK(store.contains(m3.id));
    CHECK(store.outbox_add(m3.id, "chat"));
    CHECK(store.outbox_remove(m3.id));
    CHECK(store.outbox_add(m1.id, "chat"));
    CHECK(store.has_deferred());
    CHECK(env->committing());
    CHECK(commit.finished() == 0);
    // Other reads see the last commit: not the detached batch's m2, not the kept m3.
    CHECK(times(store.range(t, std::nullopt, 10)) == std::vector<std::int64_t>{1000});

    // Written in order once the commit is done; still kept until then (order holds).
    store.apply_deferred();
    CHECK(commit.finished() == 1);
    CHECK(commit.ok());
    CHECK_FALSE(store.has_deferred());
    CHECK(times(store.range(t, std::nullopt, 10)) == std::vector<std::int64_t>{1000, 2000, 3000});
    auto const outbox = store.outbox(10);
    REQUIRE(outbox.size() == 1);
    CHECK(outbox[0].id == m1.id);
    CHECK(store.deferred_lost() == 0);
}

TEST_CASE("message store: past its bound, a write during a background commit waits for it, in order", "[unit]") {
    TempDir dir;
    auto env = open_env(dir.path());
    auto const t = topic("chat");
    auto const m1 = msg(t, 1000, "one");
    auto const m2 = msg(t, 2000, "two");
    auto const m3 = msg(t, 3000, "three");
    // Room for one kept put, not two.
    LmdbMessageStore store(*env, MessageRetention{}, m2.encoded.size() + 600);
    test::BackgroundCommit commit(*env);
    env->begin_batch();
    REQUIRE(store.put(m1) == StoreStatus::stored);
    REQUIRE(commit.start());
    CHECK(store.put(m2) == StoreStatus::stored);  // kept
    CHECK(store.has_deferred());
    CHECK(commit.finished() == 0);
    // Over the bound: the kept m2 is written first (after the commit), then m3.
    CHECK(store.put(m3) == StoreStatus::stored);
    CHECK(commit.finished() == 1);
    CHECK_FALSE(store.has_deferred());
    CHECK(times(store.range(t, std::nullopt, 10)) == std::vector<std::int64_t>{1000, 2000, 3000});
    CHECK(store.deferred_lost() == 0);
}
