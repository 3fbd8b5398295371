// sim::SimStreamLinks: ordered, reliable byte-stream links between simulated nodes, the
// model of the TCP links pub/sub meshes run on. Two ways to use a link:
//  - write(): a byte stream, as a host running links::Session sees TCP. The bytes of each
//    write arrive as chunks of random size (1..chunk_bytes_max, from the links' own Rng,
//    so a seed replays the same cuts), the way segmentation and reads cut a real stream;
//    and each direction has a bounded send buffer: bytes written and not yet arrived
//    count against send_buffer_bytes, and write() accepts only what fits (the writer
//    keeps the rest and retries, as with a non-blocking socket).
//  - send(): whole frames, no buffer bound (the message-level model of earlier runs).
// It is not a TCP model: no windows, no retransmission timing; bytes arrive one base
// latency (plus their serialisation time when a bandwidth is set) after they are sent,
// never before earlier bytes of the same direction. Invariants: per direction, frames and
// chunks are delivered in send order; a broken link delivers nothing more except the
// `closed` notices.
//
// Faults: a crash of either end, or a partition that separates the ends, breaks the link;
// frames in flight are lost, and each surviving end learns of it `break_timeout` later
// (as a TCP keepalive or write timeout would tell it). The Simulator turns Deliveries into
// queue events and asks deliverable() when they fall due.
#pragma once

#include "core/bytes.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "sim/sim_network.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace sim {

using LinkId = std::uint32_t;

struct StreamEvent {
    // bytes: one chunk of a write() (any cut of the stream); frame: one whole send().
    enum class Kind : std::uint8_t { opened, frame, closed, bytes };
    Kind kind = Kind::frame;
    LinkId link = 0;
    NodeIndex peer = 0;  // the other end
    core::Bytes frame;   // Kind::frame: the frame; Kind::bytes: the chunk
};

class SimStreamLinks {
public:
    struct Options {
        // 0 = unlimited; otherwise each direction serialises frames at this rate.
        double bytes_per_s = 0.0;
        core::Duration break_timeout{5'000'000};
        // Bound on links ever opened in one run (ids are never reused, so that a late
        // event can always tell which link it belonged to).
        std::size_t links_max = 1u << 22;
        // write(): each chunk is uniform in [1, chunk_bytes_max] bytes (about a segment).
        std::size_t chunk_bytes_max = 1460;
        // write(): bytes of one direction written and not yet arrived (socket buffer
        // plus bytes in flight).
        std::size_t send_buffer_bytes = 256 * 1024;
    };

    struct Delivery {
        core::Instant at;
        NodeIndex to = 0;
        StreamEvent event;
    };

    // `seed` drives the chunk sizes only (the network's own Rng stays untouched, so
    // datagram fates do not depend on stream traffic).
    SimStreamLinks(SimNetwork& network, Options options, std::uint64_t seed = 1)
        : network_(network), options_(options), rng_(seed) {}

    // Opens a link from `a` to `b`. `b` gets `opened` after one way, `a` after a round
    // trip (the handshake). Fails (nullopt) when the ends cannot reach each other now or
    // the link budget is spent.
    std::optional<LinkId> open(core::Instant now, NodeIndex a, NodeIndex b, std::vector<Delivery>& out);
    // Sends one frame from `from` (an end of `link`); false when the link is not open.
    bool send(core::Instant now, LinkId link, NodeIndex from, core::Bytes frame, std::vector<Delivery>& out);
    // Writes bytes from `from` on the byte stream of `link`: accepts as many as the send
    // buffer has room for (0 when the link is not open), schedules them as chunks, and
    // returns the count accepted. The writer retries the rest later (see writable_at).
    std::size_t write(core::Instant now, LinkId link, NodeIndex from, core::ByteView bytes, std::vector<Delivery>& out);
    // How many bytes write() would accept from `from` now.
    std::size_t writable(core::Instant now, LinkId link, NodeIndex from) const;
    // When the oldest byte `from` has in flight arrives, freeing room; nullopt when none
    // is in flight.
    std::optional<core::Instant> writable_at(LinkId link, NodeIndex from) const;
    // Closes the link from `by`: the other end gets `closed` after the frames already sent.
    void close(core::Instant now, LinkId link, NodeIndex by, std::vector<Delivery>& out);
    // Breaks every link of `node` (crash or leave): the other ends get `closed` after
    // break_timeout. Costs O(links ever opened); crashes are rare.
    void node_down(core::Instant now, NodeIndex node, std::vector<Delivery>& out);
    // Breaks every open link whose ends the network can no longer connect (call after the
    // network is partitioned).
    void check_partition(core::Instant now, std::vector<Delivery>& out);

    // Whether `d` should still be handed to its node when it falls due.
    bool deliverable(Delivery const& d) const;
    bool is_open(LinkId link) const { return link < links_.size() && links_[link].state == State::open; }
    std::size_t open_count() const { return open_count_; }
    std::size_t opened_total() const { return links_.size(); }

private:
    enum class State : std::uint8_t { open, closed, broken };
    struct Link {
        NodeIndex a = 0;
        NodeIndex b = 0;
        State state = State::open;
        // Time the last frame of each direction (0: a -> b, 1: b -> a) arrives.
        std::array<core::Instant, 2> last_arrival{};
        // write(): when each direction's sender finishes serialising what it has written.
        std::array<core::Instant, 2> wire_free_at{};
        // write(): chunks in flight per direction, in arrival order, from `head` on.
        struct InFlight {
            core::Instant at;
            std::uint32_t bytes = 0;
        };
        struct Buffer {
            std::vector<InFlight> chunks;
            std::size_t head = 0;
            std::size_t bytes = 0;  // total of chunks[head..]
        };
        std::array<Buffer, 2> buffer{};
    };

    core::Instant arrival(Link& link, int dir, core::Instant now, std::size_t bytes);
    int direction(Link const& link, NodeIndex from) const;
    static std::size_t in_flight(Link::Buffer const& b, core::Instant now);
    static void prune(Link::Buffer& b, core::Instant now);
    void break_link(core::Instant now, LinkId id, std::vector<Delivery>& out);

    SimNetwork& network_;
    Options options_;
    core::Rng rng_;
    std::vector<Link> links_;
    std::size_t open_count_ = 0;
};

}  // namespace sim
