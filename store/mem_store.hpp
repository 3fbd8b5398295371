// MemStore: the in-memory RecordStore for the simulator and tests. Pure (no LMDB, no I/O)
// and deterministic: iteration and sweeps follow (key, value hash) order, never pointers.
// It is not durable and has no checksums (nothing is encoded). An empty MemStore is a
// std::map header and a few counters (< 128 bytes, no heap), because the simulator keeps
// 100,000 of them in one process. Invariant: expires_min_ <= every record's expires_at.
#pragma once

#include "store/store.hpp"

#include <cstddef>
#include <limits>
#include <map>

namespace store {

class MemStore final : public RecordStore {
public:
    static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

    // `records_max` bounds the number of records; a put that would add one more returns
    // StoreError::full (refreshing an existing record still succeeds).
    explicit MemStore(std::size_t records_max = unlimited) : records_max_(records_max) {}

    // Inserts or refreshes (key, BLAKE2b-256(value)): a refresh replaces source, stored_at
    // and expires_at. Costs one hash of the value and O(log n).
    core::Result<void, StoreError> put(Record const& record) override;
    // Records under `key` with expires_at > now, at most `limit`, in value-hash order.
    core::Result<std::vector<Record>, StoreError> get(Key const& key, core::UnixTime now, std::size_t limit) override;
    core::Result<bool, StoreError> erase(Key const& key, core::ByteView value) override;
    // O(1) when nothing can have expired yet (the common case for a periodic sweep);
    // otherwise one pass over all records.
    std::size_t erase_expired(core::UnixTime now, std::size_t limit) override;
    std::size_t count() const override { return records_.size(); }
    // `fn` must not modify this store (asserted).
    core::Result<void, StoreError> for_each(std::function<bool(Record const&)> const& fn) override;

    // Fail plan for tests, after Boost.Beast's test::fail_count: the n-th put from now
    // (n = 1 is the next one) returns StoreError::injected and changes nothing; the puts
    // before and after it behave normally. n = 0 cancels the plan. Every call counts,
    // including calls that fail for another reason.
    void fail_nth_put(std::size_t n) { put_countdown_ = n; }
    // The same for get.
    void fail_nth_get(std::size_t n) { get_countdown_ = n; }

    std::size_t records_max() const { return records_max_; }

private:
    struct RecordId {
        Key key;
        NodeId value_hash;
        friend auto operator<=>(RecordId const&, RecordId const&) = default;
    };
    struct Entry {
        core::Bytes value;
        NodeId source;
        core::UnixTime stored_at;
        core::UnixTime expires_at;
    };

    // Advances a fail-plan countdown; true exactly when this call is the planned failure.
    static bool planned_failure(std::size_t& countdown);
    static Record to_record(RecordId const& id, Entry const& entry);

    std::map<RecordId, Entry> records_;
    std::size_t records_max_;
    std::size_t put_countdown_ = 0;
    std::size_t get_countdown_ = 0;
    // A lower bound of every record's expires_at (exact after a full sweep), so a sweep
    // before that time returns without looking at the records.
    core::UnixTime expires_min_{std::numeric_limits<std::int64_t>::max()};
    bool iterating_ = false;
};

}  // namespace store
