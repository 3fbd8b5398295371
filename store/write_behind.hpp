// WriteBehindStore: the RecordStore the node's DHT writes through. A put is accepted into
// an in-memory queue and answered at once; flush() commits the queue to the LmdbStore in
// one batch (one fdatasync for all of it), and the node calls it on a timer. DHT records
// are soft state (the putter republishes hourly, holders re-replicate), so a STORE need
// not wait for a disk flush: the ack means "held in memory on this replica, on disk by the
// next flush unless the process dies first" (docs/storage.md, "Write-behind").
//
// Not for what must stay durable: pub/sub messages, the outbox and the routing snapshot
// use the LmdbStore directly and keep its synchronous group commit.
//
// Reads see the queue: get merges queued records with the disk's (a queued record replaces
// the disk's copy of the same (key, value)); count is exact; for_each and erase_expired
// flush first, so the disk's key order and sweep rules hold unchanged. The queue is bounded (Limits): a put that would overflow it
// is written straight through to the LmdbStore (inside the node's receive batch: its
// answer then waits for that group commit, as before write-behind) and counted in
// fallbacks(). Not thread-safe: the node's event loop owns it, as it owns the LmdbStore.
#pragma once

#include "core/result.hpp"
#include "store/lmdb_store.hpp"
#include "store/record.hpp"
#include "store/store.hpp"

#include <cstddef>
#include <cstdint>
#include <map>

namespace store {

class WriteBehindStore final : public RecordStore {
public:
    struct Limits {
        std::size_t records_max = 4096;             // queued records
        std::size_t bytes_max = 8 * 1024 * 1024;    // their values' bytes plus 64 per record
    };
    struct Counts {
        std::uint64_t queued = 0;      // puts answered from memory
        std::uint64_t fallbacks = 0;   // puts written through because the queue was full
        std::uint64_t flushes = 0;     // flush() calls that wrote something
        std::uint64_t flushed = 0;     // records those flushes committed
        std::uint64_t lost = 0;        // queued records a failed put or commit lost
    };

    // `disk` must outlive this store.
    WriteBehindStore(LmdbStore& disk, Limits limits);
    WriteBehindStore(LmdbStore& disk) : WriteBehindStore(disk, Limits{}) {}
    // Flushes what is queued: a clean shutdown keeps every accepted record.
    ~WriteBehindStore() override;
    WriteBehindStore(WriteBehindStore const&) = delete;
    WriteBehindStore& operator=(WriteBehindStore const&) = delete;

    core::Result<void, StoreError> put(Record const& record) override;
    core::Result<std::vector<Record>, StoreError> get(Key const& key, core::UnixTime now, std::size_t limit) override;
    core::Result<bool, StoreError> erase(Key const& key, core::ByteView value) override;
    // Flushes, then sweeps the disk (inside the disk's batch, the sweep commits the batch
    // early first). The sweep runs once a minute: one more commit a minute, and the disk
    // alone decides what expired.
    std::size_t erase_expired(core::UnixTime now, std::size_t limit) override;
    std::size_t count() const override;
    // Flushes, then walks the disk: key order, and fn may call back into this store.
    core::Result<void, StoreError> for_each(std::function<bool(Record const&)> const& fn) override;

    // Commits the queue: in the LmdbStore's open batch when there is one (it commits with
    // it), else in a batch of its own (one fdatasync). Records a failed put or commit
    // loses are counted in counts().lost; the queue is empty afterwards either way.
    core::Result<void, StoreError> flush();
    // Forgets the records the last flush wrote into the caller's batch: call it when that
    // batch's background commit has ended (until then reads see them from here).
    void release_flushed() {
        flushed_.clear();
        flushed_new_ = 0;
    }
    // The queue is half full: flush soon, before puts start falling back to the disk.
    bool should_flush() const { return pending_.size() * 2 >= limits_.records_max || bytes_ * 2 >= limits_.bytes_max; }
    std::size_t queued() const { return pending_.size(); }
    Counts const& counts() const { return counts_; }

private:
    struct Entry {
        Record record;
        bool on_disk = false;  // the disk held this (key, value) when it was queued
    };
    static std::size_t entry_bytes(Record const& r) { return r.value.size() + encoding::record_id_size; }
    void drop(std::map<encoding::RecordId, Entry>::iterator it);
    // Whether `id` is on disk, or being written there (for count()); a failed disk read
    // counts as absent.
    bool held_on_disk(encoding::RecordId const& id) const;
    // The records the last flush wrote while the disk commits them in the background
    // (reads do not see them on the disk yet); null otherwise.
    std::map<encoding::RecordId, Entry> const* in_flight() const;

    LmdbStore& disk_;
    Limits limits_;
    // Ordered by (key, value hash): the disk's row order, so get's merge stays in it.
    std::map<encoding::RecordId, Entry> pending_;
    std::size_t bytes_ = 0;
    std::size_t new_records_ = 0;  // queued records the disk does not hold
    // The last flush's records, written into the caller's batch; read only while the disk
    // commits it in the background. flushed_new_: those the disk did not hold before.
    std::map<encoding::RecordId, Entry> flushed_;
    std::size_t flushed_new_ = 0;
    Counts counts_;
};

}  // namespace store
