// Kademlia k-buckets (paper, section 2.2). One bucket per shared-prefix length with our
// own id, created lazily: only the ~log2(N) far buckets ever fill, so memory stays small
// at 100,000 simulated nodes. Entries are ordered least-recently-seen first. A full
// bucket never drops its oldest entry on sight: the newcomer waits as the bucket's
// replacement candidate while the oldest is pinged (if we have not heard from it for
// ping_idle_after: BEP 5's "questionable" node), and replaces it only if that ping
// fails. Newcomers that found a bucket full stay in its replacement cache (paper, section
// 4.1; the replacements_max most recent): an entry that fails twice in a row is replaced
// by the freshest of them at once, so dead nodes leave the table within seconds while an
// entry that merely looks idle is still only evicted after a failed ping. At most
// subnet_entries_max entries per IPv4 /24 or IPv6 /64 per bucket.
// Pure: no I/O, no clock; the caller sends the pings this table asks for.
#pragma once

#include "core/time.hpp"
#include "dht/contact.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace dht {

class RoutingTable {
public:
    struct Entry {
        Contact contact;
        core::Instant last_seen;
        unsigned failures = 0;  // consecutive failed RPCs; reset by any answer
        // Smoothed round trip of our requests to it in µs (0: never measured). 32 bits fit
        // the entry's padding: no memory per entry.
        std::uint32_t rtt_us = 0;
    };

    enum class Outcome {
        added,            // inserted into a bucket with room
        updated,          // already present: moved to most-recently-seen
        pending,          // bucket full: kept as replacement candidate (see ping_oldest)
        rejected_subnet,  // the bucket already holds subnet_entries_max from that subnet
        rejected_self,    // our own id
    };
    struct ObserveResult {
        Outcome outcome;
        // Set when the caller must ping this entry: if the ping fails, call on_failure,
        // which replaces it with the candidate.
        std::optional<Contact> ping_oldest;
    };

    // Entries with this many consecutive failures are stale: pinged first when a
    // candidate waits, and listed after healthy entries by closest().
    static constexpr unsigned stale_failures = 2;
    // Entries with this many are removed even without a replacement.
    static constexpr unsigned remove_failures = 5;
    // Newcomers kept per full bucket as replacements.
    static constexpr std::size_t replacements_max = 4;

    // A full bucket pings its oldest entry for a waiting newcomer only if that entry was
    // last seen at least `ping_idle_after` ago (zero: always, the paper's rule), or is stale.
    RoutingTable(NodeId self, std::size_t k, std::size_t subnet_entries_max, bool allow_loopback_subnet,
                 core::Duration ping_idle_after);

    // We heard from `contact` (an authenticated packet, or a ping answer) at `now`.
    ObserveResult observe(Contact const& contact, core::Instant now);
    // An RPC to `id` failed after its retries. When `id` was being pinged for eviction,
    // or has now failed stale_failures times in a row, and a replacement waits, the
    // replacement takes its place. Returns true when the entry left the table (replaced,
    // or removed after remove_failures).
    bool on_failure(NodeId const& id);
    // After a first failure of `id`, when a replacement waits and no eviction ping is in
    // flight in its bucket: the caller pings it now (as an eviction ping; if that fails,
    // on_failure replaces it). nullopt otherwise.
    std::optional<Contact> verify_after_failure(NodeId const& id);
    void remove(NodeId const& id);
    // Records the smoothed round trip to `id` (ignored when it is not in the table).
    void set_rtt(NodeId const& id, core::Duration rtt);

    // Up to `n` healthy entries (no failure since their last answer) with a measured round
    // trip, shortest first: the nodes nearest us on the network rather than in id space.
    std::vector<Contact> nearest(std::size_t n) const;

    // Up to `n` contacts closest to `target`, healthy entries before stale ones.
    std::vector<Contact> closest(NodeId const& target, std::size_t n) const;

    bool contains(NodeId const& id) const { return find(id) != nullptr; }
    Entry const* find(NodeId const& id) const;
    std::size_t size() const { return size_; }
    std::size_t active_count(core::Instant now, core::Duration window) const;
    std::vector<Entry> entries() const;

    // Buckets are indexed by shared prefix length (0 = the far half of the id space).
    std::size_t bucket_count() const { return buckets_.size(); }
    std::size_t bucket_size(std::size_t prefix_len) const { return buckets_[prefix_len].entries.size(); }
    // Whether the bucket for that shared-prefix length holds k entries (one never created
    // holds none).
    bool bucket_full(std::size_t prefix_len) const {
        return prefix_len < buckets_.size() && buckets_[prefix_len].entries.size() >= k_;
    }
    core::Instant bucket_last_lookup(std::size_t prefix_len) const { return buckets_[prefix_len].last_lookup; }
    // Records a lookup into that bucket's range (buckets not created yet need no record).
    void touch_bucket(std::size_t prefix_len, core::Instant now) {
        if (prefix_len < buckets_.size()) buckets_[prefix_len].last_lookup = now;
    }
    std::size_t prefix_len_of(NodeId const& id) const { return static_cast<std::size_t>(self_.distance(id).leading_zeros()); }
    NodeId const& self() const { return self_; }

    // Checks every invariant (sizes, ordering, subnet limits); for tests and sim builds.
    bool check_invariants() const;

private:
    struct Bucket {
        std::vector<Entry> entries;  // least-recently-seen first
        std::vector<Contact> replacements;  // most recent last, at most replacements_max
        std::optional<NodeId> pinging;  // the entry whose eviction ping is in flight
        core::Instant last_lookup{};
    };

    Bucket& bucket_for(NodeId const& id);
    bool subnet_full(Bucket const& b, Endpoint const& address) const;

    NodeId self_;
    std::size_t k_;
    std::size_t subnet_entries_max_;
    bool allow_loopback_subnet_;
    core::Duration ping_idle_after_;
    std::vector<Bucket> buckets_;
    std::size_t size_ = 0;
};

}  // namespace dht
