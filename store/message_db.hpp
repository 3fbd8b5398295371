// store::LmdbMessageStore: the durable pubsub::MessageStore, in the node's LMDB environment
// (LmdbStore owns the env, the group-commit batch and the room rule; this class owns the
// five message databases' layout). Every valid message of the node's topics is kept as its
// envelope exactly as received, in (ts_ms, id) order per topic, so history is a cursor
// walk and `last(topic, 50)` is a read from the end of the topic's range, never a scan.
// Retention by age and by size (per topic and in total): puts make room by dropping their
// topic's oldest messages (bounded work), expire() drops what is too old or over the total
// in bounded steps from a timer. The durable outbox (the node's own publishes not yet
// handed to a peer) lives here too, so a publish and its outbox row commit together.
// Not thread-safe (the node's event loop owns it); not a cache of in-flight messages.
// Layout and defaults: docs/storage.md, section "Messages".
#pragma once

#include "pubsub/message_store.hpp"
#include "store/lmdb_store.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

namespace store {

struct MessageRetention {
    std::int64_t age_ms = 7LL * 24 * 3600 * 1000;       // older messages are expired
    std::size_t topic_bytes_max = 256u * 1024 * 1024;   // envelope bytes per topic
    std::size_t total_bytes_max = 512u * 1024 * 1024;   // envelope bytes in all
    // Defaults for a map of `map_bytes`: the total is half the map (the rest is for the
    // DHT's records, indexes and LMDB's copy-on-write pages), a topic half of that.
    static MessageRetention for_map(std::size_t map_bytes);
};

// One row of the durable outbox: a message the node published and has not yet handed to
// a peer (see LmdbMessageStore::outbox_add).
struct OutboxEntry {
    pubsub::MessageId id;
    std::string topic;  // the name (the router needs it to reach a topic it is not in)
};

class LmdbMessageStore final : public pubsub::MessageStore {
public:
    // `env` must outlive this store. The databases are those LmdbStore::open opened.
    // `deferred_max`: the bytes of writes kept during a background commit (see below).
    LmdbMessageStore(LmdbStore& env, MessageRetention retention, std::size_t deferred_max = deferred_bytes_max);

    bool contains(pubsub::MessageId const& id) const override;
    // Stores the message's `encoded` envelope (inside the env's batch when one is open).
    // Makes room under the size limits by dropping the topic's oldest messages (and the
    // store's oldest for the total), at most evict_per_put_max of them; `full` when that
    // is not enough, when the message alone exceeds a limit, or when the LMDB map is full.
    // `error` on any other LMDB failure. Never throws.
    pubsub::StoreStatus put(pubsub::Message const& message) override;
    // Puts several messages in one write transaction (one nested transaction inside a
    // batch): imports and catch-up batches. Statuses in order; an LMDB failure fails all
    // (nothing of them is written).
    std::vector<pubsub::StoreStatus> put_many(std::span<pubsub::Message const> messages);
    std::vector<pubsub::Message> range(pubsub::TopicKey const& topic, std::optional<pubsub::StoreCursor> after,
                                       std::size_t limit) const override;
    std::vector<pubsub::Message> last(pubsub::TopicKey const& topic, std::size_t limit) const override;
    std::vector<pubsub::StoreCursor> keys(pubsub::TopicKey const& topic, std::int64_t from_ms, std::int64_t to_ms,
                                          std::size_t limit) const override;
    std::optional<pubsub::Message> get(pubsub::MessageId const& id) const override;
    std::size_t message_count() const override;
    // Envelope bytes stored (the figure retention counts).
    std::size_t bytes() const;

    // Messages of `topic` with (ts, id) strictly before `before` (from the end when
    // nullopt), at most `limit`, ascending: history's backward pages.
    std::vector<pubsub::Message> before(pubsub::TopicKey const& topic, std::optional<pubsub::StoreCursor> before,
                                        std::size_t limit) const;
    // Whether a message of `bytes` envelope bytes would fit now: false when the map is
    // full or the message is above a size limit. A cheap pre-check for publishes; put()
    // has the last word.
    bool has_room(std::size_t bytes) const;

    // Drops messages older than now_ms - retention.age_ms and, oldest first, what exceeds
    // the total size limit: at most `budget` messages, in transactions of at most 256
    // rows. Returns how many were dropped. Must not run inside a batch (asserted).
    std::size_t expire(std::int64_t now_ms, std::size_t budget);

    // ---- The durable outbox. ----
    // Records that the node published `id` to `topic` (inside the batch that stores the
    // message, so both commit together). False on a store error (counted).
    bool outbox_add(pubsub::MessageId const& id, std::string const& topic);
    bool outbox_remove(pubsub::MessageId const& id);
    // Removes them all in one write (a busy publisher clears thousands a second); false on
    // a store error (then none is removed).
    bool outbox_remove_many(std::span<pubsub::MessageId const> ids);
    // At most `limit` entries, in id order.
    std::vector<OutboxEntry> outbox(std::size_t limit) const;
    std::size_t outbox_size() const;

    // ---- Writes during a background commit (LmdbStore::detach_batch). ----
    // While the env commits in the background, put, put_many, outbox_add and outbox_remove
    // keep their work here, in order, instead of waiting for the commit (a put answers
    // `stored`, or `duplicate` for an id already kept here or committed), up to
    // deferred_bytes_max (by default); past that they write it out first (waiting for the
    // commit).
    // Until apply_deferred() runs they keep deferring (order is kept), contains() sees the
    // kept ids, and the other reads do not see them.
    static constexpr std::size_t deferred_bytes_max = 16 * 1024 * 1024;
    bool has_deferred() const { return !deferred_.empty(); }
    // Writes the kept work in order (in the env's batch when one is open; waits for the
    // background commit first). Work that then fails (map full, an LMDB error) is counted
    // in deferred_lost().
    void apply_deferred();
    std::uint64_t deferred_lost() const { return deferred_lost_; }

    // Rows found damaged and skipped (also counted in the env's corrupt_records()), and
    // messages dropped by retention since open.
    std::uint64_t corrupt() const { return corrupt_; }
    std::uint64_t expired() const { return expired_; }
    std::uint64_t evicted() const { return evicted_; }
    MessageRetention const& retention() const { return retention_; }
    LmdbStore& env() const { return env_; }

    static constexpr std::size_t evict_per_put_max = 1024;

private:
    // One kept write: a message put (message set) or an outbox change.
    struct Deferred {
        enum class Kind : std::uint8_t { put, outbox_add, outbox_remove };
        Kind kind = Kind::put;
        pubsub::Message message;  // put: the message; outbox changes: only its id
        std::string topic;        // outbox_add
    };
    bool deferring() const { return env_.committing() || !deferred_.empty(); }
    // Keeps the puts when they fit under the bound; false (nothing kept) if not.
    bool defer_puts(std::span<pubsub::Message const> messages, std::vector<pubsub::StoreStatus>& statuses);
    bool defer(Deferred op, std::size_t bytes);
    std::vector<pubsub::StoreStatus> put_many_now(std::span<pubsub::Message const> messages);
    bool outbox_add_now(pubsub::MessageId const& id, std::string const& topic);
    bool outbox_remove_now(std::span<pubsub::MessageId const> ids);
    void count_corrupt() const;
    std::optional<pubsub::Message> decode(pubsub::TopicKey const& topic, std::int64_t ts, pubsub::MessageId const& id,
                                          core::ByteView envelope) const;

    LmdbStore& env_;
    MessageRetention retention_;
    mutable std::uint64_t corrupt_ = 0;
    std::uint64_t expired_ = 0;
    std::uint64_t evicted_ = 0;
    std::vector<Deferred> deferred_;
    std::unordered_set<pubsub::MessageId, core::NodeIdHash> deferred_ids_;  // kept puts
    std::size_t deferred_bytes_ = 0;
    std::size_t deferred_max_;
    std::uint64_t deferred_lost_ = 0;
};

}  // namespace store
