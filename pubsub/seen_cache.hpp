// The seen-cache: ids of messages this node has received in the last `ttl` (120 s), so a
// duplicate is dropped in nanoseconds before any signature check. Bounded by count; ids
// live in time buckets (one per `bucket` of time), so expiry pops whole buckets: O(1)
// amortised per id, no per-id timers. When full, the oldest ids go first (the message
// store still catches their duplicates). Not the message store and not the mcache.
#pragma once

#include "core/time.hpp"
#include "pubsub/types.hpp"

#include <cstddef>
#include <deque>
#include <unordered_set>
#include <vector>

namespace pubsub {

class SeenCache {
public:
    SeenCache(core::Duration ttl, std::size_t max, core::Duration bucket = std::chrono::seconds(1));

    // Records `id` as seen at `now`; false if it already was.
    bool insert(core::Instant now, MessageId const& id);
    bool contains(MessageId const& id) const { return ids_.contains(id); }
    // Forgets old ids: each id is kept at least ttl and at most ttl + bucket. Call from
    // the heartbeat (insert also calls it).
    void expire(core::Instant now);
    std::size_t size() const { return ids_.size(); }
    std::uint64_t evicted_early() const { return evicted_early_; }

private:
    struct Bucket {
        core::Instant start;
        std::vector<MessageId> ids;
    };
    void evict_oldest_one();

    core::Duration ttl_;
    std::size_t max_;
    core::Duration bucket_;
    std::unordered_set<MessageId, core::NodeIdHash> ids_;
    std::deque<Bucket> buckets_;  // oldest first
    std::uint64_t evicted_early_ = 0;
};

}  // namespace pubsub
