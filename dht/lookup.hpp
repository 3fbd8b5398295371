// One iterative Kademlia lookup (paper, section 2.3) as a pure state machine: a shortlist
// of candidates sorted by distance to the target, at most alpha requests in flight, done
// when the k closest candidates that have not failed have all answered. A request that
// times out once is "slow": it stops holding one of the alpha slots, so one dead peer
// does not stall the lookup, but its late answer is still used. With a resiliency beta
// (after go-libp2p-kad-dht), the lookup may also end once the beta closest have answered
// and every other candidate of the k closest has answered or gone slow: it then waits
// for retries only where accuracy matters most, at the very closest. It does not send
// anything itself: DhtNode asks it whom to query and tells it what came back.
#pragma once

#include "dht/contact.hpp"

#include <cstddef>
#include <vector>

namespace dht {

class Lookup {
public:
    enum class State : std::uint8_t { fresh, in_flight, slow, answered, failed };
    struct Candidate {
        Contact contact;
        NodeId distance;
        State state = State::fresh;
        int hop = 1;  // path length from us: our own table's contacts are hop 1
    };

    // The shortlist keeps this many candidates per k: enough that failures in the
    // closest k still leave fresh ones to ask, bounded so memory per lookup is fixed.
    static constexpr std::size_t shortlist_factor = 4;

    // beta = 0 (or >= k) waits for all of the k closest.
    Lookup(NodeId self, NodeId target, std::size_t k, std::size_t alpha, std::size_t beta = 0);

    // Adds candidates learned at `hop` (ignores ourselves and ones already listed).
    void add(std::vector<Contact> const& contacts, int hop);
    // Candidates to query now; each is marked in flight. Empty when waiting or done.
    std::vector<Candidate> next_queries();

    void on_answer(NodeId const& from, std::vector<Contact> const& closer);
    void on_slow(NodeId const& from);
    void on_failure(NodeId const& from);

    bool finished() const;
    // Up to k answered candidates, closest first.
    std::vector<Contact> closest_answered() const;
    // Path length to the closest answered candidate (0 when none answered).
    int hops() const;
    std::size_t queried() const { return queried_; }
    NodeId const& target() const { return target_; }

private:
    Candidate* find(NodeId const& id);
    std::size_t in_flight() const;

    NodeId self_;
    NodeId target_;
    std::size_t k_;
    std::size_t alpha_;
    std::size_t beta_;
    std::vector<Candidate> shortlist_;  // sorted by distance, closest first
    std::size_t queried_ = 0;
};

}  // namespace dht
