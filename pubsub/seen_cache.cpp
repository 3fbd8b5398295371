#include "pubsub/seen_cache.hpp"

#include "core/assert.hpp"

namespace pubsub {

SeenCache::SeenCache(core::Duration ttl, std::size_t max, core::Duration bucket)
    : ttl_(ttl), max_(max), bucket_(bucket) {
    CORE_ASSERT(max_ > 0);
    CORE_ASSERT(bucket_.count() > 0);
}

bool SeenCache::insert(core::Instant now, MessageId const& id) {
    // One lookup: a relay inserts every new id, and each lookup in a table this large is
    // a cache miss or two.
    if (!ids_.insert(id).second) return false;
    expire(now);
    // The new id is in no bucket yet, so eviction cannot take it.
    while (ids_.size() > max_) evict_oldest_one();
    if (buckets_.empty() || now - buckets_.back().start >= bucket_) buckets_.push_back(Bucket{now, {}});
    buckets_.back().ids.push_back(id);
    return true;
}

void SeenCache::expire(core::Instant now) {
    // A bucket goes once its newest possible id (start + bucket) is older than ttl.
    while (!buckets_.empty() && now - buckets_.front().start >= ttl_ + bucket_) {
        for (auto const& id : buckets_.front().ids) ids_.erase(id);
        buckets_.pop_front();
    }
}

void SeenCache::evict_oldest_one() {
    while (!buckets_.empty() && buckets_.front().ids.empty()) buckets_.pop_front();
    CORE_ASSERT(!buckets_.empty());
    ids_.erase(buckets_.front().ids.back());
    buckets_.front().ids.pop_back();
    ++evicted_early_;
}

}  // namespace pubsub
