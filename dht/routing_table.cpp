#include "dht/routing_table.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace dht {

RoutingTable::RoutingTable(NodeId self, std::size_t k, std::size_t subnet_entries_max, bool allow_loopback_subnet,
                           core::Duration ping_idle_after)
    : self_(self),
      k_(k),
      subnet_entries_max_(subnet_entries_max),
      allow_loopback_subnet_(allow_loopback_subnet),
      ping_idle_after_(ping_idle_after) {
    CORE_ASSERT(k_ > 0 && subnet_entries_max_ > 0);
}

RoutingTable::Bucket& RoutingTable::bucket_for(NodeId const& id) {
    auto prefix = prefix_len_of(id);
    CORE_ASSERT(prefix < 256);
    if (buckets_.size() <= prefix) buckets_.resize(prefix + 1);
    return buckets_[prefix];
}

bool RoutingTable::subnet_full(Bucket const& b, Endpoint const& address) const {
    if (allow_loopback_subnet_ && address.is_loopback()) return false;
    auto key = address.subnet_key();
    std::size_t n = 0;
    for (auto const& e : b.entries)
        if (e.contact.address.subnet_key() == key) ++n;
    return n >= subnet_entries_max_;
}

RoutingTable::ObserveResult RoutingTable::observe(Contact const& contact, core::Instant now) {
    if (contact.id == self_) return {Outcome::rejected_self, std::nullopt};
    CORE_ASSERT_EXPENSIVE(contact.id == core::node_id_of(contact.public_key));
    auto& b = bucket_for(contact.id);
    auto it = std::find_if(b.entries.begin(), b.entries.end(), [&](Entry const& e) { return e.contact.id == contact.id; });
    if (it != b.entries.end()) {
        Entry e = *it;
        // The packet was authenticated with this id's key, so a new address is really theirs.
        e.contact.address = contact.address;
        e.last_seen = now;
        e.failures = 0;
        b.entries.erase(it);
        b.entries.push_back(e);
        if (b.pinging == contact.id) {
            // The entry we pinged for eviction is alive: Kademlia keeps it; the newcomer
            // stays in the replacement cache for the next entry that fails.
            b.pinging.reset();
        }
        return {Outcome::updated, std::nullopt};
    }
    if (subnet_full(b, contact.address)) return {Outcome::rejected_subnet, std::nullopt};
    std::erase_if(b.replacements, [&](Contact const& c) { return c.id == contact.id; });
    if (b.entries.size() < k_) {
        b.entries.push_back({contact, now, 0});
        ++size_;
        return {Outcome::added, std::nullopt};
    }
    // Full: the newcomer waits (most recent last) while a stale entry, or else the
    // least-recently-seen one if we have not heard from it for ping_idle_after, is pinged.
    if (b.replacements.size() >= replacements_max) b.replacements.erase(b.replacements.begin());
    b.replacements.push_back(contact);
    if (b.pinging) return {Outcome::pending, std::nullopt};
    auto target = std::find_if(b.entries.begin(), b.entries.end(), [](Entry const& e) { return e.failures >= stale_failures; });
    if (target == b.entries.end()) {
        target = b.entries.begin();
        if (now - target->last_seen < ping_idle_after_) return {Outcome::pending, std::nullopt};
    }
    b.pinging = target->contact.id;
    return {Outcome::pending, target->contact};
}

bool RoutingTable::on_failure(NodeId const& id) {
    if (id == self_) return false;
    auto& b = bucket_for(id);
    auto it = std::find_if(b.entries.begin(), b.entries.end(), [&](Entry const& e) { return e.contact.id == id; });
    if (it == b.entries.end()) return false;
    ++it->failures;
    bool const pinged = b.pinging == id;
    if (pinged) b.pinging.reset();
    // A failed eviction ping, or a second failure in a row: the freshest replacement
    // takes the place.
    if ((pinged || it->failures >= stale_failures) && !b.replacements.empty()) {
        Contact candidate = b.replacements.back();
        b.replacements.pop_back();
        Entry removed = *it;
        b.entries.erase(it);
        if (!subnet_full(b, candidate.address)) {
            // last_seen of the candidate: when it was observed is not kept; it goes first
            // (least recently seen), no newer than the entry it follows.
            auto seen = b.entries.empty() ? removed.last_seen : std::min(removed.last_seen, b.entries.front().last_seen);
            b.entries.insert(b.entries.begin(), {candidate, seen, 0});
        } else {
            --size_;
        }
        return true;
    }
    if (it->failures >= remove_failures) {
        b.entries.erase(it);
        --size_;
        return true;
    }
    return false;
}

std::optional<Contact> RoutingTable::verify_after_failure(NodeId const& id) {
    if (id == self_) return std::nullopt;
    auto& b = bucket_for(id);
    if (b.pinging || b.replacements.empty()) return std::nullopt;
    auto it = std::find_if(b.entries.begin(), b.entries.end(), [&](Entry const& e) { return e.contact.id == id; });
    if (it == b.entries.end() || it->failures == 0 || it->failures >= stale_failures) return std::nullopt;
    b.pinging = id;
    return it->contact;
}

void RoutingTable::remove(NodeId const& id) {
    if (id == self_) return;
    auto& b = bucket_for(id);
    auto it = std::find_if(b.entries.begin(), b.entries.end(), [&](Entry const& e) { return e.contact.id == id; });
    if (it == b.entries.end()) return;
    if (b.pinging == id) b.pinging.reset();
    b.entries.erase(it);
    --size_;
}

void RoutingTable::set_rtt(NodeId const& id, core::Duration rtt) {
    if (id == self_) return;
    auto prefix = prefix_len_of(id);
    if (prefix >= buckets_.size()) return;
    for (auto& e : buckets_[prefix].entries) {
        if (e.contact.id != id) continue;
        auto const us = std::clamp<std::int64_t>(rtt.count(), 1, std::numeric_limits<std::uint32_t>::max());
        e.rtt_us = static_cast<std::uint32_t>(us);
        return;
    }
}

std::vector<Contact> RoutingTable::nearest(std::size_t n) const {
    std::vector<Entry const*> measured;
    for (auto const& b : buckets_)
        for (auto const& e : b.entries)
            if (e.rtt_us > 0 && e.failures == 0) measured.push_back(&e);
    auto const count = std::min(n, measured.size());
    auto const by_rtt = [](Entry const* a, Entry const* b) { return a->rtt_us < b->rtt_us; };
    std::partial_sort(measured.begin(), measured.begin() + static_cast<std::ptrdiff_t>(count), measured.end(), by_rtt);
    std::vector<Contact> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) out.push_back(measured[i]->contact);
    return out;
}

RoutingTable::Entry const* RoutingTable::find(NodeId const& id) const {
    if (id == self_) return nullptr;
    auto prefix = prefix_len_of(id);
    if (prefix >= buckets_.size()) return nullptr;
    for (auto const& e : buckets_[prefix].entries)
        if (e.contact.id == id) return &e;
    return nullptr;
}

// Buckets partition the id space into distance bands around any target T. With t the
// prefix length T shares with our id: bucket t holds the nodes closest to T; all buckets
// deeper than t together form the next band; then buckets t-1, t-2, ..., 0, each a band
// farther than the one before. So only the band that straddles the n-th entry needs
// sorting, and far buckets are never read. Stale entries still go after healthy ones.
std::vector<Contact> RoutingTable::closest(NodeId const& target, std::size_t n) const {
    struct Item {
        NodeId distance;
        Entry const* entry;
    };
    std::vector<Item> healthy, stale;
    healthy.reserve(n);
    auto take_band = [&](std::size_t first, std::size_t last) {  // buckets [first, last)
        std::vector<Item> band;
        for (std::size_t p = first; p < last && p < buckets_.size(); ++p)
            for (auto const& e : buckets_[p].entries) {
                Item item{target.distance(e.contact.id), &e};
                if (e.failures >= stale_failures) stale.push_back(item);
                else band.push_back(item);
            }
        std::size_t room = n - healthy.size();
        auto by_distance = [](Item const& a, Item const& b) { return a.distance < b.distance; };
        if (band.size() > room) {
            std::partial_sort(band.begin(), band.begin() + static_cast<std::ptrdiff_t>(room), band.end(), by_distance);
            band.resize(room);
        } else {
            std::sort(band.begin(), band.end(), by_distance);
        }
        healthy.insert(healthy.end(), band.begin(), band.end());
    };
    std::size_t t = std::min(prefix_len_of(target), buckets_.size());
    if (n > 0) take_band(t, t + 1);
    if (healthy.size() < n) take_band(t + 1, buckets_.size());
    for (std::size_t p = t; p-- > 0 && healthy.size() < n;) take_band(p, p + 1);
    if (healthy.size() < n) {
        // Stale entries come last; they were gathered only from the bands read, so read
        // the rest for them now (rare: only when the healthy ones do not suffice).
        stale.clear();
        for (auto const& b : buckets_)
            for (auto const& e : b.entries)
                if (e.failures >= stale_failures) stale.push_back({target.distance(e.contact.id), &e});
        std::sort(stale.begin(), stale.end(), [](Item const& a, Item const& b) { return a.distance < b.distance; });
        for (auto const& item : stale) {
            if (healthy.size() >= n) break;
            healthy.push_back(item);
        }
    }
    std::vector<Contact> out;
    out.reserve(healthy.size());
    for (auto const& item : healthy) out.push_back(item.entry->contact);
    return out;
}

std::size_t RoutingTable::active_count(core::Instant now, core::Duration window) const {
    std::size_t n = 0;
    for (auto const& b : buckets_)
        for (auto const& e : b.entries)
            if (now - e.last_seen <= window && e.failures == 0) ++n;
    return n;
}

std::vector<RoutingTable::Entry> RoutingTable::entries() const {
    std::vector<Entry> out;
    out.reserve(size_);
    for (auto const& b : buckets_) out.insert(out.end(), b.entries.begin(), b.entries.end());
    return out;
}

bool RoutingTable::check_invariants() const {
    std::size_t total = 0;
    for (std::size_t prefix = 0; prefix < buckets_.size(); ++prefix) {
        auto const& b = buckets_[prefix];
        if (b.entries.size() > k_) return false;
        std::map<std::uint64_t, std::size_t> per_subnet;
        for (std::size_t i = 0; i < b.entries.size(); ++i) {
            auto const& e = b.entries[i];
            if (prefix_len_of(e.contact.id) != prefix) return false;
            if (i > 0 && e.last_seen < b.entries[i - 1].last_seen) return false;
            if (!(allow_loopback_subnet_ && e.contact.address.is_loopback()) &&
                ++per_subnet[e.contact.address.subnet_key()] > subnet_entries_max_)
                return false;
            for (std::size_t j = i + 1; j < b.entries.size(); ++j)
                if (b.entries[j].contact.id == e.contact.id) return false;
        }
        total += b.entries.size();
    }
    return total == size_;
}

}  // namespace dht
