// The simulator's event loop; see simulator.hpp.
#include "sim/simulator.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace sim {

using namespace std::chrono_literals;

namespace {
// A node that asks to be woken at the same instant this many times in a row is spinning:
// its timer handling does not advance. Counted as a violation; the simulator then pushes
// its wakeups 1 ms ahead so the run can go on and report it.
constexpr std::uint32_t same_instant_timeouts_max = 1000;
// The largest payload a UDP/IPv4 datagram can carry; a larger one could never be sent.
constexpr std::size_t udp_payload_max = 65'507;
}  // namespace

dht::Config sim_dht_config() {
    dht::Config c;
    // Shared keys are cheap with the stand-in crypto and a simulated node talks to a few
    // hundred peers: 256 cached keys keep hit rates high at a sixteenth of the memory.
    c.key_cache_max = 256;
    // Simulated values are small; a handful of partial messages is plenty.
    c.reassembly_max = 8;
    c.reassembly_bytes_max = 256 * 1024;
    c.records_max = 4096;
    return c;
}

Simulator::Simulator(SimOptions options)
    : options_(std::move(options)), network_(options_.network, options_.seed), links_(network_, options_.streams, options_.seed ^ 0x5354524541'4d53ULL) {}

NodeIndex Simulator::add_node() {
    auto const i = static_cast<NodeIndex>(nodes_.size());
    CORE_ASSERT(i < node_index_max);
    nodes_.emplace_back(i, options_.seed, options_.crypto, options_.records_max, options_.signing);
    return i;
}

void Simulator::start_node(NodeIndex i, std::vector<NodeIndex> const& peers) {
    auto& n = nodes_.at(i);
    n.start(engine_config(), now_);
    for (auto p : peers) {
        CORE_ASSERT(p != i);
        n.engine->bootstrap(now_, nodes_.at(p).endpoint);
    }
    flush(i);
}

node::EngineConfig Simulator::engine_config() const {
    node::EngineConfig c;
    c.dht = options_.dht;
    c.pubsub = options_.pubsub;
    c.link = options_.link;
    return c;
}

void Simulator::crash_node(NodeIndex i, bool leave) {
    auto& n = nodes_.at(i);
    if (!n.up()) return;
    n.stop(leave);
    links_.node_down(now_, i, stream_out_);
    schedule_stream(stream_out_);
}

std::optional<LinkId> Simulator::open_link(NodeIndex a, NodeIndex b) {
    auto id = links_.open(now_, a, b, stream_out_);
    schedule_stream(stream_out_);
    return id;
}

bool Simulator::send_on_link(LinkId link, NodeIndex from, core::Bytes frame) {
    bool ok = links_.send(now_, link, from, std::move(frame), stream_out_);
    schedule_stream(stream_out_);
    return ok;
}

std::size_t Simulator::write_on_link(LinkId link, NodeIndex from, core::ByteView bytes) {
    auto n = links_.write(now_, link, from, bytes, stream_out_);
    schedule_stream(stream_out_);
    return n;
}

void Simulator::close_link(LinkId link, NodeIndex by) {
    links_.close(now_, link, by, stream_out_);
    schedule_stream(stream_out_);
}

void Simulator::partition(double fraction, bool one_way) {
    network_.partition(nodes_.size(), fraction, one_way);
    links_.check_partition(now_, stream_out_);
    schedule_stream(stream_out_);
}

void Simulator::heal() { network_.heal(); }

template <class T>
std::uint32_t Simulator::park(std::vector<T>& slab, std::vector<std::uint32_t>& free, T value) {
    if (!free.empty()) {
        auto slot = free.back();
        free.pop_back();
        slab[slot] = std::move(value);
        return slot;
    }
    slab.push_back(std::move(value));
    return static_cast<std::uint32_t>(slab.size() - 1);
}

void Simulator::schedule_stream(std::vector<SimStreamLinks::Delivery>& out) {
    for (auto& d : out) {
        auto at = d.at;
        auto to = d.to;
        auto slot = park(streams_, streams_free_, std::move(d));
        queue_.push(at, Event{Event::Kind::stream, to, 0, slot, {}});
    }
    out.clear();
}

void Simulator::at(core::Instant when, std::function<void()> action) {
    CORE_ASSERT(when >= now_);
    auto slot = park(actions_, actions_free_, std::move(action));
    queue_.push(when, Event{Event::Kind::action, 0, 0, slot, {}});
}

void Simulator::trace(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
    // FNV-1a over 64-bit words: cheap, stable across toolchains, and any difference in
    // one word changes every later value.
    for (auto w : {a, b, c, d}) {
        trace_ ^= w;
        trace_ *= 0x100000001b3ULL;
    }
}

void Simulator::violation(NodeIndex node, std::string what) {
    // Bounded: the first violations tell the story; the count is what the check uses.
    if (violations_.size() < 1000) violations_.push_back(Violation{now_, node, std::move(what)});
}

void Simulator::flush(NodeIndex i) {
    auto& n = nodes_[i];
    CORE_ASSERT(n.up());
    while (auto tx = n.engine->poll_transmit()) {
        auto to = index_of(tx->to);
        if (!to || *to >= nodes_.size()) {
            // Every address a node can know came from a simulated node or the bootstrap
            // list, so an address outside them means a corrupted contact.
            network_.count_unroutable();
            violation(i, "sent a datagram to " + tx->to.to_string() + ", which no simulated node has");
            continue;
        }
        if (tx->bytes.size() > udp_payload_max) {
            violation(i, "sent a " + std::to_string(tx->bytes.size()) + "-byte datagram, above the UDP maximum");
            continue;
        }
        if (*to == i) {
            violation(i, "sent a datagram to its own address");
            continue;
        }
        auto route = network_.route(i, *to, tx->bytes.size());
        for (std::uint8_t k = 0; k < route.count; ++k) {
            bool const last = k + 1 == route.count;
            queue_.push(now_ + route.delay[k],
                        Event{Event::Kind::datagram, *to, i, 0, last ? std::move(tx->bytes) : tx->bytes});
        }
    }
    std::vector<node::Event> events;  // local: a hook may command this node again
    while (auto ev = n.engine->poll_event()) events.push_back(std::move(*ev));
    for (auto& ev : events) {
        if (auto* open = std::get_if<node::StreamOpen>(&ev)) {
            open_engine_link(i, open->id, open->to);
        } else if (auto* close = std::get_if<node::StreamClose>(&ev)) {
            auto it = n.link_of_stream.find(close->id);
            if (it == n.link_of_stream.end()) continue;
            auto const link = it->second;
            n.stream_of_link.erase(link);
            n.link_of_stream.erase(it);
            if (!close->last_bytes.empty()) write_on_link(link, i, close->last_bytes);
            close_link(link, i);
        }
    }
    write_streams(i);
    arm_wakeup(i);
    queue_peak_ = std::max(queue_peak_, queue_.size());
    if (n.watched && on_watched) on_watched(i, events);
    for (auto& ev : events) {
        if (auto* d = std::get_if<dht::Event>(&ev)) {
            if (on_event) on_event(i, *d);
        } else if (auto* m = std::get_if<pubsub::Delivered>(&ev)) {
            if (on_delivered) on_delivered(i, *m);
        }
        if (!nodes_[i].up()) return;  // a hook crashed it
    }
}

void Simulator::open_engine_link(NodeIndex i, node::StreamId stream, core::Endpoint const& to) {
    auto& n = nodes_[i];
    auto target = index_of(to);
    std::optional<LinkId> link;
    if (target && *target < nodes_.size() && *target != i) link = open_link(i, *target);
    if (!link) {
        // Unreachable (partitioned, or no such node): the connect fails.
        n.engine->handle_stream_closed(now_, stream);
        return flush(i);
    }
    engine_links_.insert(*link);
    n.link_of_stream.emplace(stream, *link);
    n.stream_of_link.emplace(*link, stream);
}

void Simulator::write_streams(NodeIndex i) {
    auto& n = nodes_[i];
    while (auto stream = n.engine->poll_writable()) write_stream(i, *stream);
}

// Writes what the stream's send buffer takes now; the rest waits in the engine's session
// (its priority queue) until the modelled socket buffer drains, as with TCP.
void Simulator::write_stream(NodeIndex i, node::StreamId stream) {
    auto& n = nodes_[i];
    auto it = n.link_of_stream.find(stream);
    if (it == n.link_of_stream.end() || !links_.is_open(it->second)) return;
    auto const link = it->second;
    if (auto room = link_writable(link, i); room > 0) {
        auto bytes = n.engine->take_stream_bytes(stream, room);
        if (!bytes.empty()) write_on_link(link, i, bytes);
    }
    if (!n.engine->stream_wants_write(stream)) return;
    auto at = links_.writable_at(link, i).value_or(now_ + 1ms);
    at = std::max(at, now_ + core::Duration{1});
    auto const incarnation = n.incarnation;
    this->at(at, [this, i, stream, incarnation] {
        auto& node = nodes_[i];
        if (!node.up() || node.incarnation != incarnation) return;
        write_stream(i, stream);
    });
}

void Simulator::stream_to_engine(NodeIndex to, StreamEvent& event) {
    auto& n = nodes_[to];
    auto known = n.stream_of_link.find(event.link);
    switch (event.kind) {
        case StreamEvent::Kind::opened: {
            if (known != n.stream_of_link.end()) {
                n.engine->handle_stream_connected(now_, known->second);
                break;
            }
            auto stream = n.engine->handle_stream_accepted(now_, nodes_[event.peer].endpoint);
            if (!stream) {
                close_link(event.link, to);
                break;
            }
            n.link_of_stream.emplace(*stream, event.link);
            n.stream_of_link.emplace(event.link, *stream);
            break;
        }
        case StreamEvent::Kind::frame:
        case StreamEvent::Kind::bytes:
            if (known != n.stream_of_link.end()) n.engine->handle_stream_bytes(now_, known->second, event.frame);
            break;
        case StreamEvent::Kind::closed:
            if (known != n.stream_of_link.end()) {
                auto const stream = known->second;
                n.stream_of_link.erase(known);
                n.link_of_stream.erase(stream);
                n.engine->handle_stream_closed(now_, stream);
            }
            break;
    }
    flush(to);
}

void Simulator::arm_wakeup(NodeIndex i) {
    auto& n = nodes_[i];
    auto w = n.engine->next_wakeup();
    if (!w) {
        n.wakeup_at.reset();  // whatever is queued for this node is now stale
        return;
    }
    auto t = std::max(*w, now_);
    if (n.same_instant_timeouts >= same_instant_timeouts_max) t = std::max(t, now_ + 1ms);
    // An earlier wakeup is already queued: let it fire (a spurious handle_timeout is
    // harmless) and re-arm then, rather than queueing one event per input.
    if (n.wakeup_at && *n.wakeup_at <= t) return;
    n.wakeup_at = t;
    queue_.push(t, Event{Event::Kind::wakeup, i, 0, n.incarnation, {}});
}

bool Simulator::step() {
    if (events_ >= options_.events_max) {
        if (events_ == options_.events_max) {
            violation(0, "events_max reached: the run was cut short");
            ++events_;
        }
        return false;
    }
    auto popped = queue_.pop();
    if (!popped) return false;
    CORE_ASSERT(popped->at >= now_);
    now_ = popped->at;
    auto& e = popped->payload;
    switch (e.kind) {
        case Event::Kind::datagram: {
            auto& n = nodes_[e.node];
            if (!n.up()) {
                ++to_down_;
                return true;
            }
            ++events_;
            ++delivered_;
            trace(static_cast<std::uint64_t>(now_.since_origin.count()), e.node, 1, e.bytes.size());
            n.engine->handle_datagram(now_, nodes_[e.from].endpoint, e.bytes);
            flush(e.node);
            return true;
        }
        case Event::Kind::wakeup: {
            auto& n = nodes_[e.node];
            if (!n.up() || e.aux != n.incarnation || n.wakeup_at != now_) return true;  // stale
            ++events_;
            n.wakeup_at.reset();
            if (n.last_timeout_at == now_) {
                if (++n.same_instant_timeouts == same_instant_timeouts_max)
                    violation(e.node, "next_wakeup() stays at the same instant after handle_timeout");
            } else {
                n.same_instant_timeouts = 0;
                n.last_timeout_at = now_;
            }
            n.engine->handle_timeout(now_);
            flush(e.node);
            return true;
        }
        case Event::Kind::action: {
            ++events_;
            auto action = std::move(actions_[e.aux]);
            actions_[e.aux] = nullptr;
            actions_free_.push_back(e.aux);
            action();
            return true;
        }
        case Event::Kind::stream: {
            auto d = std::move(streams_[e.aux]);
            streams_free_.push_back(e.aux);
            if (!links_.deliverable(d) || !nodes_[d.to].up()) return true;
            ++events_;
            trace(static_cast<std::uint64_t>(now_.since_origin.count()), d.to, 3 + static_cast<unsigned>(d.event.kind),
                  d.event.frame.size());
            if (engine_links_.contains(d.event.link)) stream_to_engine(d.to, d.event);
            else if (on_stream) on_stream(d.to, d.event);
            return true;
        }
    }
    return true;
}

void Simulator::run_until(core::Instant end) {
    stop_ = false;
    while (!stop_) {
        auto next = queue_.peek_time();
        if (!next || *next > end) break;
        if (!step()) break;
    }
    if (!stop_ && end > now_) now_ = end;
}

dht::Stats Simulator::total_stats() const {
    dht::Stats total;
    for (auto const& n : nodes_) {
        add_stats(total, n.stats_before);
        if (n.up()) add_stats(total, n.engine->dht().stats());
    }
    return total;
}

}  // namespace sim
