// node::EventStream; see event_stream.hpp.
#include "node/event_stream.hpp"

namespace node {

bool EventStream::push(std::string_view id, std::string_view data) {
    if (gone_ || cut_) return false;
    std::string text;
    text.reserve(id.size() + data.size() + 16);
    text.append("id: ").append(id).append("\ndata: ").append(data).append("\n\n");
    if (queued_ + text.size() > bytes_max_) {
        // Told, then cut: the notice is the last thing the client reads.
        cut_ = true;
        append("event: overflow\ndata: {\"error\": \"this client fell behind; events were dropped\"}\n\n");
        return false;
    }
    append(std::move(text));
    ++sent_;
    return true;
}

void EventStream::keepalive() {
    if (gone_ || cut_ || !queue_.empty()) return;
    append(": keepalive\n\n");
}

void EventStream::append(std::string text) {
    queued_ += text.size();
    queue_.push_back(std::move(text));
    if (wake_) wake_();
}

std::string EventStream::take() {
    std::string out;
    out.reserve(queued_);
    for (auto& t : queue_) out += t;
    queue_.clear();
    queued_ = 0;
    return out;
}

}  // namespace node
