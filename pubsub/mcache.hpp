// The message cache (GossipSub's mcache, after go-libp2p-pubsub mcache.go): the messages
// of the last `windows` heartbeats, served to peers that ask with IWANT, and whose ids of
// the last `gossip_windows` heartbeats are advertised with IHAVE. shift() at each
// heartbeat moves to a new window and drops the oldest; there is no clock inside. Each
// id counts how often it was served to each peer (the "serve an id at most 3x per peer"
// bound). Not the seen-cache (ids only, 120 s) and not the message store (history).
#pragma once

#include "pubsub/types.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pubsub {

class MessageCache {
public:
    MessageCache(std::size_t windows, std::size_t gossip_windows);

    // Adds a message to the current window (ignored if already cached).
    void put(MessageId const& id, TopicKey const& topic, core::Bytes encoded);
    bool contains(MessageId const& id) const { return entries_.contains(id); }
    // The envelope of `id`, or nullptr.
    core::Bytes const* get(MessageId const& id) const;
    // The envelope of `id` for serving to `peer`, counting the serve; nullptr when unknown
    // or when `peer` already had it `serve_max` times.
    enum class Serve : std::uint8_t { ok, unknown, over_limit };
    std::pair<Serve, core::Bytes const*> serve(MessageId const& id, NodeId const& peer, std::size_t serve_max);
    // Ids of `topic` from the newest gossip_windows windows, newest first.
    std::vector<MessageId> gossip_ids(TopicKey const& topic) const;
    // Starts a new window, forgetting the messages of the oldest.
    void shift();
    std::size_t size() const { return entries_.size(); }

private:
    struct Entry {
        TopicKey topic;
        core::Bytes encoded;
        std::vector<std::pair<NodeId, std::uint8_t>> served;  // small: peers that asked
    };
    struct Slot {
        MessageId id;
        TopicKey topic;
    };
    std::size_t gossip_windows_;
    std::deque<std::vector<Slot>> windows_;  // front = newest
    std::unordered_map<MessageId, Entry, core::NodeIdHash> entries_;
};

}  // namespace pubsub
