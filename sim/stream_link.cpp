// Ordered, reliable stream links between simulated nodes; see stream_link.hpp.
#include "sim/stream_link.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <cmath>

namespace sim {

core::Instant SimStreamLinks::arrival(Link& link, int dir, core::Instant now, std::size_t bytes) {
    NodeIndex from = dir == 0 ? link.a : link.b;
    NodeIndex to = dir == 0 ? link.b : link.a;
    auto at = now + network_.base_latency(from, to);
    if (options_.bytes_per_s > 0.0) {
        auto us = static_cast<std::int64_t>(std::ceil(static_cast<double>(bytes) * 1e6 / options_.bytes_per_s));
        at = at + core::Duration{us};
    }
    // Never before the previous frame of this direction: equal times keep send order
    // because the event queue breaks ties by sequence.
    at = std::max(at, link.last_arrival[dir]);
    link.last_arrival[dir] = at;
    return at;
}

std::optional<LinkId> SimStreamLinks::open(core::Instant now, NodeIndex a, NodeIndex b, std::vector<Delivery>& out) {
    CORE_ASSERT(a != b);
    if (links_.size() >= options_.links_max) return std::nullopt;
    if (!network_.reachable(a, b) || !network_.reachable(b, a)) return std::nullopt;
    auto const id = static_cast<LinkId>(links_.size());
    links_.push_back(Link{a, b, State::open, {}, {}, {}});
    ++open_count_;
    auto& link = links_.back();
    auto at_b = arrival(link, 0, now, 0);
    out.push_back(Delivery{at_b, b, StreamEvent{StreamEvent::Kind::opened, id, a, {}}});
    auto at_a = arrival(link, 1, at_b, 0);
    out.push_back(Delivery{at_a, a, StreamEvent{StreamEvent::Kind::opened, id, b, {}}});
    return id;
}

bool SimStreamLinks::send(core::Instant now, LinkId id, NodeIndex from, core::Bytes frame, std::vector<Delivery>& out) {
    if (!is_open(id)) return false;
    auto& link = links_[id];
    CORE_ASSERT(from == link.a || from == link.b);
    int const dir = from == link.a ? 0 : 1;
    NodeIndex const to = dir == 0 ? link.b : link.a;
    auto at = arrival(link, dir, now, frame.size());
    out.push_back(Delivery{at, to, StreamEvent{StreamEvent::Kind::frame, id, from, std::move(frame)}});
    return true;
}

int SimStreamLinks::direction(Link const& link, NodeIndex from) const {
    CORE_ASSERT(from == link.a || from == link.b);
    return from == link.a ? 0 : 1;
}

std::size_t SimStreamLinks::in_flight(Link::Buffer const& b, core::Instant now) {
    std::size_t bytes = b.bytes;
    for (std::size_t i = b.head; i < b.chunks.size() && b.chunks[i].at <= now; ++i) bytes -= b.chunks[i].bytes;
    return bytes;
}

void SimStreamLinks::prune(Link::Buffer& b, core::Instant now) {
    while (b.head < b.chunks.size() && b.chunks[b.head].at <= now) b.bytes -= b.chunks[b.head++].bytes;
    if (b.head == b.chunks.size()) {
        b.chunks.clear();
        b.head = 0;
    } else if (b.head >= 64 && b.head * 2 >= b.chunks.size()) {
        b.chunks.erase(b.chunks.begin(), b.chunks.begin() + static_cast<std::ptrdiff_t>(b.head));
        b.head = 0;
    }
}

std::size_t SimStreamLinks::writable(core::Instant now, LinkId id, NodeIndex from) const {
    if (!is_open(id)) return 0;
    auto const& link = links_[id];
    auto const used = in_flight(link.buffer[direction(link, from)], now);
    return options_.send_buffer_bytes > used ? options_.send_buffer_bytes - used : 0;
}

std::optional<core::Instant> SimStreamLinks::writable_at(LinkId id, NodeIndex from) const {
    if (!is_open(id)) return std::nullopt;
    auto const& link = links_[id];
    auto const& b = link.buffer[direction(link, from)];
    if (b.head == b.chunks.size()) return std::nullopt;
    return b.chunks[b.head].at;
}

std::size_t SimStreamLinks::write(core::Instant now, LinkId id, NodeIndex from, core::ByteView bytes,
                                  std::vector<Delivery>& out) {
    if (!is_open(id)) return 0;
    auto& link = links_[id];
    int const dir = direction(link, from);
    NodeIndex const to = dir == 0 ? link.b : link.a;
    auto& buffer = link.buffer[dir];
    prune(buffer, now);
    std::size_t const room = options_.send_buffer_bytes > buffer.bytes ? options_.send_buffer_bytes - buffer.bytes : 0;
    std::size_t const accepted = std::min(room, bytes.size());
    auto const latency = network_.base_latency(from, to);
    CORE_ASSERT(options_.chunk_bytes_max > 0);
    for (std::size_t at = 0; at < accepted;) {
        std::size_t const n = std::min<std::size_t>(accepted - at, rng_.between(1, options_.chunk_bytes_max));
        // The sender serialises chunk after chunk; each arrives one latency after its last
        // byte left, and never before an earlier chunk or frame of this direction.
        auto start = std::max(now, link.wire_free_at[dir]);
        if (options_.bytes_per_s > 0.0)
            start = start + core::Duration{static_cast<std::int64_t>(std::ceil(static_cast<double>(n) * 1e6 / options_.bytes_per_s))};
        link.wire_free_at[dir] = start;
        auto const arrive = std::max(start + latency, link.last_arrival[dir]);
        link.last_arrival[dir] = arrive;
        auto chunk = bytes.subspan(at, n);
        out.push_back(Delivery{arrive, to, StreamEvent{StreamEvent::Kind::bytes, id, from, core::Bytes(chunk.begin(), chunk.end())}});
        buffer.chunks.push_back({arrive, static_cast<std::uint32_t>(n)});
        buffer.bytes += n;
        at += n;
    }
    return accepted;
}

void SimStreamLinks::close(core::Instant now, LinkId id, NodeIndex by, std::vector<Delivery>& out) {
    if (!is_open(id)) return;
    auto& link = links_[id];
    CORE_ASSERT(by == link.a || by == link.b);
    link.state = State::closed;
    --open_count_;
    int const dir = by == link.a ? 0 : 1;
    NodeIndex const to = dir == 0 ? link.b : link.a;
    auto at = arrival(link, dir, now, 0);
    out.push_back(Delivery{at, to, StreamEvent{StreamEvent::Kind::closed, id, by, {}}});
}

void SimStreamLinks::break_link(core::Instant now, LinkId id, std::vector<Delivery>& out) {
    auto& link = links_[id];
    CORE_ASSERT(link.state == State::open);
    link.state = State::broken;
    --open_count_;
    auto at = now + options_.break_timeout;
    out.push_back(Delivery{at, link.a, StreamEvent{StreamEvent::Kind::closed, id, link.b, {}}});
    out.push_back(Delivery{at, link.b, StreamEvent{StreamEvent::Kind::closed, id, link.a, {}}});
}

void SimStreamLinks::node_down(core::Instant now, NodeIndex node, std::vector<Delivery>& out) {
    for (LinkId id = 0; id < links_.size(); ++id) {
        auto const& link = links_[id];
        if (link.state == State::open && (link.a == node || link.b == node)) break_link(now, id, out);
    }
}

void SimStreamLinks::check_partition(core::Instant now, std::vector<Delivery>& out) {
    for (LinkId id = 0; id < links_.size(); ++id) {
        auto const& link = links_[id];
        if (link.state == State::open && (!network_.reachable(link.a, link.b) || !network_.reachable(link.b, link.a)))
            break_link(now, id, out);
    }
}

bool SimStreamLinks::deliverable(Delivery const& d) const {
    CORE_ASSERT(d.event.link < links_.size());
    auto state = links_[d.event.link].state;
    // A broken link loses what was in flight; an orderly close still delivers the frames
    // sent before it (they precede the `closed` notice in the queue).
    if (state == State::broken) return d.event.kind == StreamEvent::Kind::closed;
    return true;
}

}  // namespace sim
