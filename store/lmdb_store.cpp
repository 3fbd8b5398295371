// LmdbStore: see lmdb_store.hpp for the contract and docs/storage.md for the layout.
// Every mdb_* return code is checked; transactions and cursors are RAII guards so that
// every early return aborts what it began. Nothing here throws or asserts on stored data.
// Group commit: a batch owns one write transaction (batch_.txn); each put in it runs in a
// nested transaction, so a failed put rolls back alone, and every read uses the batch's
// transaction while it is open. A background commit (detach_batch) hands that transaction
// to another thread; until finish_detached, reads use a read transaction begun before the
// hand-over and every write entry point first calls the settle hook (settle()).
#include "store/lmdb_store.hpp"

#include "core/assert.hpp"
#include "store/record.hpp"

#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

namespace store {

namespace {

// The meta database's one row: key "format", value magic || schema version (BE u32).
constexpr std::string_view format_key = "format";
constexpr char format_magic[8] = {'K', 'A', 'D', 'M', 'S', 'T', 'O', 'R'};
constexpr std::uint32_t schema_version = 1;
// meta, records, expiry, routing, the five message databases; spare for later versions.
constexpr unsigned dbs_max = 16;
// Rows per write transaction in a sweep, and records per read transaction in for_each:
// small enough to keep a transaction's dirty pages and a reader's snapshot short-lived.
constexpr std::size_t batch_rows_max = 256;
// An expiry index row: expires_at (8 bytes, sign bit flipped, big-endian, so byte order
// is time order) followed by the record id.
constexpr std::size_t expiry_key_size = 8 + encoding::record_id_size;
using ExpiryKey = std::array<std::byte, expiry_key_size>;
// The sweep's reserve (see LmdbStore::reserve_pages_): 1/64 of the map, at least enough for
// two one-row deletions in a row (two trees of depth <= 4, the main tree and freelist
// pages, with margin: the second cannot reuse what the first freed), at most 16 MiB of
// 4 KiB pages because large maps need no more than that.
constexpr std::size_t reserve_pages_min = 32;
constexpr std::size_t reserve_pages_max = 4096;
// Pages a write may copy on its way to the rows it changes (both trees' paths, the main
// tree's root, a split each).
constexpr std::size_t write_path_pages = 12;
// A deleted row dirties its record's leaf and its index row's leaf (overflow pages of a
// large value are freed, not copied).
constexpr std::size_t pages_per_deleted_row = 2;
// Pages one put may take: its rows' bytes plus the paths it copies. An upper bound: within
// one transaction a page is copied once, so later puts of a batch often copy nothing new.
constexpr std::size_t put_pages(std::size_t bytes, std::size_t page_size) {
    return (bytes + page_size - 1) / page_size + write_path_pages;
}

class Txn {
public:
    Txn() = default;
    Txn(Txn const&) = delete;
    Txn& operator=(Txn const&) = delete;
    ~Txn() {
        if (txn_ != nullptr) mdb_txn_abort(txn_);
    }
    // With a `parent`, a nested write transaction: its changes reach the parent only when
    // it commits, and aborting it leaves the parent as it was.
    int begin(MDB_env* env, unsigned flags, MDB_txn* parent = nullptr) { return mdb_txn_begin(env, parent, flags, &txn_); }
    // mdb_txn_commit frees the transaction even when it fails: never abort it after.
    int commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }
    operator MDB_txn*() const { return txn_; }

private:
    MDB_txn* txn_ = nullptr;
};

// Declared after its Txn so that it closes first: read-only cursors must be closed
// explicitly, and a write cursor must not outlive its transaction's commit.
class Cursor {
public:
    Cursor() = default;
    Cursor(Cursor const&) = delete;
    Cursor& operator=(Cursor const&) = delete;
    ~Cursor() { close(); }
    int open(MDB_txn* txn, MDB_dbi dbi) { return mdb_cursor_open(txn, dbi, &cursor_); }
    void close() {
        if (cursor_ != nullptr) mdb_cursor_close(std::exchange(cursor_, nullptr));
    }
    operator MDB_cursor*() const { return cursor_; }

private:
    MDB_cursor* cursor_ = nullptr;
};

MDB_val val(core::ByteView b) { return MDB_val{b.size(), const_cast<std::byte*>(b.data())}; }
MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
core::ByteView view(MDB_val const& v) { return {static_cast<std::byte const*>(v.mv_data), v.mv_size}; }

ExpiryKey expiry_key(core::UnixTime expires_at, encoding::RecordId const& id) {
    ExpiryKey k;
    auto t = static_cast<std::uint64_t>(expires_at.seconds) ^ (std::uint64_t{1} << 63);
    for (int i = 0; i < 8; ++i) k[i] = static_cast<std::byte>(t >> (56 - 8 * i));
    std::memcpy(k.data() + 8, id.data(), id.size());
    return k;
}

core::UnixTime expiry_time(core::ByteView k) {
    std::uint64_t t = 0;
    for (int i = 0; i < 8; ++i) t = (t << 8) | std::to_integer<std::uint8_t>(k[i]);
    return {static_cast<std::int64_t>(t ^ (std::uint64_t{1} << 63))};
}

std::string lmdb_error(int rc) { return mdb_strerror(rc); }

// For reads: the open batch's write transaction when there is one (LMDB allows one
// transaction per thread, and reads must see the batch's puts), otherwise `own`, begun
// read-only. Returns an LMDB error code.
int begin_read(MDB_env* env, MDB_txn* batch, Txn& own, MDB_txn*& txn) {
    // `batch`: the batch's transaction, or during a background commit the window's reader.
    if (batch != nullptr) {
        txn = batch;
        return 0;
    }
    int rc = own.begin(env, MDB_RDONLY);
    txn = own;
    return rc;
}

// Writes one record's rows in `txn`: the record, its expiry index row, and for a refresh
// that moves the expiry, the removal of the old index row. Returns an LMDB error code and
// names the failed step in `what`; a damaged old row is counted in `corrupt`.
int write_record(MDB_txn* txn, MDB_dbi records, MDB_dbi expiry, encoding::RecordId const& id, core::ByteView row,
                 ExpiryKey const& new_expiry, core::UnixTime expires_at, std::size_t& corrupt, char const*& what) {
    MDB_val k = val(id), old;
    int rc = mdb_get(txn, records, &k, &old);
    if (rc == 0) {
        // A refresh: move the record's index row to its new expiry time.
        auto prev = encoding::decode_record(id, view(old));
        if (!prev) {
            // Its old index row cannot be found; the sweep drops it as stale.
            ++corrupt;
        } else if (prev->expires_at != expires_at) {
            auto old_expiry = expiry_key(prev->expires_at, id);
            MDB_val ek = val(old_expiry);
            rc = mdb_del(txn, expiry, &ek, nullptr);
            if (rc != 0 && rc != MDB_NOTFOUND) {
                what = "put: delete old index row";
                return rc;
            }
        }
    } else if (rc != MDB_NOTFOUND) {
        what = "put: read";
        return rc;
    }
    MDB_val v = val(row);
    rc = mdb_put(txn, records, &k, &v, 0);
    if (rc != 0) {
        what = "put";
        return rc;
    }
    MDB_val ek = val(new_expiry), empty{0, nullptr};
    rc = mdb_put(txn, expiry, &ek, &empty, 0);
    if (rc != 0) what = "put: index";
    return rc;
}

// Deletes one record's row and its expiry index row in `txn`; `found` says whether the
// record was there. A damaged record is deleted too (its index row, which cannot be
// found, is left for the sweep, which drops stale index rows) and counted in `corrupt`.
// Returns an LMDB error code.
int delete_record(MDB_txn* txn, MDB_dbi records, MDB_dbi expiry, encoding::RecordId const& id, bool& found,
                  std::size_t& corrupt) {
    MDB_val k = val(id), old;
    int rc = mdb_get(txn, records, &k, &old);
    found = rc == 0;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    if (auto prev = encoding::decode_record(id, view(old))) {
        auto index = expiry_key(prev->expires_at, id);
        MDB_val ek = val(index);
        rc = mdb_del(txn, expiry, &ek, nullptr);
        if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    } else {
        ++corrupt;
    }
    return mdb_del(txn, records, &k, nullptr);
}

struct OpenedDbis {
    MDB_dbi meta = 0, records = 0, expiry = 0, routing = 0;
    LmdbStore::MessageDbis messages;
};

// Opens the message databases in `txn`, creating the ones missing: they came after the
// first version-1 stores, so a store without them is an older one, not a damaged one.
// Returns an error text (empty on success).
std::string open_message_dbis(MDB_txn* txn, LmdbStore::MessageDbis& m) {
    for (auto [name, dbi] : {std::pair{"messages", &m.messages}, std::pair{"message_ids", &m.ids},
                             std::pair{"message_age", &m.age}, std::pair{"message_topics", &m.topics},
                             std::pair{"outbox", &m.outbox}}) {
        int rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi);
        if (rc == MDB_INCOMPATIBLE)
            return std::string("damaged kadmium store ('") + name + "' is not a database of the expected kind)";
        if (rc != 0) return std::string("cannot open database '") + name + "': " + lmdb_error(rc);
    }
    return {};
}

// Opens (or, in a new env, creates) the databases and checks the format row. The error
// is the text that follows "<path>: ".
core::Result<OpenedDbis, std::string> open_dbis(MDB_env* env) {
    Txn txn;
    int rc = txn.begin(env, 0);
    if (rc != 0) return core::Err{"cannot begin a transaction: " + lmdb_error(rc)};
    OpenedDbis d;
    rc = mdb_dbi_open(txn, "meta", 0, &d.meta);
    if (rc == MDB_INCOMPATIBLE) return core::Err{std::string("not a kadmium store (its 'meta' entry is not a database)")};
    if (rc == MDB_NOTFOUND) {
        // A new env, or an LMDB env that some other program wrote.
        MDB_dbi main = 0;
        MDB_stat st;
        rc = mdb_dbi_open(txn, nullptr, 0, &main);
        if (rc == 0) rc = mdb_stat(txn, main, &st);
        if (rc != 0) return core::Err{"cannot read the main database: " + lmdb_error(rc)};
        if (st.ms_entries != 0)
            return core::Err{std::string("not a kadmium store (an LMDB environment without a kadmium 'meta' database)")};
        std::array<std::byte, sizeof format_magic + 4> format;
        std::memcpy(format.data(), format_magic, sizeof format_magic);
        for (int i = 0; i < 4; ++i) format[sizeof format_magic + i] = static_cast<std::byte>(schema_version >> (24 - 8 * i));
        MDB_val k = val(format_key), v = val(format);
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &d.meta);
        if (rc == 0) rc = mdb_put(txn, d.meta, &k, &v, 0);
        if (rc == 0) rc = mdb_dbi_open(txn, "records", MDB_CREATE, &d.records);
        if (rc == 0) rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &d.expiry);
        if (rc == 0) rc = mdb_dbi_open(txn, "routing", MDB_CREATE, &d.routing);
        if (rc == 0) {
            if (auto e = open_message_dbis(txn, d.messages); !e.empty()) return core::Err{e};
        }
        if (rc == 0) rc = txn.commit();
        if (rc != 0) return core::Err{"cannot create the store's databases: " + lmdb_error(rc)};
        return d;
    }
    if (rc != 0) return core::Err{"cannot open the 'meta' database: " + lmdb_error(rc)};

    MDB_val k = val(format_key), v;
    rc = mdb_get(txn, d.meta, &k, &v);
    if (rc == MDB_NOTFOUND) return core::Err{std::string("not a kadmium store (no format row in 'meta')")};
    if (rc != 0) return core::Err{"cannot read the format row: " + lmdb_error(rc)};
    auto format = view(v);
    if (format.size() != sizeof format_magic + 4 || std::memcmp(format.data(), format_magic, sizeof format_magic) != 0)
        return core::Err{std::string("not a kadmium store (wrong magic in 'meta'); move it away to start an empty store")};
    std::uint32_t version = 0;
    for (int i = 0; i < 4; ++i) version = (version << 8) | std::to_integer<std::uint8_t>(format[sizeof format_magic + i]);
    if (version != schema_version)
        return core::Err{"kadmium store schema version " + std::to_string(version) + " is not supported (this build reads version " +
                         std::to_string(schema_version) + ")"};

    // Version 1 creates every database at once: a missing one means damage, and creating
    // it empty would hide the loss.
    for (auto [name, dbi] : {std::pair{"records", &d.records}, std::pair{"expiry", &d.expiry}, std::pair{"routing", &d.routing}}) {
        rc = mdb_dbi_open(txn, name, 0, dbi);
        if (rc == MDB_NOTFOUND) return core::Err{std::string("damaged kadmium store (database '") + name + "' is missing)"};
        if (rc != 0) return core::Err{std::string("cannot open database '") + name + "': " + lmdb_error(rc)};
    }
    if (auto e = open_message_dbis(txn, d.messages); !e.empty()) return core::Err{e};
    rc = txn.commit();
    if (rc != 0) return core::Err{"cannot commit the opening transaction: " + lmdb_error(rc)};
    return d;
}

}  // namespace

core::Result<std::unique_ptr<LmdbStore>, std::string> LmdbStore::open(std::filesystem::path const& dir,
                                                                      std::size_t map_size_bytes) {
    auto const path = dir / "store";
    auto const name = path.string();
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return core::Err{name + ": cannot create directory: " + std::strerror(errno)};
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) return core::Err{name + ": not a directory"};

    MDB_env* raw = nullptr;
    int rc = mdb_env_create(&raw);
    if (rc != 0) return core::Err{name + ": cannot create an LMDB environment: " + lmdb_error(rc)};
    // mdb_env_close is required even when mdb_env_open fails.
    std::unique_ptr<MDB_env, void (*)(MDB_env*)> env(raw, mdb_env_close);

    // The default map is 1 MiB; a map smaller than the data already stored is raised by
    // LMDB to fit it.
    auto const page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE) > 0 ? ::sysconf(_SC_PAGESIZE) : 4096);
    auto const map_size = (std::max<std::size_t>(map_size_bytes, page) + page - 1) / page * page;
    rc = mdb_env_set_maxdbs(env.get(), dbs_max);
    if (rc == 0) rc = mdb_env_set_mapsize(env.get(), map_size);
    if (rc != 0) return core::Err{name + ": cannot configure the LMDB environment: " + lmdb_error(rc)};

    // MDB_NOLOCK: no lock file mutexes and no reader table. The node's flock on its data
    // dir keeps other processes out, and within the process the event loop is the only
    // writer and reader, except that a background commit (detach_batch) commits on the
    // writer thread the transaction the loop began: LMDB's writer mutex belongs to the
    // thread that took it, so with locks that commit could not release it. Readers are
    // short and begin only on the latest snapshot (during a background commit, one reader
    // begun before it), which LMDB's page reuse never overwrites.
    rc = mdb_env_open(env.get(), path.c_str(), MDB_NOMETASYNC | MDB_NOLOCK, 0600);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
        return core::Err{name + ": not a kadmium store (data.mdb: " + lmdb_error(rc) + "); move it away to start an empty store"};
    if (rc != 0) return core::Err{name + ": cannot open the LMDB environment: " + lmdb_error(rc)};

    auto dbis = open_dbis(env.get());
    if (!dbis) return core::Err{name + ": " + dbis.error()};
    auto const& d = dbis.value();
    MDB_stat st;
    MDB_envinfo info;
    rc = mdb_env_stat(env.get(), &st);
    if (rc == 0) rc = mdb_env_info(env.get(), &info);
    if (rc != 0) return core::Err{name + ": cannot read the environment's size: " + lmdb_error(rc)};
    auto const pages = info.me_mapsize / st.ms_psize;
    auto const reserve = std::clamp<std::size_t>(pages / 64, reserve_pages_min, reserve_pages_max);
    return std::unique_ptr<LmdbStore>(
        new LmdbStore(env.release(), Dbis{d.meta, d.records, d.expiry, d.routing}, d.messages, st.ms_psize, reserve));
}

LmdbStore::~LmdbStore() {
    settle();
    CORE_ASSERT(!committing_);  // a detached transaction must be committed before the env closes
    if (batch_.open) (void)commit_batch();  // counted like any failed commit
    sync();
    mdb_env_close(env_);
}

StoreError LmdbStore::fail(int rc, char const* what) const {
    ++errors_;
    last_error_ = std::string(what) + ": " + lmdb_error(rc);
    return rc == MDB_MAP_FULL ? StoreError::full : StoreError::io;
}

int LmdbStore::room_pages(std::size_t enough, std::size_t& pages) const {
    MapFigures map;
    int rc = map_figures(map);
    if (rc != 0) return rc;
    auto const map_pages = map.map_size / page_size_;
    pages = map_pages > map.last_pgno + 1 ? map_pages - (map.last_pgno + 1) : 0;
    if (pages >= enough) return 0;  // the common case: no need to look at the freelist

    // Near the end of the map: count the pages LMDB freed for reuse too (as mdb_stat -f
    // does). Each row of the freelist database (dbi 0) is a list of page numbers whose
    // first word is its length. This costs O(freelist rows) and runs only near full.
    // Pages freed by the last commit are counted although LMDB reuses them only after
    // the next one; the reserve absorbs that.
    Txn own;
    MDB_txn* txn = nullptr;
    rc = begin_read(env_, committing_ ? window_reader_ : nullptr, own, txn);
    if (rc != 0) return rc;
    Cursor cursor;
    rc = cursor.open(txn, 0);
    if (rc != 0) return rc;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        if (v.mv_size < sizeof(std::size_t)) continue;
        std::size_t n;
        std::memcpy(&n, v.mv_data, sizeof n);
        pages += n;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int LmdbStore::check_room(std::size_t bytes, bool& fits) const {
    auto const needed = reserve_pages_ + (bytes + page_size_ - 1) / page_size_ + write_path_pages;
    std::size_t pages = 0;
    int rc = room_pages(needed, pages);
    fits = rc == 0 && pages >= needed;
    return rc;
}

core::Result<void, StoreError> LmdbStore::put(Record const& record) {
    CORE_ASSERT(record.value.size() <= record_value_size_max);
    settle();
    auto const id = encoding::record_id(record.key, record.value);
    auto const row = encoding::encode_record(id, record);
    auto const new_expiry = expiry_key(record.expires_at, id);
    auto const bytes = id.size() + row.size() + new_expiry.size();
    std::size_t corrupt = 0;
    char const* what = "put";
    auto write = [&](MDB_txn* txn) {
        int rc = write_record(txn, dbis_.records, dbis_.expiry, id, row, new_expiry, record.expires_at, corrupt, what);
        corrupt_records_ += std::exchange(corrupt, 0);
        return rc;
    };
    // The fail plan strikes after the rows are written, so the rollback is what is tested.
    bool const injected = put_countdown_ > 0 && --put_countdown_ == 0;
    auto inject = [&] {
        ++errors_;
        last_error_ = "put: injected failure (fail plan)";
        return StoreError::injected;
    };

    if (batch_.open) {
        if (auto ready = prepare_batch_put(bytes); !ready) return ready;
        Txn nested;
        int rc = nested.begin(env_, 0, batch_.txn);
        if (rc != 0) return core::Err{fail(rc, "put: begin nested")};
        rc = write(nested);
        if (rc != 0) return core::Err{fail(rc, what)};
        if (injected) return core::Err{inject()};
        rc = nested.commit();
        if (rc != 0) return core::Err{fail(rc, "put: commit nested")};
        ++batch_.puts;
        batch_.bytes += bytes;
        batch_.pages += put_pages(bytes, page_size_);
        return {};
    }

    bool fits = false;
    int rc = check_room(bytes, fits);
    if (rc != 0) return core::Err{fail(rc, "put: free space")};
    if (!fits) return core::Err{map_full("put")};
    Txn txn;
    rc = txn.begin(env_, 0);
    if (rc != 0) return core::Err{fail(rc, "put: begin")};
    rc = write(txn);
    if (rc != 0) return core::Err{fail(rc, what)};
    if (injected) return core::Err{inject()};
    rc = txn.commit();
    if (rc != 0) return core::Err{fail(rc, "put: commit")};
    return {};
}

core::Result<bool, StoreError> LmdbStore::erase(Key const& key, core::ByteView value) {
    settle();
    auto const id = encoding::record_id(key, value);
    // Deleting copies the pages on its paths like a small put: the same room rules apply.
    auto const bytes = id.size() + expiry_key_size;
    bool found = false;
    std::size_t corrupt = 0;
    auto remove = [&](MDB_txn* txn) {
        int rc = delete_record(txn, dbis_.records, dbis_.expiry, id, found, corrupt);
        corrupt_records_ += std::exchange(corrupt, 0);
        return rc;
    };
    if (batch_.open) {
        if (auto ready = prepare_batch_put(bytes); !ready) return core::Err{ready.error()};
        Txn nested;
        int rc = nested.begin(env_, 0, batch_.txn);
        if (rc != 0) return core::Err{fail(rc, "erase: begin nested")};
        rc = remove(nested);
        if (rc != 0) return core::Err{fail(rc, "erase")};
        if (!found) return false;  // nothing changed: the guard aborts the nested transaction
        rc = nested.commit();
        if (rc != 0) return core::Err{fail(rc, "erase: commit nested")};
        // Counted with the batch's puts: a batch whose writes count zero is aborted, not
        // committed, and a failed commit reports this write among the ones lost.
        ++batch_.puts;
        batch_.bytes += bytes;
        batch_.pages += put_pages(bytes, page_size_);
        return found;
    }
    bool fits = false;
    int rc = check_room(bytes, fits);
    if (rc != 0) return core::Err{fail(rc, "erase: free space")};
    if (!fits) return core::Err{map_full("erase")};
    Txn txn;
    rc = txn.begin(env_, 0);
    if (rc != 0) return core::Err{fail(rc, "erase: begin")};
    rc = remove(txn);
    if (rc != 0) return core::Err{fail(rc, "erase")};
    if (!found) return false;  // nothing changed: the Txn guard aborts
    rc = txn.commit();
    if (rc != 0) return core::Err{fail(rc, "erase: commit")};
    return true;
}

StoreError LmdbStore::map_full(char const* what) const {
    ++errors_;
    last_error_ = std::string(what) + ": map full (the rest is kept for erasing expired records); raise the map size";
    return StoreError::full;
}

core::Result<void, StoreError> LmdbStore::prepare_batch_put(std::size_t bytes) {
    CORE_ASSERT(batch_.open);
    settle();
    auto const needed = reserve_pages_ + put_pages(bytes, page_size_);
    if (batch_.txn != nullptr) {
        // The bounds, checked before the put so that the put itself never straddles a
        // commit: whatever happens to the batch so far, this put's result is its own.
        bool const bounded = batch_.puts >= batch_puts_max || batch_.bytes + bytes > batch_bytes_max;
        // The batch's page estimate is an upper bound, and LMDB cannot read its freelist
        // inside a write transaction: when the estimate says "no room", commit and look
        // again with exact figures, so batching never fails a put that fits alone.
        bool const maybe_full = batch_.room < batch_.pages + needed;
        if (bounded || maybe_full) flush_batch();
    }
    if (batch_.txn != nullptr) return {};

    // Enough room for a whole batch makes room_pages skip the freelist; below that (a
    // nearly full map) it counts the freelist, once per batch transaction.
    auto const batch_room = reserve_pages_ + batch_puts_max * write_path_pages + batch_bytes_max / page_size_;
    std::size_t room = 0;
    int rc = room_pages(batch_room, room);
    if (rc != 0) return core::Err{fail(rc, "put: free space")};
    if (room < needed) return core::Err{map_full("put")};
    rc = mdb_txn_begin(env_, nullptr, 0, &batch_.txn);
    if (rc != 0) {
        batch_.txn = nullptr;
        return core::Err{fail(rc, "put: begin batch")};
    }
    batch_.room = room;
    batch_.pages = 0;
    return {};
}

void LmdbStore::flush_batch() {
    if (batch_.txn == nullptr) return;
    auto* txn = std::exchange(batch_.txn, nullptr);
    auto const puts = std::exchange(batch_.puts, 0);
    batch_.bytes = 0;
    batch_.pages = 0;
    batch_.room = 0;
    if (puts == 0) {
        // Its only put failed and rolled back: nothing to write.
        mdb_txn_abort(txn);
        return;
    }
    ++batch_commits_;
    // mdb_txn_commit frees the transaction even when it fails.
    int rc = mdb_txn_commit(txn);
    if (rc == 0) return;
    auto const error = fail(rc, "commit_batch");
    last_error_ += " (" + std::to_string(puts) + " records lost)";
    ++commit_failures_;
    records_lost_ += puts;
    if (!batch_.error) batch_.error = error;
}

void LmdbStore::begin_batch() {
    CORE_ASSERT(!batch_.open);
    CORE_ASSERT(batch_.txn == nullptr && batch_.puts == 0 && !batch_.error);
    batch_.open = true;
}

core::Result<void, StoreError> LmdbStore::commit_batch() {
    CORE_ASSERT(batch_.open);
    flush_batch();
    auto const error = batch_.error;
    batch_ = Batch{};
    if (error) return core::Err{*error};
    return {};
}

core::Result<std::vector<Record>, StoreError> LmdbStore::get(Key const& key, core::UnixTime now, std::size_t limit) {
    std::vector<Record> out;
    if (limit == 0) return out;
    Txn own;
    MDB_txn* txn = nullptr;
    int rc = begin_read(env_, read_base(), own, txn);
    if (rc != 0) return core::Err{fail(rc, "get: begin")};
    Cursor cursor;
    rc = cursor.open(txn, dbis_.records);
    if (rc != 0) return core::Err{fail(rc, "get: cursor")};
    encoding::RecordId start{};
    std::memcpy(start.data(), key.bytes.data(), 32);
    MDB_val k = val(start), v;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE); rc == 0 && out.size() < limit;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        auto row_key = view(k);
        if (row_key.size() < 32 || std::memcmp(row_key.data(), key.bytes.data(), 32) != 0) break;
        auto rec = encoding::decode_record(row_key, view(v));
        if (!rec) {
            ++corrupt_records_;
            continue;
        }
        if (rec->expires_at > now) out.push_back(std::move(*rec));
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return core::Err{fail(rc, "get")};
    return out;
}

core::Result<bool, StoreError> LmdbStore::contains(encoding::RecordId const& id) const {
    Txn own;
    MDB_txn* txn = nullptr;
    int rc = begin_read(env_, read_base(), own, txn);
    if (rc != 0) return core::Err{fail(rc, "contains: begin")};
    MDB_val k = val(core::ByteView(id.data(), id.size())), v;
    rc = mdb_get(txn, dbis_.records, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) return core::Err{fail(rc, "contains")};
    return true;
}

LmdbStore::EraseStep LmdbStore::erase_batch(core::UnixTime now, std::size_t rows_max) {
    EraseStep step;
    Txn txn;
    step.rc = txn.begin(env_, 0);
    if (step.rc != 0) return step;
    Cursor cursor;
    step.rc = cursor.open(txn, dbis_.expiry);
    if (step.rc != 0) return step;
    while (step.visited < rows_max) {
        MDB_val k, v;
        // Every visited index row is deleted, so the first row is always the next one.
        int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            step.done = true;
            break;
        }
        if (rc != 0) {
            step.rc = rc;
            return step;
        }
        auto index_key = view(k);
        bool const well_formed = index_key.size() == expiry_key_size;
        if (well_formed && expiry_time(index_key) > now) {
            step.done = true;
            break;
        }
        ++step.visited;
        if (!well_formed) {
            ++step.corrupt;
        } else {
            MDB_val rk{encoding::record_id_size, const_cast<std::byte*>(index_key.data() + 8)};
            // The index row is untrusted: delete the record only if its own (checksummed)
            // expiry says so. A damaged record is deleted: nothing can read it.
            encoding::RecordId id;
            std::memcpy(id.data(), index_key.data() + 8, id.size());
            MDB_val rv;
            rc = mdb_get(txn, dbis_.records, &rk, &rv);
            if (rc != 0 && rc != MDB_NOTFOUND) {
                step.rc = rc;
                return step;
            }
            if (rc == 0) {
                auto rec = encoding::decode_record(id, view(rv));
                if (!rec) ++step.corrupt;
                if (!rec || rec->expires_at <= now) {
                    MDB_val dk = val(id);
                    rc = mdb_del(txn, dbis_.records, &dk, nullptr);
                    if (rc != 0) {
                        step.rc = rc;
                        return step;
                    }
                    ++step.removed;
                }
            }
        }
        rc = mdb_cursor_del(cursor, 0);
        if (rc != 0) {
            step.rc = rc;
            return step;
        }
    }
    cursor.close();
    step.rc = txn.commit();
    return step;
}

std::size_t LmdbStore::erase_expired(core::UnixTime now, std::size_t limit) {
    settle();
    // Inside a batch: commit what it holds (an early commit, as for a put that needs exact
    // room figures) and sweep outside it; the batch stays open for the puts that follow.
    if (batch_.open) flush_batch();
    std::size_t removed = 0;
    std::size_t visited = 0;
    std::size_t batch_max = batch_rows_max;  // lowered for good when LMDB reports full
    while (visited < limit) {
        // Size the transaction to the pages left: a transaction that takes all of them
        // leaves none for the next one, and the pages it frees are reusable only two
        // commits later, so the sweep would stall with the map full.
        std::size_t pages = 0;
        auto const enough = write_path_pages + batch_max * pages_per_deleted_row;
        int rc = room_pages(enough, pages);
        if (rc != 0) {
            fail(rc, "erase_expired: free space");
            break;
        }
        auto const fit = pages > write_path_pages ? (pages - write_path_pages) / (2 * pages_per_deleted_row) : 0;
        auto const batch = std::min(std::clamp<std::size_t>(fit, 1, batch_max), limit - visited);
        auto step = erase_batch(now, batch);
        if (step.rc == MDB_MAP_FULL && batch > 1) {
            batch_max = batch / 2;
            continue;
        }
        if (step.rc != 0) {
            fail(step.rc, "erase_expired");
            break;
        }
        visited += step.visited;
        removed += step.removed;
        corrupt_records_ += step.corrupt;
        if (step.done) break;
    }
    return removed;
}

std::size_t LmdbStore::count() const {
    Txn own;
    MDB_txn* txn = nullptr;
    int rc = begin_read(env_, read_base(), own, txn);
    MDB_stat st;
    if (rc == 0) rc = mdb_stat(txn, dbis_.records, &st);
    if (rc != 0) {
        fail(rc, "count");
        return 0;
    }
    return st.ms_entries;
}

core::Result<void, StoreError> LmdbStore::for_each(std::function<bool(Record const&)> const& fn) {
    core::Bytes resume_after;  // row key of the last row read; empty before the first batch
    for (bool first = true;; first = false) {
        std::vector<Record> batch;
        bool more = false;
        {
            Txn own;
            MDB_txn* txn = nullptr;
            int rc = begin_read(env_, read_base(), own, txn);
            if (rc != 0) return core::Err{fail(rc, "for_each: begin")};
            Cursor cursor;
            rc = cursor.open(txn, dbis_.records);
            if (rc != 0) return core::Err{fail(rc, "for_each: cursor")};
            MDB_val k = val(resume_after), v;
            rc = mdb_cursor_get(cursor, &k, &v, first ? MDB_FIRST : MDB_SET_RANGE);
            if (rc == 0 && !first && std::ranges::equal(view(k), resume_after)) rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
            std::size_t rows = 0;
            for (; rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
                if (rows == batch_rows_max) {
                    more = true;
                    break;
                }
                ++rows;
                auto row_key = view(k);
                resume_after.assign(row_key.begin(), row_key.end());
                auto rec = encoding::decode_record(row_key, view(v));
                if (!rec) {
                    ++corrupt_records_;
                    continue;
                }
                batch.push_back(std::move(*rec));
            }
            if (rc != 0 && rc != MDB_NOTFOUND) return core::Err{fail(rc, "for_each")};
        }
        for (auto const& rec : batch)
            if (!fn(rec)) return {};
        if (!more) return {};
    }
}

core::Result<void, StoreError> LmdbStore::save_routing(std::vector<SnapshotEntry> const& entries) {
    CORE_ASSERT(!batch_.open);
    settle();
    auto const n = std::min(entries.size(), snapshot_entries_max);
    // Pages freed by the drop become reusable only after this transaction: count the
    // whole new snapshot (under 128 bytes a row).
    bool fits = false;
    int rc = check_room(n * 128, fits);
    if (rc != 0) return core::Err{fail(rc, "save_routing: free space")};
    if (!fits) return core::Err{map_full("save_routing")};
    Txn txn;
    rc = txn.begin(env_, 0);
    if (rc != 0) return core::Err{fail(rc, "save_routing: begin")};
    rc = mdb_drop(txn, dbis_.routing, 0);
    if (rc != 0) return core::Err{fail(rc, "save_routing: clear")};
    for (std::size_t i = 0; i < n; ++i) {
        auto row_key = encoding::snapshot_row_key(static_cast<std::uint32_t>(i));
        auto row = encoding::encode_snapshot_entry(row_key, entries[i]);
        MDB_val k = val(row_key), v = val(row);
        // Row keys ascend, so appending skips the search and packs pages full.
        rc = mdb_put(txn, dbis_.routing, &k, &v, MDB_APPEND);
        if (rc != 0) return core::Err{fail(rc, "save_routing")};
    }
    rc = txn.commit();
    if (rc != 0) return core::Err{fail(rc, "save_routing: commit")};
    return {};
}

core::Result<std::vector<SnapshotEntry>, StoreError> LmdbStore::load_routing() {
    std::vector<SnapshotEntry> out;
    Txn own;
    MDB_txn* txn = nullptr;
    int rc = begin_read(env_, read_base(), own, txn);
    if (rc != 0) return core::Err{fail(rc, "load_routing: begin")};
    Cursor cursor;
    rc = cursor.open(txn, dbis_.routing);
    if (rc != 0) return core::Err{fail(rc, "load_routing: cursor")};
    MDB_val k, v;
    std::size_t rows = 0;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0 && rows < snapshot_entries_max;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        ++rows;
        auto entry = encoding::decode_snapshot_entry(view(k), view(v));
        if (!entry) {
            ++corrupt_records_;
            continue;
        }
        out.push_back(*entry);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return core::Err{fail(rc, "load_routing")};
    return out;
}

core::Result<void, StoreError> LmdbStore::write(std::size_t bytes, Room room, char const* what, WriteStep const& step) {
    bool changed = false;
    if (batch_.open) {
        if (auto ready = prepare_batch_put(bytes); !ready) return ready;
        Txn nested;
        int rc = nested.begin(env_, 0, batch_.txn);
        if (rc != 0) return core::Err{fail(rc, what)};
        rc = step(nested, changed);
        if (rc != 0) return core::Err{fail(rc, what)};
        if (!changed) return {};  // the guard aborts the nested transaction
        rc = nested.commit();
        if (rc != 0) return core::Err{fail(rc, what)};
        ++batch_.puts;
        batch_.bytes += bytes;
        batch_.pages += put_pages(bytes, page_size_);
        return {};
    }
    settle();
    if (room == Room::keep_reserve) {
        bool fits = false;
        int rc = check_room(bytes, fits);
        if (rc != 0) return core::Err{fail(rc, what)};
        if (!fits) return core::Err{map_full(what)};
    }
    Txn txn;
    int rc = txn.begin(env_, 0);
    if (rc != 0) return core::Err{fail(rc, what)};
    rc = step(txn, changed);
    if (rc != 0) return core::Err{fail(rc, what)};
    if (!changed) return {};
    rc = txn.commit();
    if (rc != 0) return core::Err{fail(rc, what)};
    return {};
}

core::Result<void, StoreError> LmdbStore::read(char const* what, std::function<int(MDB_txn*)> const& step) const {
    Txn own;
    MDB_txn* txn = nullptr;
    int rc = begin_read(env_, read_base(), own, txn);
    if (rc == 0) rc = step(txn);
    if (rc != 0 && rc != MDB_NOTFOUND) return core::Err{fail(rc, what)};
    return {};
}

void LmdbStore::sync() {
    settle();
    int rc = mdb_env_sync(env_, 1);
    if (rc != 0) fail(rc, "sync");
}

LmdbStore::Usage LmdbStore::usage() const {
    MapFigures map;
    if (int rc = map_figures(map); rc != 0) {
        fail(rc, "usage");
        return {};
    }
    return {map.map_size, (map.last_pgno + 1) * page_size_};
}

int LmdbStore::map_figures(MapFigures& out) const {
    // During a background commit the writer thread may be writing a meta page: the
    // figures read before it began (an estimate for pre-checks; writes settle first).
    if (committing_) {
        out = window_map_;
        return 0;
    }
    MDB_envinfo info;
    int rc = mdb_env_info(env_, &info);
    if (rc == 0) out = {info.me_mapsize, info.me_last_pgno};
    return rc;
}

void LmdbStore::settle() {
    if (!committing_) return;
    CORE_ASSERT(settle_hook_);  // whoever detached a batch must be able to finish it
    settle_hook_();
    CORE_ASSERT(!committing_);
}

LmdbStore::Detached LmdbStore::detach_batch() {
    CORE_ASSERT(batch_.open && !committing_);
    Detached d;
    d.error = batch_.error;
    if (batch_.txn == nullptr || batch_.puts == 0) {
        (void)commit_batch();  // nothing uncommitted: aborts an empty transaction
        return d;
    }
    // The window's reader and figures, taken while this thread still owns every LMDB call.
    MDB_txn* reader = nullptr;
    MapFigures map;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &reader);
    if (rc == 0) rc = map_figures(map);
    if (rc != 0) {
        if (reader != nullptr) mdb_txn_abort(reader);
        fail(rc, "detach_batch: begin the window's reader");
        auto committed = commit_batch();  // commit here instead
        if (!committed && !d.error) d.error = committed.error();
        return d;
    }
    window_reader_ = reader;
    window_map_ = map;
    committing_ = true;
    ++batch_commits_;
    d.txn = batch_.txn;
    d.puts = batch_.puts;
    batch_ = Batch{};
    return d;
}

int LmdbStore::commit_detached(MDB_txn* txn) { return mdb_txn_commit(txn); }

core::Result<void, StoreError> LmdbStore::finish_detached(Detached const& detached, int rc) {
    CORE_ASSERT(committing_);
    mdb_txn_abort(std::exchange(window_reader_, nullptr));
    committing_ = false;
    if (rc == 0) return {};
    auto const error = fail(rc, "commit_batch");
    last_error_ += " (" + std::to_string(detached.puts) + " records lost)";
    ++commit_failures_;
    records_lost_ += detached.puts;
    return core::Err{error};
}

}  // namespace store
