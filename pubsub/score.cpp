#include "pubsub/score.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace pubsub {

ScoreTable::PeerScore& ScoreTable::peer_entry(NodeId const& peer) { return peers_[peer]; }

void ScoreTable::on_connected(NodeId const& peer, std::optional<std::uint64_t> group) {
    auto& p = peer_entry(peer);
    if (p.connected) return;
    if (p.retained) --retained_;
    p.connected = true;
    p.retained = false;
    p.group = group;
    if (group) ++group_counts_[*group];
}

void ScoreTable::on_disconnected(core::Instant now, NodeId const& peer) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.connected) return;
    auto& p = it->second;
    CORE_ASSERT(!p.retained);
    p.connected = false;
    if (p.group) {
        if (--group_counts_[*p.group] == 0) group_counts_.erase(*p.group);
        p.group.reset();
    }
    for (auto& [topic, t] : p.topics) t.mesh_since.reset();
    // Only a penalty is worth remembering; a clean score is rebuilt from zero.
    if (p.invalid == 0 && p.behaviour == 0) {
        peers_.erase(it);
        return;
    }
    p.retain_until = now + config_.retain;
    p.retained = true;
    ++retained_;
    if (retained_ > config_.retained_max) forget_oldest_retained();
}

void ScoreTable::forget_oldest_retained() {
    auto oldest = peers_.end();
    for (auto it = peers_.begin(); it != peers_.end(); ++it) {
        if (it->second.connected) continue;
        if (!it->second.retained) continue;
        if (oldest == peers_.end() || it->second.retain_until < oldest->second.retain_until) oldest = it;
    }
    if (oldest == peers_.end()) return;
    peers_.erase(oldest);
    --retained_;
}

void ScoreTable::on_graft(core::Instant now, NodeId const& peer, TopicKey const& topic) {
    auto& t = peer_entry(peer).topics[topic];
    if (!t.mesh_since) t.mesh_since = now;
}

void ScoreTable::on_prune(NodeId const& peer, TopicKey const& topic) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    auto t = it->second.topics.find(topic);
    if (t != it->second.topics.end()) t->second.mesh_since.reset();
}

void ScoreTable::on_first_delivery(NodeId const& peer, TopicKey const& topic) {
    auto& t = peer_entry(peer).topics[topic];
    t.first_deliveries = std::min(t.first_deliveries + 1.0, config_.first_delivery_cap);
}

void ScoreTable::on_invalid_message(NodeId const& peer) { peer_entry(peer).invalid += 1.0; }

void ScoreTable::add_behaviour_penalty(NodeId const& peer, double count) { peer_entry(peer).behaviour += count; }

void ScoreTable::decay(core::Instant now) {
    auto decay_one = [&](double& v, double factor) {
        v *= factor;
        if (v < config_.decay_to_zero) v = 0;
    };
    for (auto it = peers_.begin(); it != peers_.end();) {
        auto& p = it->second;
        if (!p.connected && (!p.retained || now >= p.retain_until)) {
            if (p.retained) --retained_;
            it = peers_.erase(it);
            continue;
        }
        decay_one(p.invalid, config_.invalid_decay);
        decay_one(p.behaviour, config_.behaviour_decay);
        for (auto t = p.topics.begin(); t != p.topics.end();) {
            decay_one(t->second.first_deliveries, config_.first_delivery_decay);
            if (!t->second.mesh_since && t->second.first_deliveries == 0) t = p.topics.erase(t);
            else ++t;
        }
        ++it;
    }
}

ScoreParts ScoreTable::parts(core::Instant now, NodeId const& peer) const {
    ScoreParts s;
    auto it = peers_.find(peer);
    if (it == peers_.end()) return s;
    auto const& p = it->second;
    for (auto const& [topic, t] : p.topics) {
        if (t.mesh_since) {
            double const seconds = std::min(core::to_seconds(now - *t.mesh_since), config_.time_in_mesh_cap_s);
            s.time_in_mesh += config_.time_in_mesh_weight * seconds;
        }
        s.first_delivery += config_.first_delivery_weight * t.first_deliveries;
    }
    s.invalid = config_.invalid_weight * p.invalid * p.invalid;
    if (p.group) {
        auto g = group_counts_.find(*p.group);
        double const surplus = static_cast<double>(g->second) - config_.colocation_threshold;
        if (surplus > 0) s.colocation = config_.colocation_weight * surplus * surplus;
    }
    double const excess = p.behaviour - config_.behaviour_threshold;
    if (excess > 0) s.behaviour = config_.behaviour_weight * excess * excess;
    return s;
}

}  // namespace pubsub
