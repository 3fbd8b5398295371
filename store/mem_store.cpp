// MemStore: see mem_store.hpp. Records live in one std::map ordered by (key, value hash),
// which gives get its range scan and makes every iteration order deterministic.
#include "store/mem_store.hpp"

#include "core/assert.hpp"
#include "core/crypto.hpp"

#include <algorithm>

namespace store {

bool MemStore::planned_failure(std::size_t& countdown) {
    if (countdown == 0) return false;
    --countdown;
    return countdown == 0;
}

Record MemStore::to_record(RecordId const& id, Entry const& entry) {
    return Record{id.key, entry.value, entry.source, entry.stored_at, entry.expires_at};
}

core::Result<void, StoreError> MemStore::put(Record const& record) {
    CORE_ASSERT(!iterating_);
    CORE_ASSERT(record.value.size() <= record_value_size_max);
    if (planned_failure(put_countdown_)) return core::Err{StoreError::injected};

    RecordId id{record.key, core::blake2b_256(record.value)};
    auto it = records_.find(id);
    if (it == records_.end()) {
        if (records_.size() >= records_max_) return core::Err{StoreError::full};
        records_.emplace(id, Entry{record.value, record.source, record.stored_at, record.expires_at});
    } else {
        // Same key and value: a refresh. The value bytes are equal (same hash), keep them.
        it->second.source = record.source;
        it->second.stored_at = record.stored_at;
        it->second.expires_at = record.expires_at;
    }
    expires_min_ = std::min(expires_min_, record.expires_at);
    return {};
}

core::Result<std::vector<Record>, StoreError> MemStore::get(Key const& key, core::UnixTime now, std::size_t limit) {
    if (planned_failure(get_countdown_)) return core::Err{StoreError::injected};
    std::vector<Record> out;
    for (auto it = records_.lower_bound(RecordId{key, NodeId{}}); it != records_.end() && it->first.key == key; ++it) {
        if (out.size() >= limit) break;
        if (it->second.expires_at > now) out.push_back(to_record(it->first, it->second));
    }
    return out;
}

core::Result<bool, StoreError> MemStore::erase(Key const& key, core::ByteView value) {
    CORE_ASSERT(!iterating_);
    // expires_min_ stays a lower bound when a record leaves: nothing to update.
    return records_.erase(RecordId{key, core::blake2b_256(value)}) > 0;
}

std::size_t MemStore::erase_expired(core::UnixTime now, std::size_t limit) {
    CORE_ASSERT(!iterating_);
    // A record is expired when expires_at <= now; none is while now < the lower bound.
    if (limit == 0 || now < expires_min_) return 0;
    std::size_t removed = 0;
    core::UnixTime min_kept{std::numeric_limits<std::int64_t>::max()};
    for (auto it = records_.begin(); it != records_.end();) {
        if (it->second.expires_at <= now && removed < limit) {
            it = records_.erase(it);
            ++removed;
        } else {
            // Expired records left over by `limit` count too: the bound must stay below them.
            min_kept = std::min(min_kept, it->second.expires_at);
            ++it;
        }
    }
    expires_min_ = min_kept;
    return removed;
}

core::Result<void, StoreError> MemStore::for_each(std::function<bool(Record const&)> const& fn) {
    CORE_ASSERT(!iterating_);
    iterating_ = true;
    for (auto const& [id, entry] : records_) {
        if (!fn(to_record(id, entry))) break;
    }
    iterating_ = false;
    return {};
}

}  // namespace store
