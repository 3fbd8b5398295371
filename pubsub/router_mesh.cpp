// The mesh: GRAFT and PRUNE in and out, backoffs, mesh repair to D/D_lo/D_hi with D_score
// and the D_out outbound quota, fanout upkeep, and dial candidates (from the DHT via
// add_provider_records, configuration via add_peers, and PX). GossipSub v1.1 §"Mesh
// Maintenance", with the choices of PUBSUB-NOTES §1–§2. The PX records themselves (what a
// PRUNE names, how a received one is checked) are in router_px.cpp.
#include "core/assert.hpp"
#include "pubsub/router_impl.hpp"

#include <algorithm>

namespace pubsub {

namespace {
template <class T>
void shuffle(std::vector<T>& v, core::Rng& rng) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.uniform(i)]);
}
}  // namespace

std::size_t Router::Impl::known_peers(TopicKey const& topic) const {
    auto it = topic_peers.find(topic);
    return it == topic_peers.end() ? 0 : it->second.size();
}

// Peers that can carry the topic's messages now: for a subscribed topic the mesh and the
// topic peers it could graft (a peer that pruned us is in backoff and does not count), so
// a node that every known peer pruned looks for more instead of sitting with an empty
// mesh; for a fanout topic every known topic peer.
std::size_t Router::Impl::usable_peers(core::Instant now, TopicKey const& key) const {
    auto t = topics.find(key);
    if (t == topics.end()) return known_peers(key);
    std::size_t usable = t->second.mesh.size();
    if (auto tp = topic_peers.find(key); tp != topic_peers.end()) {
        for (auto const& id : tp->second) usable += can_graft(now, key, t->second, id);
    }
    return usable;
}

bool Router::Impl::in_backoff(core::Instant now, TopicKey const& topic, NodeId const& id) const {
    auto it = backoffs.find({topic, id});
    return it != backoffs.end() && now < it->second.until;
}

bool Router::Impl::can_graft(core::Instant now, TopicKey const& key, TopicState const& topic, NodeId const& id) const {
    auto p = peers.find(id);
    return p != peers.end() && p->second.topics.contains(key) && !topic.mesh.contains(id) &&
           !in_backoff(now, key, id) && score(now, id) >= 0;
}

void Router::Impl::graft(core::Instant now, TopicKey const& key, TopicState& topic, PeerState& p) {
    topic.mesh.insert(p.id);
    forget_choke(topic, p.id);
    scores.on_graft(now, p.id, key);
    out(p.link, links::Priority::control).graft.push_back(Graft{key});
    ++stats.control_count(ControlType::graft, Direction::out);
}

// Sends PRUNE and starts our side of the backoff. The caller removed `p` from the mesh.
void Router::Impl::prune(core::Instant now, TopicKey const& key, PeerState& p, core::Duration backoff, bool with_px) {
    Prune message{key, {}, static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(backoff).count())};
    if (with_px && score(now, p.id) >= config.score.accept_px_threshold) {
        message.px = px_for(now, key, p.id);
        stats.px_sent += message.px.size();
    }
    out(p.link, links::Priority::control).prune.push_back(std::move(message));
    ++stats.control_count(ControlType::prune, Direction::out);
    backoffs[{key, p.id}] = Backoff{now + backoff, now};
}

void Router::Impl::on_graft(core::Instant now, PeerState& p, Graft const& g) {
    ++stats.control_count(ControlType::graft, Direction::in);
    auto t = topics.find(g.topic);
    if (t == topics.end()) {
        ++stats.drop(DropReason::graft_unknown_topic);
        return;
    }
    auto& topic = t->second;
    if (topic.mesh.contains(p.id)) return;
    if (auto b = backoffs.find({g.topic, p.id}); b != backoffs.end() && now < b->second.until) {
        // GRAFT inside our backoff: P7, twice if it comes right after the PRUNE (a flood).
        double const penalty = now < b->second.pruned_at + config.graft_flood_window ? 2.0 : 1.0;
        scores.add_behaviour_penalty(p.id, penalty);
        ++stats.drop(DropReason::graft_in_backoff);
        prune(now, g.topic, p, config.prune_backoff, false);
        return;
    }
    if (score(now, p.id) < 0) {
        ++stats.drop(DropReason::graft_negative_score);
        prune(now, g.topic, p, config.prune_backoff, false);
        return;
    }
    // Outbound quota: a full mesh takes only peers we dialed, so inbound Sybils cannot
    // crowd out the links we chose.
    if (topic.mesh.size() >= config.d_hi && !p.outbound) {
        ++stats.drop(DropReason::graft_mesh_full);
        prune(now, g.topic, p, config.prune_backoff, true);
        return;
    }
    // A peer that grafts us must subscribe; tolerate a GRAFT racing its SubOpt.
    if (!p.topics.contains(g.topic) && p.topics.size() < config.subscriptions_per_peer_max) {
        p.topics.insert(g.topic);
        topic_peers[g.topic].insert(p.id);
    }
    if (!p.topics.contains(g.topic)) {
        ++stats.drop(DropReason::subscriptions_over_limit);
        return;
    }
    topic.mesh.insert(p.id);
    forget_choke(topic, p.id);
    scores.on_graft(now, p.id, g.topic);
}

void Router::Impl::on_prune(core::Instant now, PeerState& p, Prune const& pr) {
    ++stats.control_count(ControlType::prune, Direction::in);
    auto t = topics.find(pr.topic);
    // A PRUNE for a topic we have not joined changes nothing (and must not fill the
    // backoff table with topics a peer makes up).
    if (t == topics.end()) return;
    if (t->second.mesh.erase(p.id)) scores.on_prune(p.id, pr.topic);
    core::Duration backoff = pr.backoff_s == 0 ? config.prune_backoff : core::Duration(std::chrono::seconds(pr.backoff_s));
    backoff = std::min(backoff, config.prune_backoff_max);
    auto& b = backoffs[{pr.topic, p.id}];
    b.until = std::max(b.until, now + backoff);
    b.pruned_at = now;
    if (pr.px.empty()) return;
    if (score(now, p.id) < config.score.accept_px_threshold) {
        ++stats.drop(DropReason::px_rejected);
        return;
    }
    take_px(now, p, pr);
    maybe_dial(now);
}

// Grafts eligible topic peers (random order) until the mesh has `target` peers.
void Router::Impl::fill_mesh(core::Instant now, TopicKey const& key, TopicState& topic, std::size_t target,
                             bool outbound_only) {
    auto tp = topic_peers.find(key);
    if (tp == topic_peers.end()) return;
    std::vector<NodeId> eligible;
    for (auto const& id : tp->second) {
        if (!can_graft(now, key, topic, id)) continue;
        if (outbound_only && !peers.at(id).outbound) continue;
        eligible.push_back(id);
    }
    shuffle(eligible, rng);
    for (auto const& id : eligible) {
        if (topic.mesh.size() >= target) break;
        graft(now, key, topic, peers.at(id));
    }
}

void Router::Impl::maintain_mesh(core::Instant now, TopicKey const& key, TopicState& topic) {
    // No mesh slot for a negative score.
    for (auto const& id : std::vector<NodeId>(topic.mesh.begin(), topic.mesh.end())) {
        if (score(now, id) >= 0) continue;
        topic.mesh.erase(id);
        scores.on_prune(id, key);
        prune(now, key, peers.at(id), config.prune_backoff, false);
    }
    if (topic.mesh.size() < config.d_lo) fill_mesh(now, key, topic, config.d, false);
    // Outbound quota: at least d_out peers we dialed, even in a healthy mesh.
    if (topic.mesh.size() >= config.d_lo) {
        std::size_t outbound = 0;
        for (auto const& id : topic.mesh) outbound += peers.at(id).outbound;
        if (outbound < config.d_out) fill_mesh(now, key, topic, topic.mesh.size() + (config.d_out - outbound), true);
    }
    // Last, so that grafting for the quota cannot leave the mesh above D_hi (a mesh of
    // inbound peers only, at D_hi, gains outbound ones here; the trim keeps them).
    if (topic.mesh.size() > config.d_hi) trim_mesh(now, key, topic);
}

// Above D_hi: keep the D_score best by score, fill to D at random, keep at least D_out
// outbound, prune the rest (with PX, so they find other peers).
void Router::Impl::trim_mesh(core::Instant now, TopicKey const& key, TopicState& topic) {
    std::vector<NodeId> members(topic.mesh.begin(), topic.mesh.end());
    shuffle(members, rng);
    std::stable_sort(members.begin(), members.end(),
                     [&](NodeId const& a, NodeId const& b) { return score(now, a) > score(now, b); });
    auto const rest_begin = members.begin() + static_cast<std::ptrdiff_t>(config.d_score);
    std::vector<NodeId> rest(rest_begin, members.end());
    shuffle(rest, rng);
    std::vector<NodeId> keep(members.begin(), rest_begin);
    keep.insert(keep.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(config.d - config.d_score));
    std::vector<NodeId> drop(rest.begin() + static_cast<std::ptrdiff_t>(config.d - config.d_score), rest.end());

    auto is_outbound = [&](NodeId const& id) { return peers.at(id).outbound; };
    std::size_t outbound = static_cast<std::size_t>(std::count_if(keep.begin(), keep.end(), is_outbound));
    // Swap inbound peers of the random part for outbound ones until the quota holds.
    for (auto d = drop.begin(); d != drop.end() && outbound < config.d_out; ++d) {
        if (!is_outbound(*d)) continue;
        auto victim = std::find_if(keep.rbegin(), keep.rend() - static_cast<std::ptrdiff_t>(config.d_score),
                                   [&](NodeId const& id) { return !is_outbound(id); });
        if (victim == keep.rend() - static_cast<std::ptrdiff_t>(config.d_score)) break;
        std::swap(*victim, *d);
        ++outbound;
    }
    for (auto const& id : drop) {
        topic.mesh.erase(id);
        scores.on_prune(id, key);
        prune(now, key, peers.at(id), config.prune_backoff, true);
    }
}

void Router::Impl::maintain_fanout(core::Instant now) {
    for (auto it = fanout.begin(); it != fanout.end();) {
        auto& f = it->second;
        if (now - f.last_publish > config.fanout_ttl) {
            it = fanout.erase(it);
            continue;
        }
        std::erase_if(f.peers, [&](NodeId const& id) {
            auto p = peers.find(id);
            return p == peers.end() || !p->second.topics.contains(it->first) ||
                   score(now, id) < config.score.publish_threshold;
        });
        if (f.peers.size() < config.d) {
            std::vector<NodeId> eligible;
            if (auto tp = topic_peers.find(it->first); tp != topic_peers.end()) {
                for (auto const& id : tp->second) {
                    if (!f.peers.contains(id) && score(now, id) >= config.score.publish_threshold) eligible.push_back(id);
                }
            }
            shuffle(eligible, rng);
            for (auto const& id : eligible) {
                if (f.peers.size() >= config.d) break;
                f.peers.insert(id);
            }
        }
        ++it;
    }
}

void Router::Impl::add_candidates(core::Instant now, TopicKey const& topic, std::vector<PeerAddress> fresh) {
    for (auto& p : fresh) add_candidate(now, topic, Candidate{std::move(p), std::nullopt, std::nullopt, {}, false});
}

void Router::Impl::add_candidate(core::Instant now, TopicKey const& topic, Candidate fresh) {
    if (!topics.contains(topic) && !fanout.contains(topic)) return;
    auto& p = fresh.peer;
    if (p.id == self.id || p.addrs.empty()) return;
    if (p.addrs.size() > config.limits.addrs_max) p.addrs.resize(config.limits.addrs_max);
    fresh.expires = now + config.candidate_ttl;
    auto& list = candidates[topic];
    auto it = std::find_if(list.begin(), list.end(), [&](auto const& c) { return c.peer.id == p.id; });
    if (it != list.end()) {
        // A round trip we measured stays (PX knows none); a new measurement replaces it.
        if (p.rtt.count() == 0) p.rtt = it->peer.rtt;
        else it->peer.rtt = p.rtt;
        // Proof beats hearsay: a checked record stays unless a newer checked one comes.
        bool const held_checked = it->record && it->record->verified && !it->rejected;
        bool const fresh_checked = fresh.record && fresh.record->verified;
        if (held_checked && (!fresh_checked || fresh.record->record.expires_ms <= it->record->record.expires_ms)) return;
        *it = std::move(fresh);
        return;
    }
    if (list.size() >= config.candidates_per_topic_max) {
        // Full: the candidate closest to expiry makes room (the stalest information).
        auto oldest = std::min_element(list.begin(), list.end(),
                                       [](auto const& a, auto const& b) { return a.expires < b.expires; });
        *oldest = std::move(fresh);
        return;
    }
    list.push_back(std::move(fresh));
}

}  // namespace pubsub
