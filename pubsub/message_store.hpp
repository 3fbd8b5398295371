// The message store pub/sub needs, as an interface: the router keeps every valid message
// of its subscribed topics here (duplicate check after the seen-cache, history, catch-up).
// store/ implements it on LMDB (the durable-history issue); MemoryMessageStore is the
// bounded in-memory one the simulator and tests use. Not a cache of in-flight messages
// (that is mcache) and not the seen-cache.
#pragma once

#include "pubsub/types.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace pubsub {

enum class StoreStatus : std::uint8_t { stored, duplicate, full, error };

// Position in a topic's (ts_ms, id) order: history paging and reconciliation use it.
struct StoreCursor {
    std::int64_t ts_ms = 0;
    MessageId id;
    friend auto operator<=>(StoreCursor const&, StoreCursor const&) = default;
};

class MessageStore {
public:
    virtual ~MessageStore() = default;
    virtual bool contains(MessageId const& id) const = 0;
    // Keeps a validated message (its `encoded` envelope as received).
    virtual StoreStatus put(Message const& message) = 0;
    // Messages of `topic` with (ts_ms, id) strictly after `after` (from the start when
    // nullopt), ascending, at most `limit`.
    virtual std::vector<Message> range(TopicKey const& topic, std::optional<StoreCursor> after,
                                       std::size_t limit) const = 0;
    // The last `limit` messages of `topic`, ascending.
    virtual std::vector<Message> last(TopicKey const& topic, std::size_t limit) const = 0;
    // The (ts_ms, id) keys of `topic` with from_ms <= ts_ms < to_ms, ascending, at most
    // `limit` (set reconciliation works on these; no payloads are read).
    virtual std::vector<StoreCursor> keys(TopicKey const& topic, std::int64_t from_ms, std::int64_t to_ms,
                                          std::size_t limit) const = 0;
    // One stored message by id (catch-up FETCH answers with these).
    virtual std::optional<Message> get(MessageId const& id) const = 0;
    virtual std::size_t message_count() const = 0;
};

}  // namespace pubsub
