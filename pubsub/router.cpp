// pubsub::Router's public surface: construction, links, commands (subscribe, unsubscribe,
// publish, add_peers), the output queues and observation. The receive path, the mesh and
// the heartbeat are in the other router_*.cpp files (map in router_impl.hpp).
#include "pubsub/router.hpp"

#include "core/assert.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/router_impl.hpp"
#include "pubsub/topic.hpp"

#include <algorithm>

namespace pubsub {

Router::Impl::Impl(Config const& c, core::Identity const& s, MessageStore& st, core::Rng r, core::Instant now,
                   core::WallClockAnchor w, std::uint64_t first_seqno)
    : config(c),
      self(s),
      store(st),
      rng(r),
      wall(w),
      next_seqno(first_seqno),
      signer(s),
      seen(c.seen_ttl, c.seen_max),
      // Per peer as many ids as its IDONTWANTs may name while they are honoured.
      has_index(c.idontwant_per_heartbeat_max * (c.idontwant_heartbeats + 1)),
      mcache(c.mcache_windows, c.mcache_gossip_windows),
      scores(c.score),
      next_heartbeat(now + c.heartbeat) {
    CORE_ASSERT(c.d_lo <= c.d && c.d <= c.d_hi);
    CORE_ASSERT(c.d_score <= c.d && c.d_out <= c.d_lo);
    CORE_ASSERT(c.heartbeat.count() > 0);
    CORE_ASSERT(c.px_max <= c.limits.px_max);
}

Rpc& Router::Impl::out(LinkId link, links::Priority priority) { return outbox[{link, priority}]; }

void Router::Impl::flush() {
    for (auto& [key, rpc] : outbox) {
        if (rpc.empty()) continue;
        for (auto& frame : split_rpc(std::move(rpc), config.limits, config.rpc_message_bytes_max)) {
            sends.push_back(Send{key.first, key.second, std::move(frame)});
        }
    }
    outbox.clear();
}

Router::Impl::PeerState* Router::Impl::peer_of_link(LinkId link) {
    auto it = links.find(link);
    return it == links.end() ? nullptr : peer(it->second);
}

Router::Impl::PeerState* Router::Impl::peer(NodeId const& id) {
    auto it = peers.find(id);
    return it == peers.end() ? nullptr : &it->second;
}

void Router::Impl::remove_peer(core::Instant now, NodeId const& id) {
    auto it = peers.find(id);
    if (it == peers.end()) return;
    for (auto const& topic : it->second.topics) {
        auto tp = topic_peers.find(topic);
        if (tp != topic_peers.end()) {
            tp->second.erase(id);
            if (tp->second.empty()) topic_peers.erase(tp);
        }
    }
    for (auto& [key, topic] : topics) {
        if (topic.mesh.erase(id)) scores.on_prune(id, key);
    }
    for (auto& [key, f] : fanout) f.peers.erase(id);
    catchup_peer_gone(now, id);
    // Outbox entries for its links would go nowhere.
    std::erase_if(outbox, [&](auto const& entry) { return entry.first.first == it->second.link; });
    scores.on_disconnected(now, id);
    if (it->second.has_slot) has_index.release(*it->second.has_slot);
    peers.erase(it);
}

char const* to_string(Arrival arrival) {
    switch (arrival) {
        case Arrival::own: return "own";
        case Arrival::mesh: return "mesh";
        case Arrival::push: return "push";
        case Arrival::iwant: return "iwant";
        case Arrival::catchup: return "catchup";
    }
    return "unknown";
}

void Router::Impl::deliver(TopicKey const& key, Message message, Arrival arrival) {
    auto it = topics.find(key);
    CORE_ASSERT(it != topics.end());
    ++it->second.delivered;
    ++stats.delivered;
    emit(Delivered{it->second.name, std::move(message), arrival});
}

// Sends the pending own publishes of `topic` to a peer that just showed up in it.
void Router::Impl::send_pending_to(core::Instant now, TopicKey const& topic, PeerState& p) {
    if (score(now, p.id) < config.score.publish_threshold) return;
    for (auto& entry : pending) {
        if (entry.topic != topic || now >= entry.expires) continue;
        if (!entry.sent_to.insert(p.id).second) continue;
        out(p.link, links::Priority::own_publish).messages.push_back(entry.encoded);
        ++stats.pending_sent;
        ++stats.publish_sends;
    }
}

void Router::Impl::send_pending_to_dialed(core::Instant now, PeerState& p) {
    std::set<TopicKey> topics_pending;
    for (auto const& entry : pending) topics_pending.insert(entry.topic);
    for (auto const& topic : topics_pending) {
        auto c = candidates.find(topic);
        if (c == candidates.end()) continue;
        bool const named = std::any_of(c->second.begin(), c->second.end(),
                                       [&](Candidate const& cand) { return cand.peer.id == p.id; });
        if (named) send_pending_to(now, topic, p);
    }
}

bool Router::Impl::has_pending(core::Instant now, TopicKey const& topic) const {
    return std::any_of(pending.begin(), pending.end(), [&](auto const& e) { return e.topic == topic && now < e.expires; });
}

void Router::Impl::queue_pending(core::Instant now, Message const& message, std::vector<NodeId> const& sent_to) {
    std::size_t in_topic = 0;
    for (auto const& entry : pending) in_topic += entry.topic == message.topic;
    // Bounded per topic and in bytes: the oldest goes first, counted if nobody got it.
    auto evict_oldest_of = [&](bool same_topic_only) {
        auto it = std::find_if(pending.begin(), pending.end(),
                               [&](auto const& e) { return !same_topic_only || e.topic == message.topic; });
        if (it == pending.end()) return;
        if (it->sent_to.empty()) ++stats.drop(DropReason::pending_full);
        pending_bytes -= it->encoded.size();
        in_topic -= it->topic == message.topic;
        pending.erase(it);
    };
    while (in_topic >= config.pending_per_topic_max && in_topic > 0) evict_oldest_of(true);
    while (!pending.empty() && pending_bytes + message.encoded.size() > config.pending_bytes_max) evict_oldest_of(false);
    if (config.pending_per_topic_max == 0 || message.encoded.size() > config.pending_bytes_max) return;
    pending.push_back(Pending{message.topic, message.id, message.encoded, now + config.pending_ttl,
                              std::set<NodeId>(sent_to.begin(), sent_to.end())});
    pending_bytes += message.encoded.size();
}

void Router::Impl::check_invariants() const {
    for (auto const& [link, id] : links) CORE_ASSERT(peers.contains(id));
    for (auto const& [key, topic] : topics) {
        for (auto const& id : topic.mesh) {
            auto p = peers.find(id);
            CORE_ASSERT(p != peers.end());
            CORE_ASSERT(p->second.topics.contains(key));
        }
    }
}

// ---------------------------------------------------------------------------------------

Router::Router(Config const& config, core::Identity const& self, MessageStore& store, core::Rng rng,
               core::Instant now, core::WallClockAnchor wall, std::uint64_t first_seqno)
    : impl_(std::make_unique<Impl>(config, self, store, rng, now, wall, first_seqno)) {}

Router::~Router() = default;

void Router::handle_link_up(core::Instant now, LinkId link, NodeId const& peer_id, bool outbound,
                            std::optional<std::uint64_t> ip_group) {
    auto& m = *impl_;
    if (m.links.contains(link)) return;
    if (auto d = m.dials.find(peer_id); d != m.dials.end() && d->second.in_flight) {
        d->second.in_flight = false;
        d->second.backoff = {};
        --m.dials_in_flight;
    }
    if (peer_id == m.self.id) {
        ++m.stats.drop(DropReason::self_link);
        m.emit(CloseLink{link});
        return;
    }
    m.links[link] = peer_id;
    if (auto* existing = m.peer(peer_id)) {
        // Both sides keep the link dialed by the smaller id, so they agree without talking.
        bool const new_wins = (m.self.id < peer_id) == outbound && existing->outbound != outbound;
        ++m.stats.drop(DropReason::duplicate_link);
        if (new_wins) {
            m.emit(CloseLink{existing->link});
            existing->extra_links.push_back(existing->link);
            existing->link = link;
            existing->outbound = outbound;
        } else {
            m.emit(CloseLink{link});
            existing->extra_links.push_back(link);
        }
        return;
    }
    ++m.stats.links_up;
    auto& p = m.peers[peer_id];
    p.id = peer_id;
    p.link = link;
    p.outbound = outbound;
    p.has_slot = m.has_index.acquire();
    m.scores.on_connected(peer_id, ip_group);
    // Announce every subscription on the new link (GossipSub hello). Our signed records
    // follow once the peer says which of these topics it shares (on_subscription).
    Rpc& hello = m.out(link, links::Priority::control);
    for (auto const& [key, topic] : m.topics) hello.subscriptions.push_back(SubOpt{key, true});
    // A publisher outside the topic (fanout) dials the providers the DHT named and holds
    // its message pending until a topic peer shows up. The peer we dialed as a provider
    // is one: send the pending publishes now, in the same flight as the handshake's last
    // message and the hello, rather than a round trip later when its subscription comes
    // back. The handshake has already proved the peer's identity to us (the link layer
    // delivers link-up to an initiator only after checking the responder's static key
    // and node id). If its record was stale, it drops the message as an unknown topic
    // (no score cost) and the message stays pending for the next topic peer.
    if (outbound) m.send_pending_to_dialed(now, p);
    m.maybe_dial(now);
}

void Router::handle_link_down(core::Instant now, LinkId link) {
    auto& m = *impl_;
    auto it = m.links.find(link);
    if (it == m.links.end()) return;
    NodeId const id = it->second;
    m.links.erase(it);
    auto* p = m.peer(id);
    CORE_ASSERT(p != nullptr);
    if (std::erase(p->extra_links, link) > 0) return;
    if (!p->extra_links.empty()) {
        // The surviving duplicate takes over; the peer's state is the same peer's.
        p->link = p->extra_links.back();
        p->extra_links.pop_back();
        return;
    }
    ++m.stats.links_down;
    m.remove_peer(now, id);
    m.maybe_dial(now);
}

void Router::handle_dial_failed(core::Instant now, NodeId const& peer) {
    auto& m = *impl_;
    ++m.stats.dials_failed;
    auto& d = m.dials[peer];
    if (d.in_flight) {
        d.in_flight = false;
        --m.dials_in_flight;
    }
    d.backoff = d.backoff.count() == 0 ? m.config.dial_backoff : std::min(d.backoff * 2, m.config.dial_backoff_max);
    d.retry_after = now + d.backoff;
    m.maybe_dial(now);
}

void Router::handle_rpc(core::Instant now, LinkId link, Rpc rpc) {
    auto& m = *impl_;
    auto* p = m.peer_of_link(link);
    if (p == nullptr) {
        ++m.stats.drop(DropReason::unknown_link);
        return;
    }
    m.on_rpc(now, *p, std::move(rpc));
}

void Router::handle_bad_frame(core::Instant, LinkId link, core::DecodeError) {
    auto& m = *impl_;
    ++m.stats.drop(DropReason::bad_frame);
    // Garbage costs like an invalid message: a peer that keeps sending it is graylisted.
    if (auto* p = m.peer_of_link(link)) m.scores.on_invalid_message(p->id);
}

void Router::handle_timeout(core::Instant now) {
    auto& m = *impl_;
    if (now < m.next_heartbeat) return;
    m.heartbeat(now);
    // A late call (host busy) does not make heartbeats pile up.
    m.next_heartbeat = std::max(m.next_heartbeat + m.config.heartbeat, now + m.config.heartbeat / 2);
}

namespace {
bool valid_topic_name(Config const& config, std::string_view name) {
    return !name.empty() && name.size() <= config.topic_name_max;
}
}  // namespace

core::Result<void, PublishError> Router::subscribe(core::Instant now, std::string_view name) {
    auto& m = *impl_;
    if (!valid_topic_name(m.config, name)) return core::Err(PublishError::bad_topic);
    TopicKey const key = topic_key(name);
    if (m.topics.contains(key)) return {};
    if (m.topics.size() >= m.config.topics_max) return core::Err(PublishError::too_many_topics);
    auto& topic = m.topics[key];
    topic.name = std::string(name);
    topic.need.interval = m.config.need_peers_interval;
    for (auto& [id, p] : m.peers) {
        m.out(p.link, links::Priority::control).subscriptions.push_back(SubOpt{key, true});
        if (p.topics.contains(key)) m.send_own_record(now, key, p);
    }
    m.emit(Announce{key});
    // Fanout peers already carry our messages for this topic: they become the mesh first.
    if (auto f = m.fanout.find(key); f != m.fanout.end()) {
        for (auto const& id : f->second.peers) {
            if (topic.mesh.size() >= m.config.d) break;
            if (m.can_graft(now, key, topic, id)) m.graft(now, key, topic, *m.peer(id));
        }
        m.fanout.erase(f);
    }
    m.fill_mesh(now, key, topic, m.config.d, false);
    m.need_peers(now, key, topic.need);
    m.maybe_dial(now);
    // Then what was missed while away (or before joining), once live traffic flows.
    m.plan_catchup(now, key);
    return {};
}

void Router::unsubscribe(core::Instant now, std::string_view name) {
    auto& m = *impl_;
    TopicKey const key = topic_key(name);
    auto it = m.topics.find(key);
    if (it == m.topics.end()) return;
    for (auto const& id : std::set<NodeId>(it->second.mesh)) {
        it->second.mesh.erase(id);
        m.scores.on_prune(id, key);
        m.prune(now, key, *m.peer(id), m.config.unsubscribe_backoff, false);
    }
    for (auto const& [id, p] : m.peers) m.out(p.link, links::Priority::control).subscriptions.push_back(SubOpt{key, false});
    m.topics.erase(it);
    m.own_records.erase(key);
    m.forget_catchup(key);
    m.emit(Withdraw{key});
}

core::Result<PublishReceipt, PublishError> Router::publish(core::Instant now, std::string_view name,
                                                           core::ByteView payload) {
    auto& m = *impl_;
    if (!valid_topic_name(m.config, name)) return core::Err(PublishError::bad_topic);
    if (payload.size() > m.config.limits.payload_max) return core::Err(PublishError::too_large);
    TopicKey const key = topic_key(name);
    bool const subscribed = m.topics.contains(key);
    if (!subscribed && !m.fanout.contains(key) && m.fanout.size() >= m.config.topics_max) {
        return core::Err(PublishError::too_many_topics);
    }
    std::int64_t const ts = std::max<std::int64_t>(0, m.wall_ms(now));
    Message message = sign_message(m.self, key, m.next_seqno++, ts, payload);
    ++m.stats.published;
    PublishReceipt receipt;
    receipt.id = message.id;
    receipt.seqno = message.seqno;
    receipt.ts_ms = message.ts_ms;
    receipt.peers = m.send_own(now, name, message);
    if (subscribed) {
        if (m.store.put(message) == StoreStatus::full) ++m.stats.drop(DropReason::store_full);
        m.deliver(key, message, Arrival::own);
    }
    m.ask_for_peers(now, key);
    receipt.message = std::move(message);
    return receipt;
}

core::Result<PublishReceipt, PublishError> Router::republish(core::Instant now, std::string_view name,
                                                             Message const& message) {
    auto& m = *impl_;
    if (!valid_topic_name(m.config, name) || topic_key(name) != message.topic) return core::Err(PublishError::bad_topic);
    bool const known = m.topics.contains(message.topic) || m.fanout.contains(message.topic);
    if (!known && m.fanout.size() >= m.config.topics_max) return core::Err(PublishError::too_many_topics);
    PublishReceipt receipt;
    receipt.id = message.id;
    receipt.seqno = message.seqno;
    receipt.ts_ms = message.ts_ms;
    receipt.peers = m.send_own(now, name, message);
    m.ask_for_peers(now, message.topic);
    return receipt;
}

std::size_t Router::Impl::send_own(core::Instant now, std::string_view name, Message const& message) {
    auto& m = *this;
    TopicKey const& key = message.topic;
    bool const subscribed = m.topics.contains(key);
    m.seen.insert(now, message.id);
    m.mcache.put(message.id, key, message.encoded);

    // Targets: with flood publish every topic peer above the publish threshold; else the
    // mesh, or the fanout set for a topic we do not subscribe to.
    std::vector<NodeId> targets;
    auto const publishable = [&](NodeId const& id) { return m.score(now, id) >= m.config.score.publish_threshold; };
    if (!subscribed) {
        auto [f, created] = m.fanout.try_emplace(key);
        if (created) {
            f->second.name = std::string(name);
            f->second.need.interval = m.config.need_peers_interval;
        }
        f->second.last_publish = now;
        m.maintain_fanout(now);
    }
    if (m.config.flood_publish) {
        if (auto tp = m.topic_peers.find(key); tp != m.topic_peers.end()) {
            for (auto const& id : tp->second) if (publishable(id)) targets.push_back(id);
        }
    } else {
        auto const& set = subscribed ? m.topics[key].mesh : m.fanout[key].peers;
        targets.assign(set.begin(), set.end());
    }
    for (auto const& id : targets) {
        auto& rpc = m.out(m.peer(id)->link, links::Priority::own_publish);
        rpc.messages.push_back(message.encoded);
        if (m.config.flood_publish) m.add_flood_hint(rpc, message.seqno, targets, id);
        ++m.stats.publish_sends;
    }
    // Too few peers to be sure it spreads: keep it for the topic peers that show up soon.
    if (targets.size() < m.config.d_lo) m.queue_pending(now, message, targets);
    return targets.size();
}

void Router::Impl::add_flood_hint(Rpc& rpc, std::uint64_t seqno, std::vector<NodeId> const& targets,
                                  NodeId const& to) {
    if (targets.size() < 2) return;
    FloodHint hint{seqno, {}};
    // One allocation, not one per doubling: this runs for every target of every publish.
    hint.peers.reserve(std::min(targets.size() - 1, config.limits.flood_hint_peers_max));
    for (auto const& id : targets) {
        if (hint.peers.size() >= config.limits.flood_hint_peers_max) break;
        if (id != to) hint.peers.push_back(flood_hint_prefix(id));
    }
    rpc.flooded.push_back(std::move(hint));
}

void Router::Impl::ask_for_peers(core::Instant now, TopicKey const& key) {
    if (topics.contains(key)) need_peers(now, key, topics[key].need);
    else need_peers(now, key, fanout[key].need);
    maybe_dial(now);
}

void Router::set_listen_addresses(std::vector<core::Endpoint> addrs) {
    // A wildcard or port-0 address names no place to dial.
    std::erase_if(addrs, [](core::Endpoint const& e) { return e.port == 0 || e.is_unspecified(); });
    std::size_t const max = std::min(impl_->config.limits.addrs_max, dht::provider_addrs_max);
    if (addrs.size() > max) addrs.resize(max);
    impl_->listen = std::move(addrs);
    // Records naming the old addresses are signed again at the next heartbeat.
    impl_->own_records.clear();
}

void Router::add_peers(core::Instant now, TopicKey const& topic, std::vector<PeerAddress> peers) {
    impl_->add_candidates(now, topic, std::move(peers));
    impl_->maybe_dial(now);
}

void Router::add_provider_records(core::Instant now, TopicKey const& topic, std::vector<PeerRecord> records,
                                  std::vector<core::Duration> const& rtts) {
    auto& m = *impl_;
    for (std::size_t i = 0; i < records.size(); ++i) {
        auto& r = records[i];
        if (r.topic != topic) continue;  // the host asked for `topic`; nothing else is a candidate for it
        PeerAddress peer{r.node_id, r.addrs, i < rtts.size() ? rtts[i] : core::Duration{0}};
        m.add_candidate(now, topic, Impl::Candidate{std::move(peer), Impl::HeldRecord{std::move(r), true}, std::nullopt, {}, false});
    }
    m.maybe_dial(now);
}

void Router::set_validator(Validator validator) { impl_->validator = std::move(validator); }

std::optional<Send> Router::poll_send() {
    auto& m = *impl_;
    if (m.sends.empty()) m.flush();
    if (m.sends.empty()) return std::nullopt;
    Send s = std::move(m.sends.front());
    m.sends.pop_front();
    return s;
}

std::optional<Event> Router::poll_event() {
    auto& m = *impl_;
    if (m.events.empty()) return std::nullopt;
    Event e = std::move(m.events.front());
    m.events.pop_front();
    return e;
}

std::optional<core::Instant> Router::next_wakeup() const { return impl_->next_heartbeat; }

Stats const& Router::stats() const { return impl_->stats; }

std::vector<TopicInfo> Router::topics() const {
    auto const& m = *impl_;
    std::vector<TopicInfo> out;
    auto known = [&](TopicKey const& key) { return m.known_peers(key); };
    for (auto const& [key, t] : m.topics) out.push_back(TopicInfo{t.name, key, true, t.mesh.size(), known(key), t.delivered});
    for (auto const& [key, f] : m.fanout) out.push_back(TopicInfo{f.name, key, false, 0, known(key), 0});
    return out;
}

std::vector<double> Router::peer_scores(core::Instant now) const {
    std::vector<double> out;
    for (auto const& [id, p] : impl_->peers) out.push_back(impl_->score(now, id));
    return out;
}

double Router::peer_score(core::Instant now, NodeId const& peer) const { return impl_->score(now, peer); }

ScoreParts Router::peer_score_parts(core::Instant now, NodeId const& peer) const {
    return impl_->scores.parts(now, peer);
}

std::vector<NodeId> Router::mesh(TopicKey const& topic) const {
    auto it = impl_->topics.find(topic);
    if (it == impl_->topics.end()) return {};
    return {it->second.mesh.begin(), it->second.mesh.end()};
}

std::vector<NodeId> Router::topic_peers(TopicKey const& topic) const {
    auto it = impl_->topic_peers.find(topic);
    if (it == impl_->topic_peers.end()) return {};
    return {it->second.begin(), it->second.end()};
}

NodeId const& Router::id() const { return impl_->self.id; }

}  // namespace pubsub
