#include "dht/lookup.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace dht {

Lookup::Lookup(NodeId self, NodeId target, std::size_t k, std::size_t alpha, std::size_t beta)
    : self_(self), target_(target), k_(k), alpha_(alpha),
      beta_(beta == no_retry_wait ? 0 : beta == 0 || beta > k ? k : beta) {
    CORE_ASSERT(k_ > 0 && alpha_ > 0);
}

Lookup::Candidate* Lookup::find(NodeId const& id) {
    for (auto& c : shortlist_)
        if (c.contact.id == id) return &c;
    return nullptr;
}

Lookup::Candidate const* Lookup::candidate(NodeId const& id) const {
    for (auto const& c : shortlist_)
        if (c.contact.id == id) return &c;
    return nullptr;
}

void Lookup::add(std::vector<Contact> const& contacts, int hop, SuspectFn const& suspect) {
    for (auto const& contact : contacts) {
        if (contact.id == self_ || find(contact.id)) continue;
        State state = suspect && suspect(contact.id) ? State::skipped : State::fresh;
        Candidate c{contact, target_.distance(contact.id), state, hop};
        auto pos = std::lower_bound(shortlist_.begin(), shortlist_.end(), c,
                                    [](Candidate const& a, Candidate const& b) { return a.distance < b.distance; });
        shortlist_.insert(pos, c);
    }
    // Trim the far end, but never drop a candidate we are waiting on (or may still hear from).
    std::size_t const max = k_ * shortlist_factor;
    for (std::size_t i = shortlist_.size(); i > max; --i) {
        auto& last = shortlist_[i - 1];
        if (last.state == State::in_flight || last.state == State::slow || last.state == State::unresponsive) break;
        shortlist_.pop_back();
    }
}

std::size_t Lookup::in_flight() const {
    return static_cast<std::size_t>(
        std::count_if(shortlist_.begin(), shortlist_.end(), [](Candidate const& c) { return c.state == State::in_flight; }));
}

bool Lookup::has_skipped() const {
    return std::any_of(shortlist_.begin(), shortlist_.end(), [](Candidate const& c) { return c.state == State::skipped; });
}

std::vector<Lookup::Candidate> Lookup::next_queries() {
    // Skipped candidates are a last resort: asked only when the lookup would otherwise end
    // short of k answers (a node back from the dead, or every contact suspected at once).
    if (std::size_t window = 0; settled(window) && window < k_ && has_skipped())
        for (auto& c : shortlist_)
            if (c.state == State::skipped) c.state = State::fresh;
    std::vector<Candidate> out;
    std::size_t busy = in_flight();
    std::size_t considered = 0;
    std::size_t const width = closest_settled() ? k_ : alpha_;
    for (auto& c : shortlist_) {
        if (busy >= width || considered >= k_) break;
        if (!counted(c.state)) continue;
        ++considered;
        if (c.state != State::fresh) continue;
        c.state = State::in_flight;
        ++busy;
        ++queried_;
        out.push_back(c);
    }
    return out;
}

bool Lookup::closest_settled() const {
    std::size_t seen = 0;
    std::size_t const closest = std::max<std::size_t>(beta_, 1);
    for (auto const& c : shortlist_) {
        if (seen >= closest) return true;
        if (!counted(c.state)) continue;
        // A slow one (dead, or its answer late) is waited for by settled(), not here: the
        // candidates behind it are asked meanwhile.
        if (c.state != State::answered && c.state != State::slow) return false;
        ++seen;
    }
    return seen > 0;
}

bool Lookup::on_answer(NodeId const& from, std::vector<Contact> const& closer, SuspectFn const& suspect) {
    auto* c = find(from);
    if (!c || c->state == State::answered) return false;
    c->state = State::answered;
    add(closer, c->hop + 1, suspect);
    return true;
}

bool Lookup::on_slow(NodeId const& from) {
    auto* c = find(from);
    if (!c || c->state != State::in_flight) return false;
    c->state = State::slow;
    return true;
}

bool Lookup::on_unresponsive(NodeId const& from) {
    auto* c = find(from);
    if (!c) return false;
    if (c->state == State::fresh) c->state = State::skipped;
    else if (c->state == State::in_flight || c->state == State::slow) c->state = State::unresponsive;
    else return false;
    return true;
}

bool Lookup::on_failure(NodeId const& from) {
    auto* c = find(from);
    if (!c) return false;
    if (c->state == State::fresh) c->state = State::skipped;  // learned elsewhere: a last resort
    else if (c->state == State::in_flight || c->state == State::slow || c->state == State::unresponsive)
        c->state = State::failed;
    else return false;
    return true;
}

bool Lookup::settled(std::size_t& considered) const {
    considered = 0;
    for (auto const& c : shortlist_) {
        if (considered >= k_) break;
        if (!counted(c.state)) continue;
        ++considered;
        if (c.state == State::answered) continue;
        // Beyond the beta closest, a slow candidate no longer holds the lookup open.
        if (considered > beta_ && c.state == State::slow) continue;
        return false;
    }
    return true;
}

bool Lookup::finished() const {
    std::size_t considered = 0;
    return settled(considered) && (considered >= k_ || !has_skipped());
}

std::vector<Contact> Lookup::closest_answered() const {
    std::vector<Contact> out;
    for (auto const& c : shortlist_) {
        if (out.size() >= k_) break;
        if (c.state == State::answered) out.push_back(c.contact);
    }
    return out;
}

std::size_t Lookup::answered() const {
    return static_cast<std::size_t>(
        std::count_if(shortlist_.begin(), shortlist_.end(), [](Candidate const& c) { return c.state == State::answered; }));
}

int Lookup::hops() const {
    for (auto const& c : shortlist_)
        if (c.state == State::answered) return c.hop;
    return 0;
}

}  // namespace dht
