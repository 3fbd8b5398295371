// One iterative Kademlia lookup (paper, section 2.3) as a pure state machine: a shortlist
// of candidates sorted by distance to the target, at most alpha requests in flight, done
// when the k closest candidates that are still believed alive have all answered.
//
// Never waiting on the dead. A request that outlives its peer's expected round trip is
// "slow": it stops holding one of the alpha slots, so the lookup asks the next candidate
// at once, but its late answer is still used. A request whose retry has also gone
// unanswered is "unresponsive": the lookup stops counting that candidate among the k
// closest (it asks further ones instead) and never waits for it, though a late answer
// still counts. Once the beta closest have answered, the rest of the k closest are
// asked at once (closest_settled). With a resiliency beta (after go-libp2p-kad-dht) the
// lookup may end once the beta closest have answered and every other candidate of the k
// closest has answered or gone slow: it waits for one retry only where accuracy matters
// most, at the very closest, and never longer than that retry (no_retry_wait: nowhere). Candidates the node already knows to be
// unresponsive (another lookup learned it) are "skipped": not asked, unless the lookup
// runs short of other candidates. It does not send anything itself:
// DhtNode asks it whom to query and tells it what came back.
#pragma once

#include "dht/contact.hpp"

#include <cstddef>
#include <functional>
#include <vector>

namespace dht {

class Lookup {
public:
    enum class State : std::uint8_t { fresh, in_flight, slow, unresponsive, skipped, answered, failed };
    struct Candidate {
        Contact contact;
        NodeId distance;
        State state = State::fresh;
        int hop = 1;  // path length from us: our own table's contacts are hop 1
    };
    // Whether a node is already known to be unresponsive (shared by all lookups of a node).
    using SuspectFn = std::function<bool(NodeId const&)>;

    // The shortlist keeps this many candidates per k: enough that failures in the
    // closest k still leave fresh ones to ask, bounded so memory per lookup is fixed.
    static constexpr std::size_t shortlist_factor = 4;

    // beta = 0 (or >= k) waits for all of the k closest; beta = no_retry_wait for none
    // (every slow candidate is left behind; a put, which stores on whoever answered).
    static constexpr std::size_t no_retry_wait = ~std::size_t{0};
    Lookup(NodeId self, NodeId target, std::size_t k, std::size_t alpha, std::size_t beta = 0);

    // Adds candidates learned at `hop` (ignores ourselves and ones already listed); ones
    // `suspect` names are added skipped.
    void add(std::vector<Contact> const& contacts, int hop, SuspectFn const& suspect = {});
    // Candidates to query now; each is marked in flight. Empty when waiting or done.
    std::vector<Candidate> next_queries();

    // Each returns whether the candidate's state changed.
    bool on_answer(NodeId const& from, std::vector<Contact> const& closer, SuspectFn const& suspect = {});
    bool on_slow(NodeId const& from);
    // A retry went unanswered too (here or in another lookup): stop counting it.
    bool on_unresponsive(NodeId const& from);
    bool on_failure(NodeId const& from);

    bool finished() const;
    // Up to k answered candidates, closest first.
    std::vector<Contact> closest_answered() const;
    // Path length to the closest answered candidate (0 when none answered).
    int hops() const;
    std::size_t queried() const { return queried_; }
    std::size_t answered() const;  // candidates that answered (at most queried())
    NodeId const& target() const { return target_; }
    // The candidate with this id, or nullptr.
    Candidate const* candidate(NodeId const& id) const;
    // The beta closest counted candidates (at least one) have all answered or gone slow:
    // the answers that arrived brought no closer node, so the rest of the k closest are
    // asked at once (Kademlia's last round, paper section 2.3) instead of alpha at a
    // time: at k = 20 and alpha = 3, about five round trips fewer for the same nodes.
    bool closest_settled() const;

private:
    Candidate* find(NodeId const& id);
    std::size_t in_flight() const;
    // Counted among the k closest: not failed and not believed dead.
    static bool counted(State s) { return s != State::failed && s != State::unresponsive && s != State::skipped; }
    // Done, ignoring skipped candidates; `considered` gets how many counted candidates
    // there are within the k (fewer than k: the lookup is short of candidates).
    bool settled(std::size_t& considered) const;
    bool has_skipped() const;

    NodeId self_;
    NodeId target_;
    std::size_t k_;
    std::size_t alpha_;
    std::size_t beta_;
    std::vector<Candidate> shortlist_;  // sorted by distance, closest first
    std::size_t queried_ = 0;
};

}  // namespace dht
