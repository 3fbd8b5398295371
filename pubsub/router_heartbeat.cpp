// The router's heartbeat (every Config::heartbeat): score decay, broken IWANT promises,
// mesh repair and choking per subscribed topic, fanout upkeep, IHAVE gossip, mcache shift, and the
// expiry of every time-bounded table (seen-cache, backoffs, IDONTWANT, pending publishes,
// candidates, dials); then NeedPeers for thin topics and dials toward candidates.
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

void Router::Impl::heartbeat(core::Instant now) {
    ++stats.heartbeats;
    scores.decay(now);
    expire_promises(now);
    for (auto& [key, topic] : topics) {
        maintain_mesh(now, key, topic);
        maintain_chokes(key, topic);
    }
    maintain_fanout(now);
    emit_gossip(now);
    refresh_own_records(now);
    mcache.shift();
    expire_state(now);
    for (auto& [key, topic] : topics) need_peers(now, key, topic.need);
    for (auto& [key, f] : fanout) need_peers(now, key, f.need);
    maybe_dial(now);
    catchup_tick(now);
#if defined(CORE_EXPENSIVE_ASSERTS)
    check_invariants();
    for (auto const& [key, topic] : topics) CORE_ASSERT(topic.mesh.size() <= config.d_hi);
#endif
}

void Router::Impl::expire_promises(core::Instant now) {
    for (auto it = promises.begin(); it != promises.end();) {
        if (now < it->second.deadline) {
            ++it;
            continue;
        }
        // P7 only for peers still here; a peer that left is not worth a retained score.
        if (peers.contains(it->second.peer)) scores.add_behaviour_penalty(it->second.peer);
        ++stats.promises_broken;
        it = promises.erase(it);
    }
    std::erase_if(iwant_outstanding, [&](auto const& entry) { return now >= entry.second; });
}

// IHAVE with the recent message ids of each subscribed topic to max(D_lazy, factor x n)
// random non-mesh topic peers above the gossip threshold. Fanout topics do not gossip
// (PUBSUB-NOTES §5: a publisher outside the topic floods and stays quiet).
void Router::Impl::emit_gossip(core::Instant now) {
    for (auto const& [key, topic] : topics) {
        std::vector<MessageId> ids = mcache.gossip_ids(key);
        if (ids.empty()) continue;
        if (ids.size() > config.ihave_ids_max) {
            shuffle(ids, rng);
            ids.resize(config.ihave_ids_max);
        }
        auto tp = topic_peers.find(key);
        if (tp == topic_peers.end()) continue;
        std::vector<NodeId> eligible;
        for (auto const& id : tp->second) {
            if (!topic.mesh.contains(id) && score(now, id) >= config.score.gossip_threshold) eligible.push_back(id);
        }
        auto const by_factor = static_cast<std::size_t>(config.gossip_factor * static_cast<double>(eligible.size()));
        std::size_t const count = std::max(config.d_lazy, by_factor);
        shuffle(eligible, rng);
        if (eligible.size() > count) eligible.resize(count);
        for (auto const& id : eligible) {
            auto& p = peers.at(id);
            IHave ihave{key, {}};
            for (auto const& mid : ids) {
                if (peer_has(has_index.find(mid, now), p)) continue;
                ihave.ids.push_back(mid);
            }
            if (ihave.ids.empty()) continue;
            out(p.link, links::Priority::ihave).ihave.push_back(std::move(ihave));
            ++stats.control_count(ControlType::ihave, Direction::out);
        }
    }
}

void Router::Impl::expire_state(core::Instant now) {
    seen.expire(now);
    std::erase_if(backoffs, [&](auto const& entry) { return now >= entry.second.until; });
    for (auto& [id, p] : peers) {
        p.ihave_in = 0;
        p.iwant_ids_asked = 0;
        p.idontwant_in = 0;
        p.lazy_ids_in = 0;
    }
    has_index.expire(now);
    while (!pending.empty() && now >= pending.front().expires) {
        if (pending.front().sent_to.empty()) ++stats.drop(DropReason::pending_expired);
        pending_bytes -= pending.front().encoded.size();
        pending.pop_front();
    }
    for (auto it = candidates.begin(); it != candidates.end();) {
        bool const wanted = topics.contains(it->first) || fanout.contains(it->first);
        std::erase_if(it->second, [&](auto const& c) { return !wanted || c.rejected || now >= c.expires; });
        it = it->second.empty() ? candidates.erase(it) : std::next(it);
    }
    for (auto it = dials.begin(); it != dials.end();) {
        auto& d = it->second;
        if (d.in_flight && now - d.started >= config.dial_timeout) {
            d.in_flight = false;
            --dials_in_flight;
            ++stats.drop(DropReason::dial_timeout);
            d.backoff = d.backoff.count() == 0 ? config.dial_backoff : std::min(d.backoff * 2, config.dial_backoff_max);
            d.retry_after = now + d.backoff;
        }
        bool const forgettable = !d.in_flight && now >= d.retry_after + config.dial_backoff_max;
        it = forgettable ? dials.erase(it) : std::next(it);
    }
}

// Asks the host for topic peers while fewer than D_lo are usable (usable_peers): at most
// once per interval, the interval doubling while the topic stays thin (a lonely topic does not
// hammer the DHT) and resetting once it is healthy.
void Router::Impl::need_peers(core::Instant now, TopicKey const& topic, NeedPeersState& need) {
    if (usable_peers(now, topic) >= config.d_lo) {
        need.interval = config.need_peers_interval;
        return;
    }
    if (now < need.next) return;
    emit(NeedPeers{topic});
    ++stats.need_peers;
    need.next = now + need.interval;
    need.interval = std::min(need.interval * 2, config.need_peers_interval_max);
}

// Dials candidates of topics with fewer than D usable peers (usable_peers), within the
// link and in-flight bounds: candidates the host measured a round trip to first, nearest
// first (the link's handshake costs two round trips, so a near peer is up soonest), then
// the others in random order; in each, candidates from subnets not already chosen first
// (diversity against one operator filling the mesh).
void Router::Impl::start_dial(core::Instant now, PeerAddress const& peer) {
    auto& d = dials[peer.id];
    d.in_flight = true;
    d.started = now;
    ++dials_in_flight;
    ++stats.dials;
    emit(Dial{peer});
}

void Router::Impl::maybe_dial(core::Instant now) {
    std::set<std::uint64_t> subnets_chosen;
    for (auto& [topic, list] : candidates) {
        // Dials already on the way to this topic's candidates count as peers to come.
        std::size_t const usable = usable_peers(now, topic);
        std::size_t expected = usable;
        std::size_t near_in_flight = 0;
        std::vector<Candidate*> eligible;
        for (auto& c : list) {
            if (c.rejected || peers.contains(c.peer.id)) continue;
            auto d = dials.find(c.peer.id);
            bool const in_flight = d != dials.end() && d->second.in_flight;
            expected += in_flight;
            near_in_flight += in_flight && c.peer.rtt.count() > 0;
            if (in_flight || (d != dials.end() && now < d->second.retry_after)) continue;
            eligible.push_back(&c);
        }
        bool const waiting = usable == 0 && has_pending(now, topic);
        std::size_t const target = waiting ? std::max(config.d, config.pending_dials) : config.d;
        std::size_t wanted = expected >= target ? 0 : target - expected;
        // An own message waits for its first link: a measured candidate (a provider that
        // answered our near probe) is dialed even beyond the target, up to pending_near_dials
        // in flight, since it is likely the first link up.
        std::size_t near_extra = waiting && near_in_flight < config.pending_near_dials
                                     ? config.pending_near_dials - near_in_flight : 0;
        if (wanted == 0 && near_extra == 0) continue;
        shuffle(eligible, rng);
        std::stable_sort(eligible.begin(), eligible.end(), [](Candidate const* a, Candidate const* b) {
            auto const ra = a->peer.rtt.count(), rb = b->peer.rtt.count();
            return ra > 0 && (rb == 0 || ra < rb);
        });
        // Two passes: first one per new subnet, then anyone.
        for (int pass = 0; pass < 2 && wanted > 0; ++pass) {
            for (auto* c : eligible) {
                if (wanted == 0) break;
                if (dials_in_flight >= config.dials_in_flight_max || peers.size() + dials_in_flight >= config.links_max) return;
                if (c->rejected) continue;
                if (auto d = dials.find(c->peer.id); d != dials.end() && d->second.in_flight) continue;
                std::uint64_t const subnet = c->peer.addrs.front().subnet_key();
                if (pass == 0 && subnets_chosen.contains(subnet)) continue;
                // Verified here, not on arrival: only the records actually dialed cost a verify.
                if (!candidate_verified(*c)) continue;
                if (pass == 0) subnets_chosen.insert(subnet);
                start_dial(now, c->peer);
                --wanted;
                if (c->peer.rtt.count() > 0 && near_extra > 0) --near_extra;
            }
        }
        for (auto* c : eligible) {
            if (near_extra == 0 || c->peer.rtt.count() == 0) break;  // measured ones are first
            if (dials_in_flight >= config.dials_in_flight_max || peers.size() + dials_in_flight >= config.links_max) return;
            if (c->rejected) continue;
            if (auto d = dials.find(c->peer.id); d != dials.end() && d->second.in_flight) continue;
            if (!candidate_verified(*c)) continue;
            start_dial(now, c->peer);
            --near_extra;
            ++stats.near_dials;
        }
    }
}

}  // namespace pubsub
