// node::DurableOutbox: the node's own published messages that must still reach the topic,
// kept in the message store's `outbox` database so that a publish acknowledged just before
// a crash (even SIGKILL) is still sent after the restart. The publish path adds an entry in
// the same LMDB batch as the message; tick() (from a runtime timer) sends each entry
// through `republish` until it has gone to at least one peer, waits `settle` more (bytes
// handed to a link may die with a crashed process), then clears it. Retries back off from
// 1 s to 30 s; once a resend reaches no peer, the topic's other due entries back off
// untried in that tick; at most tries_per_tick_max resends a tick. An entry whose message
// is older than `age_max` (24 h) or gone from the store (retention) is dropped and
// counted. Bounded: at most `entries_max` entries in memory; the rest stay on disk and are
// loaded as room frees (and resent: harmless, peers drop copies by id). Not the router's
// pending queue (memory only, minutes) and not the store.
#pragma once

#include "core/time.hpp"
#include "pubsub/types.hpp"
#include "store/message_db.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace node {

class DurableOutbox {
public:
    // Sends an own, stored message to `topic` again; returns the peers it went to, or
    // nullopt when the router refused it (bad topic, topic limit).
    using Republish = std::function<std::optional<std::size_t>(std::string const& topic, pubsub::Message const& message)>;

    static constexpr std::size_t entries_max = 100'000;
    static constexpr core::Duration settle = std::chrono::seconds(5);
    static constexpr core::Duration retry_initial = std::chrono::seconds(1);
    static constexpr core::Duration retry_max = std::chrono::seconds(30);
    static constexpr std::int64_t age_max_ms = 24LL * 3600 * 1000;
    // Resends (a store read and a republish each) in one tick, so a large backlog meeting
    // its first peer does not stop the event loop: the rest go in the next ticks.
    static constexpr std::size_t tries_per_tick_max = 2000;

    explicit DurableOutbox(store::LmdbMessageStore& store) : store_(store) {}

    // Loads entries from disk (at start-up, and when room frees): due at once.
    void load(core::Instant now);
    // A message just published: `peers` is how many it went to at once.
    void added(core::Instant now, pubsub::MessageId const& id, std::string const& topic, std::size_t peers);
    // Sends due entries, clears settled ones and drops dead ones. Inside the store's batch
    // the removals join it (the runtime commits it); outside, each is its own commit.
    void tick(core::Instant now, std::int64_t wall_ms, Republish const& republish);

    std::size_t size() const { return entries_.size(); }
    struct Counts {
        std::uint64_t resent = 0;     // republish calls that reached at least one peer
        std::uint64_t cleared = 0;    // entries done (sent and settled)
        std::uint64_t dropped = 0;    // entries given up: too old, message gone, refused
        std::uint64_t errors = 0;     // store errors removing entries
    };
    Counts const& counts() const { return counts_; }

private:
    struct Entry {
        std::string topic;
        std::optional<core::Instant> sent;  // first time it reached a peer
        core::Instant next_try;
        core::Duration backoff = retry_initial;
    };
    void remove(std::vector<pubsub::MessageId> const& ids);

    store::LmdbMessageStore& store_;
    std::map<pubsub::MessageId, Entry> entries_;
    bool on_disk_beyond_ = false;  // more entries on disk than in memory
    Counts counts_;
};

}  // namespace node
