// Topic rendezvous, part 2: what a node keeps. ProviderTable holds the provider records
// this node stores for a topic (for others, and its own when it is among the k closest),
// enforces the storer caps of PUBSUB-NOTES §5 and writes every record through to the
// RecordStore so it survives a restart; Announcements is this node's own list of topics
// it announces and when each is due again. Not here: signing and checks
// (provider_record.hpp), the RPCs and lookups (dht_node.cpp).
//
// Storage: the records of one topic are rows under store_key(topic), a key no lookup
// target collides with by accident, each row's value being [record, observed address];
// the row expires with its record, so the store's sweep removes it. A replaced record's
// row is erased at once, so the store holds one row per (topic, node).
#pragma once

#include "core/rng.hpp"
#include "core/time.hpp"
#include "dht/provider_record.hpp"
#include "dht/stats.hpp"
#include "store/store.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <vector>

namespace dht {

struct ProviderLimits {
    std::size_t per_topic_max = 256;
    std::size_t per_subnet_max = 4;   // per topic, per IPv4 /24 or IPv6 /64 of the sender
    std::size_t total_max = 10'000;
    bool allow_loopback_subnet = false;
    std::uint64_t lifetime_max_ms = 0;  // how far in the future a record may expire
};

class ProviderTable {
public:
    // `store` and `stats` must outlive the table. Rejections are counted in `stats`.
    ProviderTable(ProviderLimits const& limits, store::RecordStore& store, Stats& stats);

    static Key store_key(Key const& topic);

    // Reads the rows an earlier run stored, checks each record again (signature, expiry,
    // caps) and keeps the ones that pass. Call once, before anything else.
    void load(std::uint64_t now_ms);

    // Checks and stores a record announced by a sender seen at `observed` (its subnet is
    // the one capped). A newer record of the same node replaces the older one; the same
    // record again is accepted and changes nothing. True when the record is held.
    bool accept(ProviderRecord const& record, Endpoint const& observed, std::uint64_t now_ms);

    // Up to `n` unexpired records for `topic`, a uniformly random subset drawn from `rng`.
    std::vector<ProviderRecord> sample(Key const& topic, std::uint64_t now_ms, std::size_t n, core::Rng& rng) const;
    // Unexpired records held for `topic`.
    std::size_t fresh_count(Key const& topic, std::uint64_t now_ms) const;
    // Forgets expired records (their rows leave with the store's own sweep).
    void prune(std::uint64_t now_ms);

    std::size_t size() const { return total_; }
    std::size_t topic_count() const { return topics_.size(); }
    // Whether `key` is the store key of a topic held here: such rows are not DHT values,
    // and value replication must leave them alone.
    bool is_store_key(Key const& key) const { return topics_.contains(key); }

private:
    struct Held {
        ProviderRecord record;
        Endpoint observed;
    };
    struct Topic {
        std::map<NodeId, Held> by_node;
    };

    std::optional<ProviderReject> admit(Topic const* t, ProviderRecord const& record, Endpoint const& observed,
                                        std::uint64_t now_ms) const;
    std::size_t subnet_count(Topic const& t, Endpoint const& observed, NodeId const& except) const;
    void insert(Key const& skey, Held held);
    bool reject(ProviderReject r);

    ProviderLimits limits_;
    store::RecordStore& store_;
    Stats& stats_;
    std::map<Key, Topic> topics_;  // by store_key(topic): deterministic order
    std::size_t total_ = 0;
};

// The stored row value: msgpack [record, observed: address].
core::Bytes encode_provider_row(ProviderRecord const& record, Endpoint const& observed);

// Topics this node announces itself, each with its addresses and the time its next
// announcement is due. Bounded by the caller (Config::announcements_max).
class Announcements {
public:
    struct Entry {
        std::vector<Endpoint> addrs;
        core::Instant due;
        // Our own record of the topic, signed once and reused in answers to provider
        // lookups (a provider names itself, as a storer would); re-signed near its expiry.
        std::optional<ProviderRecord> own;
    };
    void set(Key const& topic, std::vector<Endpoint> addrs, core::Instant due) { entries_[topic] = {std::move(addrs), due, {}}; }
    Entry* find(Key const& topic) {
        auto it = entries_.find(topic);
        return it == entries_.end() ? nullptr : &it->second;
    }
    void remove(Key const& topic) { entries_.erase(topic); }
    bool contains(Key const& topic) const { return entries_.contains(topic); }
    std::size_t size() const { return entries_.size(); }
    std::optional<core::Instant> next_due() const;
    // Topics due at `now`, in key order; each is rescheduled to now + interval(). 
    template <class Interval>
    std::vector<std::pair<Key, std::vector<Endpoint>>> take_due(core::Instant now, Interval&& interval) {
        std::vector<std::pair<Key, std::vector<Endpoint>>> out;
        for (auto& [topic, e] : entries_) {
            if (e.due > now) continue;
            e.due = now + interval();
            out.emplace_back(topic, e.addrs);
        }
        return out;
    }

private:
    std::map<Key, Entry> entries_;
};

}  // namespace dht
