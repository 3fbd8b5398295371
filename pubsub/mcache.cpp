#include "pubsub/mcache.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace pubsub {

MessageCache::MessageCache(std::size_t windows, std::size_t gossip_windows)
    : gossip_windows_(gossip_windows), windows_(windows) {
    CORE_ASSERT(windows >= 1);
    CORE_ASSERT(gossip_windows <= windows);
}

void MessageCache::put(MessageId const& id, TopicKey const& topic, core::Bytes encoded) {
    auto [it, inserted] = entries_.try_emplace(id, Entry{topic, std::move(encoded), {}});
    if (!inserted) return;
    windows_.front().push_back(Slot{id, topic});
}

core::Bytes const* MessageCache::get(MessageId const& id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second.encoded;
}

std::pair<MessageCache::Serve, core::Bytes const*> MessageCache::serve(MessageId const& id, NodeId const& peer,
                                                                       std::size_t serve_max) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return {Serve::unknown, nullptr};
    auto& served = it->second.served;
    auto s = std::find_if(served.begin(), served.end(), [&](auto const& p) { return p.first == peer; });
    if (s == served.end()) {
        served.emplace_back(peer, 0);
        s = served.end() - 1;
    }
    if (s->second >= serve_max) return {Serve::over_limit, nullptr};
    ++s->second;
    return {Serve::ok, &it->second.encoded};
}

std::vector<MessageId> MessageCache::gossip_ids(TopicKey const& topic) const {
    std::vector<MessageId> ids;
    for (std::size_t w = 0; w < gossip_windows_ && w < windows_.size(); ++w) {
        for (auto it = windows_[w].rbegin(); it != windows_[w].rend(); ++it) {
            if (it->topic == topic) ids.push_back(it->id);
        }
    }
    return ids;
}

void MessageCache::shift() {
    for (auto const& slot : windows_.back()) entries_.erase(slot.id);
    windows_.pop_back();
    windows_.emplace_front();
}

}  // namespace pubsub
