// sim::SimStreamLinks: ordered, reliable byte-stream links between simulated nodes, the
// model of the TCP links pub/sub meshes run on. It is not a TCP model: no windows, no
// retransmission timing; a frame arrives one base latency (plus its serialisation time
// when a bandwidth is set) after it is sent, never before an earlier frame of the same
// direction. Invariants: per direction, frames are delivered in send order; a broken link
// delivers nothing more except the `closed` notices.
//
// Faults: a crash of either end, or a partition that separates the ends, breaks the link;
// frames in flight are lost, and each surviving end learns of it `break_timeout` later
// (as a TCP keepalive or write timeout would tell it). The Simulator turns Deliveries into
// queue events and asks deliverable() when they fall due.
#pragma once

#include "core/bytes.hpp"
#include "core/time.hpp"
#include "sim/sim_network.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace sim {

using LinkId = std::uint32_t;

struct StreamEvent {
    enum class Kind : std::uint8_t { opened, frame, closed };
    Kind kind = Kind::frame;
    LinkId link = 0;
    NodeIndex peer = 0;  // the other end
    core::Bytes frame;   // Kind::frame only
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
    };

    struct Delivery {
        core::Instant at;
        NodeIndex to = 0;
        StreamEvent event;
    };

    SimStreamLinks(SimNetwork& network, Options options) : network_(network), options_(options) {}

    // Opens a link from `a` to `b`. `b` gets `opened` after one way, `a` after a round
    // trip (the handshake). Fails (nullopt) when the ends cannot reach each other now or
    // the link budget is spent.
    std::optional<LinkId> open(core::Instant now, NodeIndex a, NodeIndex b, std::vector<Delivery>& out);
    // Sends one frame from `from` (an end of `link`); false when the link is not open.
    bool send(core::Instant now, LinkId link, NodeIndex from, core::Bytes frame, std::vector<Delivery>& out);
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
    };

    core::Instant arrival(Link& link, int dir, core::Instant now, std::size_t bytes);
    void break_link(core::Instant now, LinkId id, std::vector<Delivery>& out);

    SimNetwork& network_;
    Options options_;
    std::vector<Link> links_;
    std::size_t open_count_ = 0;
};

}  // namespace sim
