// MemoryMessageStore: the bounded in-memory MessageStore the simulator and tests use (the
// durable LMDB one is store/'s, in the durable-history issue). Bounded by message count and
// by envelope bytes; when either is exceeded it drops the oldest messages by (ts_ms, id),
// across topics. Each topic keeps its messages in (ts_ms, id) order for range()/last().
#pragma once

#include "pubsub/message_store.hpp"

#include <cstddef>
#include <map>
#include <set>
#include <unordered_map>

namespace pubsub {

class MemoryMessageStore final : public MessageStore {
public:
    MemoryMessageStore(std::size_t messages_max = 100'000, std::size_t bytes_max = 256 * 1024 * 1024);

    bool contains(MessageId const& id) const override;
    // `full` when the message alone is larger than bytes_max, or older than everything a
    // full store keeps (it would be dropped at once).
    StoreStatus put(Message const& message) override;
    std::vector<Message> range(TopicKey const& topic, std::optional<StoreCursor> after,
                               std::size_t limit) const override;
    std::vector<Message> last(TopicKey const& topic, std::size_t limit) const override;
    std::vector<StoreCursor> keys(TopicKey const& topic, std::int64_t from_ms, std::int64_t to_ms,
                                  std::size_t limit) const override;
    std::optional<Message> get(MessageId const& id) const override;
    std::size_t message_count() const override { return messages_.size(); }
    std::size_t bytes() const { return bytes_; }
    std::uint64_t dropped() const { return dropped_; }

private:
    struct Oldest {
        StoreCursor cursor;
        TopicKey topic;
        friend auto operator<=>(Oldest const&, Oldest const&) = default;
    };
    void erase(Oldest const& victim);

    std::size_t messages_max_;
    std::size_t bytes_max_;
    std::size_t bytes_ = 0;
    std::uint64_t dropped_ = 0;
    std::unordered_map<MessageId, Message, core::NodeIdHash> messages_;
    std::map<TopicKey, std::set<StoreCursor>> by_topic_;
    std::set<Oldest> by_age_;
};

}  // namespace pubsub
