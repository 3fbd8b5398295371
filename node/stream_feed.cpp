// StreamFeed; see stream_feed.hpp.
#include "node/stream_feed.hpp"

#include "node/api_history.hpp"
#include "node/api_pubsub.hpp"

namespace node {

StreamFeed::StreamFeed(std::shared_ptr<EventStream> stream, pubsub::TopicKey topic, std::optional<pubsub::StoreCursor> after)
    : stream_(std::move(stream)), topic_(topic), replay_(after), replays_(after.has_value()) {}

bool StreamFeed::push(std::string const& topic, pubsub::Message const& m, bool caught_up) {
    return stream_->push(cursor_text({m.ts_ms, m.id}), message_json(topic, m, caught_up));
}

void StreamFeed::remember(pubsub::MessageId const& id) {
    if (!recent_set_.insert(id).second) return;
    recent_.push_back(id);
    if (recent_.size() > recent_max) {
        recent_set_.erase(recent_.front());
        recent_.pop_front();
    }
}

void StreamFeed::pump(pubsub::MessageStore const& store, std::size_t pages_max) {
    for (std::size_t page = 0; page < pages_max && replay_ && !gone() && !stream_->cut(); ++page) {
        if (stream_->queued_bytes() > stream_->bytes_max() / 2) return;  // the transport drains first
        auto messages = store.range(topic_, replay_, replay_page);
        for (auto const& m : messages) {
            if (stream_->queued_bytes() > stream_->bytes_max() / 2) return;  // resumes from replay_
            replay_ = pubsub::StoreCursor{m.ts_ms, m.id};
            remember(m.id);
            if (!push(stream_->topic(), m, false)) return;
        }
        if (messages.size() < replay_page) replay_.reset();  // caught up with the store: live from now
    }
}

void StreamFeed::deliver(pubsub::Delivered const& d) {
    if (gone() || stream_->cut() || recent_set_.contains(d.message.id)) return;
    // While replaying, a message after the replay's position is in the store (the router
    // stores before it delivers) and the replay will reach it; one at or before it (an
    // author's clock behind ours, a caught-up message) never will: send it now.
    if (replay_ && pubsub::StoreCursor{d.message.ts_ms, d.message.id} > *replay_) return;
    // Only a feed that replays can meet a message twice (at the seam): a live-only feed
    // skips the bookkeeping, which cost ~2 µs a message on a busy node.
    if (replays_) remember(d.message.id);
    push(d.topic, d.message, d.caught_up());
}

}  // namespace node
