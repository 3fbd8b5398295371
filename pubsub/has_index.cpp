#include "pubsub/has_index.hpp"

#include "core/assert.hpp"

namespace pubsub {

HasIndex::HasIndex(std::size_t per_peer_max) : per_peer_max_(per_peer_max), counts_(slots, 0), used_(slots, false) {}

std::optional<HasIndex::Slot> HasIndex::acquire() {
    for (std::size_t i = 0; i < slots; ++i) {
        if (used_[i]) continue;
        used_[i] = true;
        counts_[i] = 0;
        return static_cast<Slot>(i);
    }
    return std::nullopt;
}

void HasIndex::release(Slot slot) {
    CORE_ASSERT(slot < slots && used_[slot]);
    if (counts_[slot] > 0) {
        for (auto it = entries_.begin(); it != entries_.end();) {
            it->second.peers.reset(slot);
            it = it->second.peers.none() ? entries_.erase(it) : std::next(it);
        }
    }
    counts_[slot] = 0;
    used_[slot] = false;
}

void HasIndex::note(MessageId const& id, Slot slot, core::Instant until) {
    CORE_ASSERT(slot < slots && used_[slot]);
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second.peers.test(slot)) {
        if (until > it->second.until) it->second.until = until;
        return;
    }
    // Bounded: beyond this a peer's claims are simply not remembered (costs a duplicate).
    if (counts_[slot] >= per_peer_max_) return;
    if (it == entries_.end()) it = entries_.try_emplace(id).first;
    it->second.peers.set(slot);
    if (until > it->second.until) it->second.until = until;
    ++counts_[slot];
}

HasIndex::Entry const* HasIndex::find(MessageId const& id, core::Instant now) const {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.until <= now) return nullptr;
    return &it->second;
}

void HasIndex::forget(Entry const& entry) {
    for (auto i = entry.peers._Find_first(); i < slots; i = entry.peers._Find_next(i)) --counts_[i];
}

void HasIndex::expire(core::Instant now) {
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (now >= it->second.until) {
            forget(it->second);
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace pubsub
