// node::EventStream: one server-sent-events subscription between the node and one API
// client, as a bounded queue of formatted events. The runtime pushes an event per
// delivered message; the HTTP transport writes what it takes. A client that falls behind
// (the queue passes its byte bound) is told with a final `event: overflow` and cut: it
// never grows the node's memory. Not the transport (http_api.cpp) and not the routing of
// messages to streams (the runtime keeps its streams per topic).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

namespace node {

class EventStream {
public:
    EventStream(std::string topic, std::size_t bytes_max) : topic_(std::move(topic)), bytes_max_(bytes_max) {}

    std::string const& topic() const { return topic_; }

    // Backend side. Queues one event (`id:` and one `data:` line; data must not contain
    // newlines). Returns false when the stream is over (client gone or cut).
    bool push(std::string_view id, std::string_view data);
    // A comment line that keeps proxies and idle clients from timing out.
    void keepalive();

    // Transport side. `wake` runs after each push (the transport then takes).
    void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }
    // Everything queued, as stream text; empty when nothing is.
    std::string take();
    // True once the queue overflowed: the transport writes what take() gives (the notice
    // last) and closes.
    bool cut() const { return cut_; }
    void client_gone() { gone_ = true; queue_.clear(); queued_ = 0; }
    bool gone() const { return gone_; }
    std::uint64_t sent() const { return sent_; }
    // Bytes queued and not yet taken by the transport, and the bound that cuts the stream.
    std::size_t queued_bytes() const { return queued_; }
    std::size_t bytes_max() const { return bytes_max_; }

private:
    void append(std::string text);

    std::string topic_;
    std::size_t bytes_max_;
    std::deque<std::string> queue_;
    std::size_t queued_ = 0;
    bool cut_ = false;
    bool gone_ = false;
    std::uint64_t sent_ = 0;
    std::function<void()> wake_;
};

}  // namespace node
