// node::StreamFeed: what one event-stream client of a topic receives: first the stored
// messages after its start cursor (`subscribe --since`, or Last-Event-ID on reconnect), in
// (ts, id) order and paced by the client's queue (never more than half its byte bound at
// once, so a long replay never cuts the client), then live deliveries. Each message once:
// while the replay runs, live messages after its position are left to it (they are in the
// store, which the replay reaches) and older ones are sent at once; the ids of the last
// replayed messages are remembered so a live delivery of one of them at the seam is
// dropped. Every event's `id:` is the message's
// cursor (api_history.hpp), so a reconnecting client resumes exactly. Not the transport
// (http_api.cpp) and not the store.
#pragma once

#include "node/event_stream.hpp"
#include "pubsub/message_store.hpp"
#include "pubsub/router.hpp"

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

namespace node {

class StreamFeed {
public:
    static constexpr std::size_t replay_page = 100;
    static constexpr std::size_t recent_max = 4096;

    // `after` nullopt: live only.
    StreamFeed(std::shared_ptr<EventStream> stream, pubsub::TopicKey topic, std::optional<pubsub::StoreCursor> after);

    // Pushes stored messages while the client's queue is under half its bound, at most
    // `pages_max` pages; ends the replay when the store has no more.
    void pump(pubsub::MessageStore const& store, std::size_t pages_max = 16);
    // A live (or caught-up) delivery of the feed's topic.
    void deliver(pubsub::Delivered const& delivered);
    bool replaying() const { return replay_.has_value(); }
    EventStream& stream() const { return *stream_; }
    std::shared_ptr<EventStream> const& stream_ptr() const { return stream_; }
    bool gone() const { return stream_->gone(); }

private:
    void remember(pubsub::MessageId const& id);
    bool push(std::string const& topic, pubsub::Message const& message, bool caught_up);

    std::shared_ptr<EventStream> stream_;
    pubsub::TopicKey topic_;
    std::optional<pubsub::StoreCursor> replay_;  // the last replayed position while replaying
    bool replays_;                               // started with a replay (remembers ids)
    std::deque<pubsub::MessageId> recent_;
    std::unordered_set<pubsub::MessageId, core::NodeIdHash> recent_set_;
};

}  // namespace node
