#include "dht/lookup.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace dht {

Lookup::Lookup(NodeId self, NodeId target, std::size_t k, std::size_t alpha, std::size_t beta)
    : self_(self), target_(target), k_(k), alpha_(alpha), beta_(beta == 0 || beta > k ? k : beta) {
    CORE_ASSERT(k_ > 0 && alpha_ > 0);
}

Lookup::Candidate* Lookup::find(NodeId const& id) {
    for (auto& c : shortlist_)
        if (c.contact.id == id) return &c;
    return nullptr;
}

void Lookup::add(std::vector<Contact> const& contacts, int hop) {
    for (auto const& contact : contacts) {
        if (contact.id == self_ || find(contact.id)) continue;
        Candidate c{contact, target_.distance(contact.id), State::fresh, hop};
        auto pos = std::lower_bound(shortlist_.begin(), shortlist_.end(), c,
                                    [](Candidate const& a, Candidate const& b) { return a.distance < b.distance; });
        shortlist_.insert(pos, c);
    }
    // Trim the far end, but never drop a candidate we are waiting on.
    std::size_t const max = k_ * shortlist_factor;
    for (std::size_t i = shortlist_.size(); i > max; --i) {
        auto& last = shortlist_[i - 1];
        if (last.state == State::in_flight || last.state == State::slow) break;
        shortlist_.pop_back();
    }
}

std::size_t Lookup::in_flight() const {
    return static_cast<std::size_t>(
        std::count_if(shortlist_.begin(), shortlist_.end(), [](Candidate const& c) { return c.state == State::in_flight; }));
}

std::vector<Lookup::Candidate> Lookup::next_queries() {
    std::vector<Candidate> out;
    std::size_t busy = in_flight();
    std::size_t considered = 0;
    for (auto& c : shortlist_) {
        if (busy >= alpha_ || considered >= k_) break;
        if (c.state == State::failed) continue;
        ++considered;
        if (c.state != State::fresh) continue;
        c.state = State::in_flight;
        ++busy;
        ++queried_;
        out.push_back(c);
    }
    return out;
}

void Lookup::on_answer(NodeId const& from, std::vector<Contact> const& closer) {
    auto* c = find(from);
    if (!c || c->state == State::answered) return;
    c->state = State::answered;
    add(closer, c->hop + 1);
}

void Lookup::on_slow(NodeId const& from) {
    if (auto* c = find(from); c && c->state == State::in_flight) c->state = State::slow;
}

void Lookup::on_failure(NodeId const& from) {
    if (auto* c = find(from); c && (c->state == State::in_flight || c->state == State::slow)) c->state = State::failed;
}

bool Lookup::finished() const {
    std::size_t considered = 0;
    for (auto const& c : shortlist_) {
        if (considered >= k_) break;
        if (c.state == State::failed) continue;
        ++considered;
        if (c.state == State::answered) continue;
        // Beyond the beta closest, a slow candidate no longer holds the lookup open.
        if (considered > beta_ && c.state == State::slow) continue;
        return false;
    }
    return true;
}

std::vector<Contact> Lookup::closest_answered() const {
    std::vector<Contact> out;
    for (auto const& c : shortlist_) {
        if (out.size() >= k_) break;
        if (c.state == State::answered) out.push_back(c.contact);
    }
    return out;
}

int Lookup::hops() const {
    for (auto const& c : shortlist_)
        if (c.state == State::answered) return c.hop;
    return 0;
}

}  // namespace dht
