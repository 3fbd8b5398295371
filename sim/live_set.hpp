// sim::LiveSet: the checker's view of which node ids are live, kept sorted so that the
// true XOR-closest live node to any target is found in O(log^2 N) instead of a scan. It is
// not a routing table and knows nothing of the protocol. Invariant: entries_ is sorted by
// id and holds each id at most once.
//
// Why sorting works: ids sharing a k-bit prefix form one contiguous run of a sorted array,
// and inside it the ids whose bit k is 0 come first. Walking down the bits of the target
// and keeping the half that agrees with it (when that half holds an acceptable node)
// walks the binary trie of Kademlia, where the XOR-closest id lives.
//
// sim::IndexSet: a set of node indexes with O(1) insert, erase and uniform random pick,
// for choosing lookup origins, bootstrap peers and churn victims.
#pragma once

#include "core/assert.hpp"
#include "core/node_id.hpp"
#include "core/rng.hpp"
#include "sim/latency_model.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace sim {

class LiveSet {
public:
    struct Entry {
        core::NodeId id;
        NodeIndex node = 0;
    };

    // O(N) memmove: membership changes are rare next to lookups.
    void insert(core::NodeId const& id, NodeIndex node) {
        auto it = lower(id);
        CORE_ASSERT(it == entries_.end() || it->id != id);
        entries_.insert(it, Entry{id, node});
    }
    bool erase(core::NodeId const& id) {
        auto it = lower(id);
        if (it == entries_.end() || it->id != id) return false;
        entries_.erase(it);
        return true;
    }
    bool contains(core::NodeId const& id) const {
        auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                                   [](Entry const& e, core::NodeId const& v) { return e.id < v; });
        return it != entries_.end() && it->id == id;
    }
    std::size_t size() const { return entries_.size(); }
    std::vector<Entry> const& entries() const { return entries_; }

    // The live entry closest to `target` by XOR among those `accept(node)` admits.
    template <class Accept>
    std::optional<Entry> closest(core::NodeId const& target, Accept const& accept) const {
        return descend(target, accept, 0, entries_.size(), 0);
    }
    std::optional<Entry> closest(core::NodeId const& target) const {
        return closest(target, [](NodeIndex) { return true; });
    }

private:
    // Runs this short are scanned: cheaper than more binary searches.
    static constexpr std::size_t scan_max = 16;

    std::vector<Entry>::iterator lower(core::NodeId const& id) {
        return std::lower_bound(entries_.begin(), entries_.end(), id,
                                [](Entry const& e, core::NodeId const& v) { return e.id < v; });
    }

    // Entries [lo, hi) share their first `bit` bits. Depth is bounded by 256 bits.
    template <class Accept>
    std::optional<Entry> descend(core::NodeId const& target, Accept const& accept, std::size_t lo, std::size_t hi,
                                 int bit) const {
        if (lo >= hi) return std::nullopt;
        if (hi - lo <= scan_max || bit >= 256) {
            std::optional<Entry> best;
            for (std::size_t i = lo; i < hi; ++i) {
                auto const& e = entries_[i];
                if (!accept(e.node)) continue;
                if (!best || target.closer(e.id, best->id)) best = e;
            }
            return best;
        }
        auto first = entries_.begin() + static_cast<std::ptrdiff_t>(lo);
        auto last = entries_.begin() + static_cast<std::ptrdiff_t>(hi);
        auto split = static_cast<std::size_t>(
            std::partition_point(first, last, [bit](Entry const& e) { return !core::NodeId::get_bit(e.id, bit); }) -
            entries_.begin());
        bool const one = core::NodeId::get_bit(target, bit);
        auto near = one ? std::pair{split, hi} : std::pair{lo, split};
        auto far = one ? std::pair{lo, split} : std::pair{split, hi};
        if (auto hit = descend(target, accept, near.first, near.second, bit + 1)) return hit;
        return descend(target, accept, far.first, far.second, bit + 1);
    }

    std::vector<Entry> entries_;
};

class IndexSet {
public:
    bool contains(NodeIndex i) const { return i < pos_.size() && pos_[i] != absent; }
    void insert(NodeIndex i) {
        if (contains(i)) return;
        if (pos_.size() <= i) pos_.resize(std::size_t{i} + 1, absent);
        pos_[i] = static_cast<std::uint32_t>(items_.size());
        items_.push_back(i);
    }
    void erase(NodeIndex i) {
        if (!contains(i)) return;
        auto p = pos_[i];
        items_[p] = items_.back();
        pos_[items_[p]] = p;
        items_.pop_back();
        pos_[i] = absent;
    }
    // A uniformly random member; the set must not be empty.
    NodeIndex pick(core::Rng& rng) const {
        CORE_ASSERT(!items_.empty());
        return items_[rng.uniform(items_.size())];
    }
    std::size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }
    std::vector<NodeIndex> const& items() const { return items_; }

private:
    static constexpr std::uint32_t absent = std::numeric_limits<std::uint32_t>::max();
    std::vector<NodeIndex> items_;
    std::vector<std::uint32_t> pos_;
};

}  // namespace sim
