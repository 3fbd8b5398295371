// LmdbStore: the production RecordStore, one LMDB environment in <data dir>/store holding
// DHT records and the routing-table snapshot. It is not thread-safe (the node's event
// loop owns it; the one exception is commit_detached, the background commit's call on the
// writer thread) and not a cache: everything it holds survives a restart. Invariant: every
// row of `records` has an `expiry` index row (a stale index row, left when a damaged
// record was replaced, is dropped by the sweep without touching the record).
//
// Durability: the env is opened with MDB_NOMETASYNC, so each commit costs one fdatasync
// (of the data pages) instead of two. A process crash loses nothing committed; an
// operating-system crash or power loss may undo the last committed transaction, never
// corrupt the env. sync() forces everything out; the node calls it periodically and at
// shutdown (the destructor calls it too). MDB_NOSYNC was rejected: it can corrupt the env
// on power loss. One transaction per put caps puts near 4k/s, so the node groups the puts
// of one receive burst into one transaction (begin_batch / commit_batch: group commit).
//
// Layout, encodings and error handling: docs/storage.md.
#pragma once

#include "core/result.hpp"
#include "store/record.hpp"
#include "store/routing_snapshot.hpp"
#include "store/store.hpp"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct MDB_env;  // from <lmdb.h>, kept out of this header
struct MDB_txn;
#include <functional>

namespace store {

class LmdbStore final : public RecordStore {
public:
    // Opens (or creates) the store in `dir`/store; `dir` must exist. The subdirectory is
    // created with mode 0700. `map_size_bytes` is the most the store may ever hold (LMDB
    // maps it; disk is used only as data is written), rounded up to whole pages. Errors
    // start with the path and say what is wrong: "<dir>/store: not a kadmium store (…)"
    // for a data file that is not an LMDB env or an env another program wrote; "schema
    // version N is not supported" for a newer store; "cannot create directory" when `dir`
    // is missing. A damaged LMDB header is an error, never a crash.
    static core::Result<std::unique_ptr<LmdbStore>, std::string> open(std::filesystem::path const& dir,
                                                                      std::size_t map_size_bytes);
    // Commits a batch left open (put() said yes to its records; closing keeps that
    // promise), then syncs.
    ~LmdbStore() override;
    LmdbStore(LmdbStore const&) = delete;
    LmdbStore& operator=(LmdbStore const&) = delete;

    // Inserts or refreshes (key, BLAKE2b-256(value)) in one write transaction (one
    // fdatasync); inside a batch, in the batch's transaction (no fdatasync until the
    // batch commits). StoreError::full when the map is full, which for puts means "would
    // eat into the pages kept for the sweep" (about 1.5% of the map, at most 16 MiB):
    // earlier records stay readable, the store keeps answering, and erase_expired frees
    // room. StoreError::io for any other LMDB failure. A put that fails inside a batch
    // changes nothing and leaves the batch's other puts intact (each put is a nested
    // transaction). Batching never makes a put fail that would succeed alone: when the
    // batch's own estimate says "no room", the batch is committed early and the put is
    // checked again against exact figures.
    core::Result<void, StoreError> put(Record const& record) override;
    // Records under `key` with expires_at > now, at most `limit`, in value-hash order.
    // Damaged records are skipped and counted in corrupt_records(). Inside a batch, reads
    // go through the batch's transaction and see its uncommitted puts (so do count,
    // for_each and load_routing).
    core::Result<std::vector<Record>, StoreError> get(Key const& key, core::UnixTime now, std::size_t limit) override;
    // Whether a row (key, BLAKE2b-256(value)) is held, expired or not, without decoding it
    // (one B-tree lookup): the write-behind store uses it to count records exactly.
    core::Result<bool, StoreError> contains(encoding::RecordId const& id) const;
    // Deletes the record and its index row in one write transaction (inside a batch, a
    // nested one in the batch's, counted among its puts). The same room rule as put.
    core::Result<bool, StoreError> erase(Key const& key, core::ByteView value) override;
    // Walks the expiry index from the earliest expiry: costs O(limit log n), whatever the
    // store's size. Deletes in transactions of at most 256 rows, fewer when the map is
    // nearly full (down to one row per transaction, one fdatasync each), because
    // deleting copies pages too and LMDB reuses freed pages only two commits later.
    // Its room accounting needs committed figures: inside a batch it first commits what the
    // batch holds (an early commit, reported by commit_batch like the others), then sweeps
    // outside it; the batch stays open.
    std::size_t erase_expired(core::UnixTime now, std::size_t limit) override;
    // O(1): the entry count LMDB keeps in the records database.
    std::size_t count() const override;
    // Reads in batches of 256 records per read transaction and calls `fn` outside any
    // transaction, so `fn` may call back into the store and a slow `fn` never pins old
    // pages (a long-lived LMDB reader stops page reuse and grows the file). Inside a
    // batch, the batches are read from the batch's transaction.
    core::Result<void, StoreError> for_each(std::function<bool(Record const&)> const& fn) override;

    // Replaces the whole routing snapshot in one transaction. At most
    // snapshot_entries_max entries are written; the rest of `entries` is ignored.
    // Not inside a batch (asserted).
    core::Result<void, StoreError> save_routing(std::vector<SnapshotEntry> const& entries);
    // The saved snapshot, in the order it was saved; at most snapshot_entries_max entries
    // are read. Damaged entries are skipped and counted in corrupt_records().
    core::Result<std::vector<SnapshotEntry>, StoreError> load_routing();

    // ---- Group commit. ----
    // The most puts, and row bytes, one batch transaction holds before it is committed
    // early (mid-batch): bounds the dirty pages LMDB keeps in memory (up to ~12 copied
    // pages per put plus the rows) and what one failed commit can lose. The node's batches
    // are smaller (one receive burst, at most 64 datagrams); the bounds protect other
    // callers.
    static constexpr std::size_t batch_puts_max = 1024;
    static constexpr std::size_t batch_bytes_max = 16 * 1024 * 1024;

    // Starts a batch: until commit_batch(), puts share one write transaction, begun by
    // the first put (a batch without puts costs nothing). Call it when no batch is open
    // (asserted). While it is open, save_routing must not be called; erase_expired commits
    // it early.
    void begin_batch();
    // Commits the batch's puts (one fdatasync) and ends the batch. Returns the first
    // error of this batch's commits (the final one and any early one: batch_puts_max,
    // batch_bytes_max, or a put that needed exact room figures); the puts of a failed
    // commit are lost, counted in commit_failures() and records_lost() and described by
    // last_error(). Whatever it returns, the batch is over and the store keeps working.
    core::Result<void, StoreError> commit_batch();
    bool in_batch() const { return batch_.open; }
    // Puts in the batch's open transaction: done, not yet committed.
    std::size_t batch_uncommitted() const { return batch_.puts; }

    // Fail plan for tests, as MemStore's: the n-th put from now (n = 1 is the next one)
    // writes its rows, then fails with StoreError::injected instead of committing, so its
    // transaction (nested, inside a batch) is rolled back. n = 0 cancels the plan.
    void fail_nth_put(std::size_t n) { put_countdown_ = n; }

    // Batch commits (final and early) since open, those that failed, and the puts those
    // failed commits lost.
    std::size_t batch_commits() const { return batch_commits_; }
    std::size_t commit_failures() const { return commit_failures_; }
    std::size_t records_lost() const { return records_lost_; }

    // ---- Background commit: the batch's fdatasync off the calling thread. ----
    // The batch's transaction handed over for a commit on another thread (commit_detached),
    // and what finish_detached needs to account for it.
    struct Detached {
        MDB_txn* txn = nullptr;           // null: nothing to commit (the batch is over anyway)
        std::size_t puts = 0;             // its puts: lost if its commit fails
        std::optional<StoreError> error;  // the batch's early commits' first failure
    };
    // Ends the open batch like commit_batch, but instead of committing its transaction
    // hands it over: pass it to commit_detached on one other thread, then call
    // finish_detached here with the result. Until then (committing()) reads see the last
    // committed state (a read transaction begun here, before the hand-over: the batch's
    // puts are not visible), and every write entry point (put, erase, write, a batch's
    // first write, erase_expired, save_routing, sync, the destructor) first calls the
    // settle hook, which must wait for the commit and call finish_detached. When the
    // batch has nothing uncommitted (or the window's reader cannot begin) it is committed
    // here and `txn` is null.
    Detached detach_batch();
    // Commits a detached transaction: the only LMDB call made off the owning thread.
    static int commit_detached(MDB_txn* txn);
    // Ends the background commit: `rc` is commit_detached's result. A failure is counted
    // as a failed batch commit (its puts in records_lost()).
    core::Result<void, StoreError> finish_detached(Detached const& detached, int rc);
    bool committing() const { return committing_; }
    void set_settle_hook(std::function<void()> hook) { settle_hook_ = std::move(hook); }

    // Flushes data and metadata to disk (mdb_env_sync with force). Failures are counted
    // in errors() and described by last_error().
    void sync();

    // Stored rows (records, snapshot entries, index rows) found damaged since open, and
    // skipped. A damaged row read twice counts twice.
    std::size_t corrupt_records() const { return corrupt_records_; }
    // Operations that failed with an LMDB error since open (map full included).
    std::size_t errors() const { return errors_; }
    // The last LMDB failure, e.g. "put: MDB_MAP_FULL: Environment mapsize limit reached",
    // for the node's log; empty when none.
    std::string const& last_error() const { return last_error_; }

    // ---- The environment shared with the message store (store/message_db.hpp). ----
    // The message databases, opened (created in a store that has none yet) by open().
    struct MessageDbis {
        unsigned int messages = 0;  // topic ‖ ts ‖ id -> envelope
        unsigned int ids = 0;       // id -> topic ‖ ts
        unsigned int age = 0;       // ts ‖ id -> topic
        unsigned int topics = 0;    // topic -> count ‖ bytes; the 1-byte key 0 -> totals
        unsigned int outbox = 0;    // id -> topic name
    };
    MessageDbis const& message_dbis() const { return message_dbis_; }
    // How a write may use the map: `keep_reserve` for everything that adds data (the room
    // rule of put), `use_reserve` for deletions (the sweep's reserve exists for them).
    enum class Room : std::uint8_t { keep_reserve, use_reserve };
    // A write step: returns an LMDB code (0 for success) and sets `changed` when it wrote
    // something (a step that changed nothing is aborted, not committed).
    using WriteStep = std::function<int(MDB_txn* txn, bool& changed)>;
    // Runs `step` in a write transaction: nested in the batch's when a batch is open (it
    // commits with the batch and counts among its puts), else its own, committed here (one
    // fdatasync). `bytes` sizes the room check; `what` names it in last_error(). Errors as
    // put's: StoreError::full when the room rule refuses or LMDB reports MDB_MAP_FULL.
    core::Result<void, StoreError> write(std::size_t bytes, Room room, char const* what, WriteStep const& step);
    // Runs `step` with a read transaction: the batch's when one is open (reads see its
    // puts), else a read-only one of its own. The step returns an LMDB code.
    core::Result<void, StoreError> read(char const* what, std::function<int(MDB_txn* txn)> const& step) const;
    // Whether `bytes` of new rows fit now while leaving the reserve free (committed
    // figures; a pre-check, the write has the last word). False on an LMDB error.
    bool room_for(std::size_t bytes) const {
        bool fits = false;
        return check_room(bytes, fits) == 0 && fits;
    }
    // Counts damaged rows found by the message store (shared counter, corrupt_records()).
    void count_corrupt(std::size_t n) const { corrupt_records_ += n; }
    // The page size, for callers that bound their transactions.
    std::size_t page_size() const { return page_size_; }

    struct Usage {
        std::size_t map_bytes = 0;   // the configured map size
        std::size_t used_bytes = 0;  // pages ever used (LMDB's high-water mark)
    };
    Usage usage() const;

private:
    using Dbi = unsigned int;  // MDB_dbi
    struct Dbis {
        Dbi meta = 0;
        Dbi records = 0;
        Dbi expiry = 0;
        Dbi routing = 0;
    };
    struct Batch {
        bool open = false;
        MDB_txn* txn = nullptr;      // begun by the batch's first put, or after an early commit
        std::size_t puts = 0;        // puts in `txn`
        std::size_t bytes = 0;       // their row bytes
        std::size_t room = 0;        // pages a write could get when `txn` began (room_pages)
        std::size_t pages = 0;       // pages `txn` may have taken: an upper bound, see put
        std::optional<StoreError> error;  // the first failed commit of this batch
    };
    struct EraseStep {
        int rc = 0;
        std::size_t visited = 0;
        std::size_t removed = 0;
        std::size_t corrupt = 0;
        bool done = false;
    };

    LmdbStore(MDB_env* env, Dbis dbis, MessageDbis message_dbis, std::size_t page_size, std::size_t reserve_pages)
        : env_(env), dbis_(dbis), message_dbis_(message_dbis), page_size_(page_size), reserve_pages_(reserve_pages) {}
    // Records an LMDB failure and maps it to a StoreError.
    StoreError fail(int rc, char const* what) const;
    // Sets `pages` to the pages a write could get: the never-used end of the map, plus
    // LMDB's free pages when that end is smaller than `enough`. Call it before a write
    // transaction begins (LMDB reads its freelist only in read-only transactions).
    // Returns an LMDB error code.
    int room_pages(std::size_t enough, std::size_t& pages) const;
    // Whether about `bytes` of new rows fit while leaving reserve_pages_ free.
    int check_room(std::size_t bytes, bool& fits) const;
    EraseStep erase_batch(core::UnixTime now, std::size_t rows_max);
    // Records a put or snapshot save refused by the reserve rule; returns full.
    StoreError map_full(char const* what) const;
    // Makes the batch ready for a put of `bytes` row bytes: commits it early when a bound
    // is reached or its room estimate is exhausted, then begins its transaction if none is
    // open. StoreError::full when the put does not fit even in a fresh transaction.
    core::Result<void, StoreError> prepare_batch_put(std::size_t bytes);
    // Commits the batch's open transaction, if any; the batch stays open. A failure is
    // counted and kept in batch_.error.
    void flush_batch();
    // Waits out a background commit (the settle hook) before a write.
    void settle();
    struct MapFigures {
        std::size_t map_size = 0;   // MDB_envinfo::me_mapsize
        std::size_t last_pgno = 0;  // MDB_envinfo::me_last_pgno
    };
    // The map's size and last used page: LMDB's, or during a background commit window_map_.
    int map_figures(MapFigures& out) const;
    // The transaction reads use instead of their own: the batch's, or the window's reader.
    MDB_txn* read_base() const { return committing_ ? window_reader_ : batch_.txn; }

    MDB_env* env_;
    Dbis dbis_;
    MessageDbis message_dbis_;
    std::size_t page_size_;
    // Pages that puts and snapshot saves leave free, for the sweep: LMDB copies every page
    // it changes, so with the map truly full it could not even delete expired records and
    // the store would stay full for good.
    std::size_t reserve_pages_;
    mutable std::size_t corrupt_records_ = 0;
    mutable std::size_t errors_ = 0;
    mutable std::string last_error_;
    Batch batch_;
    std::size_t batch_commits_ = 0;
    std::size_t commit_failures_ = 0;
    std::size_t records_lost_ = 0;
    std::size_t put_countdown_ = 0;
    // A background commit in flight: its window's reader and environment figures.
    bool committing_ = false;
    MDB_txn* window_reader_ = nullptr;
    MapFigures window_map_;
    std::function<void()> settle_hook_;
};

}  // namespace store
