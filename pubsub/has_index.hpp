// The has-index: which peers have which message ids (they sent the message, or said
// IDONTWANT), for a few heartbeats, so the router forwards a message to no peer that has
// it. One table keyed by id with a bit per peer: a received copy costs one lookup whoever
// sent it, and a forward decision one lookup for all mesh peers together (it replaced a
// hash map per peer: six lookups in six tables per forwarded message, docs/benchmarks.md).
// Peers are named by small slot numbers the router takes with acquire() and gives back
// with release(); a peer beyond `slots`, or at its per-peer bound, is simply not
// remembered (it costs a duplicate, never a lost message). Not the seen-cache (ids this
// node has) and not the mcache.
#pragma once

#include "core/time.hpp"
#include "pubsub/types.hpp"

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace pubsub {

class HasIndex {
public:
    static constexpr std::size_t slots = 128;
    using Slot = std::uint32_t;
    struct Entry {
        core::Instant until{};     // the latest claim's expiry: claims go together
        std::bitset<slots> peers;  // by slot
    };

    // `per_peer_max`: ids remembered per peer at once (the bound on what one peer's
    // IDONTWANTs can make us keep).
    explicit HasIndex(std::size_t per_peer_max);

    // A free slot for a new peer, or nullopt when all are taken.
    std::optional<Slot> acquire();
    // Forgets everything the peer in `slot` claimed and frees the slot (O(entries)).
    void release(Slot slot);

    // Records that the peer in `slot` has `id` until at least `until`.
    void note(MessageId const& id, Slot slot, core::Instant until);
    // The claims on `id` that are still valid at `now`, or nullptr.
    Entry const* find(MessageId const& id, core::Instant now) const;
    static bool has(Entry const* entry, std::optional<Slot> slot) {
        return entry != nullptr && slot && entry->peers.test(*slot);
    }
    // Drops the entries expired at `now` (the heartbeat calls it).
    void expire(core::Instant now);

    std::size_t size() const { return entries_.size(); }
    std::size_t count(Slot slot) const { return counts_.at(slot); }

private:
    void forget(Entry const& entry);

    std::size_t per_peer_max_;
    std::unordered_map<MessageId, Entry, core::NodeIdHash> entries_;
    std::vector<std::size_t> counts_;  // ids claimed, per slot
    std::vector<bool> used_;           // per slot
};

}  // namespace pubsub
