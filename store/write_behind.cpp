// WriteBehindStore: see write_behind.hpp for the contract and docs/storage.md
// ("Write-behind") for what a STORE's answer guarantees. The queue is a std::map keyed by
// the disk's row key (key || BLAKE2b-256(value)), so a key's queued records sit together in
// the order the disk returns them, and a refresh replaces its queued entry in place.
#include "store/write_behind.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

namespace store {

namespace {

// The first row key of `key`'s range (its value hashes all sort after 32 zero bytes).
encoding::RecordId range_start(Key const& key) {
    encoding::RecordId id{};
    std::memcpy(id.data(), key.bytes.data(), 32);
    return id;
}

bool same_key(encoding::RecordId const& id, Key const& key) {
    return std::memcmp(id.data(), key.bytes.data(), 32) == 0;
}

}  // namespace

WriteBehindStore::WriteBehindStore(LmdbStore& disk, Limits limits) : disk_(disk), limits_(limits) {}

WriteBehindStore::~WriteBehindStore() { (void)flush(); }

bool WriteBehindStore::held_on_disk(encoding::RecordId const& id) const {
    if (disk_.committing() && flushed_.contains(id)) return true;
    auto r = disk_.contains(id);
    return r && r.value();
}

std::map<encoding::RecordId, WriteBehindStore::Entry> const* WriteBehindStore::in_flight() const {
    return disk_.committing() && !flushed_.empty() ? &flushed_ : nullptr;
}

void WriteBehindStore::drop(std::map<encoding::RecordId, Entry>::iterator it) {
    bytes_ -= entry_bytes(it->second.record);
    if (!it->second.on_disk) --new_records_;
    pending_.erase(it);
}

core::Result<void, StoreError> WriteBehindStore::put(Record const& record) {
    CORE_ASSERT(record.value.size() <= record_value_size_max);
    auto const id = encoding::record_id(record.key, record.value);
    auto const bytes = entry_bytes(record);
    if (auto it = pending_.find(id); it != pending_.end()) {
        // A refresh of a queued record: replace it in place (same size, same disk state).
        it->second.record = record;
        ++counts_.queued;
        return {};
    }
    if (pending_.size() >= limits_.records_max || bytes_ + bytes > limits_.bytes_max) {
        // Queue full: write through. Inside the node's receive batch this joins the group
        // commit, and the answer waits for it, as every answer did before write-behind.
        ++counts_.fallbacks;
        return disk_.put(record);
    }
    bool const on_disk = held_on_disk(id);
    pending_.emplace(id, Entry{record, on_disk});
    bytes_ += bytes;
    if (!on_disk) ++new_records_;
    ++counts_.queued;
    return {};
}

core::Result<std::vector<Record>, StoreError> WriteBehindStore::get(Key const& key, core::UnixTime now,
                                                                    std::size_t limit) {
    // Queued records of this key, and during a background commit the ones it is writing
    // (the disk's reads do not see them yet); a queued one is the newer version.
    auto const start = range_start(key);
    std::map<encoding::RecordId, Record const*> queued;
    auto collect = [&](std::map<encoding::RecordId, Entry> const& from) {
        for (auto it = from.lower_bound(start); it != from.end() && same_key(it->first, key); ++it)
            queued.try_emplace(it->first, &it->second.record);
    };
    collect(pending_);
    if (auto const* flight = in_flight()) collect(*flight);
    if (queued.empty()) return disk_.get(key, now, limit);

    // Queued records of this key replace the disk's copies of the same values, expired or
    // not. Ask the disk for enough to fill `limit` after those are skipped.
    auto on_disk = disk_.get(key, now, limit + queued.size());
    if (!on_disk) return on_disk;
    std::vector<std::pair<encoding::RecordId, Record>> merged;
    merged.reserve(on_disk.value().size() + queued.size());
    for (auto& r : on_disk.value()) {
        auto id = encoding::record_id(r.key, r.value);
        if (!queued.contains(id)) merged.emplace_back(id, std::move(r));
    }
    for (auto const& [id, record] : queued) {
        if (record->expires_at > now) merged.emplace_back(id, *record);
    }
    // The disk's order: by value hash.
    std::sort(merged.begin(), merged.end(), [](auto const& a, auto const& b) { return a.first < b.first; });
    std::vector<Record> out;
    out.reserve(std::min(limit, merged.size()));
    for (auto& [id, r] : merged) {
        if (out.size() == limit) break;
        out.push_back(std::move(r));
    }
    return out;
}

core::Result<bool, StoreError> WriteBehindStore::erase(Key const& key, core::ByteView value) {
    auto const id = encoding::record_id(key, value);
    bool queued = false;
    bool on_disk = true;  // unknown when not queued: ask the disk
    if (auto it = pending_.find(id); it != pending_.end()) {
        queued = true;
        on_disk = it->second.on_disk;
        drop(it);
    }
    flushed_.erase(id);  // in the disk's batch: the disk's erase below removes it
    if (!on_disk) return true;
    auto erased = disk_.erase(key, value);
    if (!erased) return erased;
    return queued || erased.value();
}

std::size_t WriteBehindStore::erase_expired(core::UnixTime now, std::size_t limit) {
    // Flushed first, so that the disk's sweep decides alone: a queued refresh may expire
    // earlier or later than the disk's copy, and either way the newest version wins.
    (void)flush();  // a failure is counted; the sweep still runs
    return disk_.erase_expired(now, limit);
}

std::size_t WriteBehindStore::count() const {
    return disk_.count() + new_records_ + (in_flight() != nullptr ? flushed_new_ : 0);
}

core::Result<void, StoreError> WriteBehindStore::for_each(std::function<bool(Record const&)> const& fn) {
    (void)flush();  // a failure is counted; what is on disk is still walked
    return disk_.for_each(fn);
}

core::Result<void, StoreError> WriteBehindStore::flush() {
    if (pending_.empty()) return {};
    auto batch = std::exchange(pending_, {});
    bytes_ = 0;
    flushed_new_ = std::exchange(new_records_, 0);
    bool const own_batch = !disk_.in_batch();
    if (own_batch) disk_.begin_batch();
    auto const lost_before = disk_.records_lost();
    std::size_t failed_puts = 0;
    std::optional<StoreError> error;
    for (auto const& [id, entry] : batch) {
        if (auto r = disk_.put(entry.record); !r) {
            ++failed_puts;
            if (!error) error = r.error();
        }
    }
    if (own_batch) {
        if (auto committed = disk_.commit_batch(); !committed && !error) error = committed.error();
    }
    // A failed commit's puts are counted by the disk (records_lost); failed puts here.
    auto const lost = failed_puts + (disk_.records_lost() - lost_before);
    ++counts_.flushes;
    counts_.lost += lost;
    counts_.flushed += batch.size() - std::min(lost, batch.size());
    // In the caller's batch, which may be committed in the background (detach_batch): kept
    // readable until that commit ends (in_flight, release_flushed).
    if (own_batch) release_flushed();
    else flushed_ = std::move(batch);
    if (error) return core::Err{*error};
    return {};
}

}  // namespace store
