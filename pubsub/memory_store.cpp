#include "pubsub/memory_store.hpp"

#include "core/assert.hpp"

namespace pubsub {

MemoryMessageStore::MemoryMessageStore(std::size_t messages_max, std::size_t bytes_max)
    : messages_max_(messages_max), bytes_max_(bytes_max) {
    CORE_ASSERT(messages_max_ > 0);
}

bool MemoryMessageStore::contains(MessageId const& id) const { return messages_.contains(id); }

StoreStatus MemoryMessageStore::put(Message const& message) {
    if (messages_.contains(message.id)) return StoreStatus::duplicate;
    std::size_t const size = message.encoded.size();
    if (size > bytes_max_) return StoreStatus::full;
    Oldest const key{StoreCursor{message.ts_ms, message.id}, message.topic};
    bool const needs_room = messages_.size() + 1 > messages_max_ || bytes_ + size > bytes_max_;
    if (needs_room && !by_age_.empty() && key < *by_age_.begin()) return StoreStatus::full;

    messages_.emplace(message.id, message);
    by_topic_[message.topic].insert(key.cursor);
    by_age_.insert(key);
    bytes_ += size;
    while (messages_.size() > messages_max_ || bytes_ > bytes_max_) {
        erase(*by_age_.begin());
        ++dropped_;
    }
    return StoreStatus::stored;
}

void MemoryMessageStore::erase(Oldest const& victim) {
    auto it = messages_.find(victim.cursor.id);
    CORE_ASSERT(it != messages_.end());
    bytes_ -= it->second.encoded.size();
    messages_.erase(it);
    auto topic = by_topic_.find(victim.topic);
    topic->second.erase(victim.cursor);
    if (topic->second.empty()) by_topic_.erase(topic);
    by_age_.erase(victim);
}

std::vector<Message> MemoryMessageStore::range(TopicKey const& topic, std::optional<StoreCursor> after,
                                               std::size_t limit) const {
    std::vector<Message> out;
    auto t = by_topic_.find(topic);
    if (t == by_topic_.end()) return out;
    auto it = after ? t->second.upper_bound(*after) : t->second.begin();
    for (; it != t->second.end() && out.size() < limit; ++it) out.push_back(messages_.at(it->id));
    return out;
}

std::vector<Message> MemoryMessageStore::last(TopicKey const& topic, std::size_t limit) const {
    std::vector<Message> out;
    auto t = by_topic_.find(topic);
    if (t == by_topic_.end()) return out;
    for (auto it = t->second.rbegin(); it != t->second.rend() && out.size() < limit; ++it) {
        out.push_back(messages_.at(it->id));
    }
    return {out.rbegin(), out.rend()};
}

std::vector<StoreCursor> MemoryMessageStore::keys(TopicKey const& topic, std::int64_t from_ms, std::int64_t to_ms,
                                                  std::size_t limit) const {
    std::vector<StoreCursor> out;
    auto t = by_topic_.find(topic);
    if (t == by_topic_.end()) return out;
    for (auto it = t->second.lower_bound(StoreCursor{from_ms, MessageId{}});
         it != t->second.end() && it->ts_ms < to_ms && out.size() < limit; ++it) {
        out.push_back(*it);
    }
    return out;
}

std::optional<Message> MemoryMessageStore::get(MessageId const& id) const {
    auto it = messages_.find(id);
    if (it == messages_.end()) return std::nullopt;
    return it->second;
}

}  // namespace pubsub
