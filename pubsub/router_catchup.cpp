// Catch-up and anti-entropy (PUBSUB-NOTES §4, the durable-history issue), both roles:
//   after a (re)subscribe   wait start_delay (the mesh forms, live traffic flows), then
//                           reconcile [newest stored - overlap, now] with `peers` topic
//                           peers (mesh first) and FETCH what they have and we lack; a gap
//                           older than window_max goes to paged HISTORY requests;
//   every anti_entropy_interval (jittered), per subscribed topic: the same with one random
//                           mesh peer over the last anti_entropy_window, ending 20 s ago
//                           (what is younger may still be in flight);
//   responder               SYNC rounds from a session's keys, FETCH/HISTORY replies from
//                           the store within a byte bucket per peer.
// Fetched messages are validated like live ones (§3: decode, topic, duplicate, timestamp,
// signature, validator), stored and delivered once, marked caught_up, in ascending
// (ts_ms, id) order per reply; one still younger than seen_ttl is relayed to the mesh like
// a live one (a healed partition's other side lacks it too), older ones are not.
// Each anti-entropy run also explores: fresh provider records and a dial to one unlinked
// candidate, so a mesh split by a partition grows links across the old cut.
// Not the reconciliation algorithm (reconcile.cpp) and not the store (message_store.hpp).
#include "core/assert.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/router_impl.hpp"

#include <algorithm>

namespace pubsub {

namespace {

std::int64_t to_ms(core::Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

// What lingers in flight: anti-entropy windows end this long before now.
constexpr core::Duration in_flight_margin = 20s;
// A plan with no peer to ask is retried this often, this many times; after that the topic
// waits for anti-entropy.
constexpr core::Duration plan_retry = 2s;
constexpr std::size_t plan_attempts_max = 30;
// After a catch-up pass: this many anti-entropy runs this far apart (jittered), each with
// a random topic peer, before the steady interval.
constexpr std::size_t followups_after_catchup = 3;
constexpr core::Duration followup_interval = 20s;

std::size_t reply_bytes(Fetched const& f) {
    std::size_t n = 16;
    for (auto const& m : f.messages) n += m.size() + 5;
    return n;
}

}  // namespace

reconcile::Limits Router::Impl::reconcile_limits() const {
    reconcile::Limits l;
    l.frame_bytes_max = config.limits.sync_body_max;
    return l;
}

std::uint32_t Router::Impl::next_catchup_number() {
    std::uint32_t n = catchup.next_number++;
    if (catchup.next_number == 0) catchup.next_number = 1;
    return n;
}

// --- Requester: plans and sessions. ---------------------------------------------------

void Router::Impl::plan_catchup(core::Instant now, TopicKey const& key) {
    auto const& cc = config.catchup;
    if (!cc.enabled) return;
    std::int64_t const now_ms = wall_ms(now);
    std::int64_t const window_start = now_ms - to_ms(cc.window_max);
    CatchupPlan plan;
    plan.start_at = now + cc.start_delay;
    auto newest = store.last(key, 1);
    if (newest.empty()) {
        // Nothing kept: the whole window, and no known gap before it.
        plan.from_ms = plan.history_from_ms = window_start;
    } else {
        std::int64_t const from = newest.front().ts_ms - to_ms(cc.overlap);
        plan.from_ms = std::max(from, window_start);
        plan.history_from_ms = std::min(from, plan.from_ms);
    }
    catchup.plans[key] = std::move(plan);
    catchup.next_anti_entropy[key] = now + jittered(cc.anti_entropy_interval);
}

core::Duration Router::Impl::jittered(core::Duration d) {
    auto const quarter = d / 4;
    if (quarter.count() <= 0) return d;
    auto const span = static_cast<std::uint64_t>(quarter.count()) * 2;
    return d - quarter + core::Duration(static_cast<core::Duration::rep>(rng.uniform(span)));
}

void Router::Impl::forget_catchup(TopicKey const& key) {
    catchup.plans.erase(key);
    catchup.budgets.erase(key);
    catchup.next_anti_entropy.erase(key);
    catchup.thin_passes.erase(key);
    catchup.followups.erase(key);
    std::vector<std::uint32_t> ended;
    for (auto const& [n, s] : catchup.sessions)
        if (s.topic == key) ended.push_back(n);
    for (auto n : ended) end_session(n, SyncOutcome::partial);
    std::erase_if(catchup.histories, [&](auto const& h) { return h.second.topic == key; });
}

// Peers to reconcile with: mesh peers first, then other topic peers; never one already
// tried by this plan or below zero score; shuffled so two returning nodes spread their load.
std::vector<NodeId> Router::Impl::catchup_peers(core::Instant now, TopicKey const& key, std::set<NodeId> const& exclude,
                                                std::size_t want) {
    std::vector<NodeId> mesh_peers, others;
    auto const usable = [&](NodeId const& id) {
        if (exclude.contains(id) || score(now, id) < 0) return false;
        for (auto const& [n, s] : catchup.sessions)
            if (s.peer == id && s.topic == key) return false;
        return true;
    };
    auto t = topics.find(key);
    if (t != topics.end())
        for (auto const& id : t->second.mesh)
            if (usable(id)) mesh_peers.push_back(id);
    if (auto tp = topic_peers.find(key); tp != topic_peers.end())
        for (auto const& id : tp->second)
            if ((t == topics.end() || !t->second.mesh.contains(id)) && usable(id)) others.push_back(id);
    for (auto* v : {&mesh_peers, &others})
        for (std::size_t i = v->size(); i > 1; --i) std::swap((*v)[i - 1], (*v)[rng.uniform(i)]);
    mesh_peers.insert(mesh_peers.end(), others.begin(), others.end());
    if (mesh_peers.size() > want) mesh_peers.resize(want);
    return mesh_peers;
}

void Router::Impl::run_plans(core::Instant now) {
    std::int64_t const now_ms = wall_ms(now);
    for (auto it = catchup.plans.begin(); it != catchup.plans.end();) {
        auto& [key, plan] = *it;
        if (now < plan.start_at) {
            ++it;
            continue;
        }
        auto chosen = catchup_peers(now, key, plan.tried, config.catchup.peers);
        if (chosen.empty()) {
            if (++plan.attempts >= plan_attempts_max) {
                it = catchup.plans.erase(it);
                continue;
            }
            plan.start_at = now + plan_retry;
            ++it;
            continue;
        }
        catchup.budgets[key] = {};
        for (auto const& id : chosen) start_session(now, key, id, plan.from_ms, now_ms + 1, false);
        if (plan.history_from_ms < plan.from_ms) start_history(now, key, chosen.front(), plan.history_from_ms, plan.from_ms, std::nullopt);
        catchup.followups[key] = followups_after_catchup;
        catchup.next_anti_entropy[key] = now + jittered(followup_interval);
        if (auto t = topics.find(key); t != topics.end() && t->second.mesh.size() < config.d_lo) {
            catchup.thin_passes.insert(key);
        } else {
            catchup.thin_passes.erase(key);
        }
        it = catchup.plans.erase(it);
    }
}

void Router::Impl::run_anti_entropy(core::Instant now) {
    auto const& cc = config.catchup;
    if (!cc.enabled || cc.anti_entropy_interval.count() <= 0) return;
    std::int64_t const now_ms = wall_ms(now);
    for (auto& [key, due] : catchup.next_anti_entropy) {
        if (now < due) continue;
        auto& followups = catchup.followups[key];
        due = now + jittered(followups > 0 ? followup_interval : cc.anti_entropy_interval);
        if (followups > 0) --followups;
        if (catchup.plans.contains(key) || topic_in_sync(key)) continue;
        explore(now, key);
        // Any topic peer, not only the mesh: after a partition heals each side may keep
        // its own full mesh, and only links across the old cut bring the other side's
        // messages.
        auto chosen = catchup_peers(now, key, {}, SIZE_MAX);
        if (chosen.empty()) continue;
        NodeId const peer_id = chosen[rng.uniform(chosen.size())];
        ++stats.anti_entropy_runs;
        catchup.budgets[key] = {};
        std::int64_t const to = now_ms - to_ms(in_flight_margin);
        start_session(now, key, peer_id, to - to_ms(cc.anti_entropy_window), to, true);
    }
}

// Widens the node's view of a topic at each anti-entropy run: asks for fresh provider
// records and dials one known candidate it has no link to. Without this a mesh that split
// (a partition that healed) stays split: every node already knows enough peers on its
// side, so none looks further.
void Router::Impl::explore(core::Instant now, TopicKey const& key) {
    emit(NeedPeers{key});
    ++stats.need_peers;
    auto c = candidates.find(key);
    if (c == candidates.end()) return;
    if (dials_in_flight >= config.dials_in_flight_max || peers.size() + dials_in_flight >= config.links_max) return;
    std::vector<Candidate const*> unlinked;
    for (auto const& cand : c->second) {
        if (peers.contains(cand.peer.id) || cand.peer.id == self.id || cand.peer.addrs.empty()) continue;
        auto d = dials.find(cand.peer.id);
        if (d != dials.end() && (d->second.in_flight || now < d->second.retry_after)) continue;
        unlinked.push_back(&cand);
    }
    if (unlinked.empty()) return;
    start_dial(now, unlinked[rng.uniform(unlinked.size())]->peer);
}

bool Router::Impl::topic_in_sync(TopicKey const& key) const {
    return std::any_of(catchup.sessions.begin(), catchup.sessions.end(),
                       [&](auto const& s) { return s.second.topic == key; });
}

void Router::Impl::start_session(core::Instant now, TopicKey const& key, NodeId const& peer_id, std::int64_t from_ms,
                                 std::int64_t to_ms, bool anti_entropy) {
    auto* p = peer(peer_id);
    if (p == nullptr || to_ms <= from_ms) return;
    std::uint32_t const number = next_catchup_number();
    auto& s = catchup.sessions[number];
    s.peer = peer_id;
    s.topic = key;
    s.from_ms = from_ms;
    s.to_ms = to_ms;
    s.anti_entropy = anti_entropy;
    s.items = store.keys(key, from_ms, to_ms, config.catchup.window_items_max);
    if (s.items.size() == config.catchup.window_items_max) {
        // Too many to hold: reconcile the oldest part now (up to the last full timestamp),
        // the rest at the next pass.
        s.to_ms = s.items.back().ts_ms;
        std::erase_if(s.items, [&](StoreCursor const& c) { return c.ts_ms >= s.to_ms; });
        s.lost_some = true;
    }
    s.reconciler.emplace(std::span<StoreCursor const>(s.items), reconcile_limits());
    s.deadline = now + config.catchup.session_timeout;
    // A returning node expects differences: splitting at once saves a round trip. A steady
    // anti-entropy run expects none: one fingerprint settles equal sets in one.
    auto const opening = anti_entropy ? reconcile::Opening::whole_fingerprint : reconcile::Opening::split;
    send_sync(*p, Sync{number, SyncKind::request, key, s.from_ms, s.to_ms, s.reconciler->start(opening)});
}

void Router::Impl::send_sync(PeerState& p, Sync sync) {
    stats.sync_bytes_sent += sync.body.size() + 64;
    out(p.link, links::Priority::control).sync.push_back(std::move(sync));
}

void Router::Impl::end_session(std::uint32_t number, SyncOutcome outcome) {
    auto it = catchup.sessions.find(number);
    if (it == catchup.sessions.end()) return;
    if (outcome == SyncOutcome::complete && it->second.lost_some) outcome = SyncOutcome::partial;
    ++stats.sync_count(outcome);
    for (auto const& [request, ids] : it->second.fetches) {
        catchup.fetch_owner.erase(request);
        for (auto const& id : ids) catchup.fetching.erase(id);
    }
    catchup.sessions.erase(it);
}

// A session that failed before it found anything: a plan gets another peer.
void Router::Impl::retry_plan(core::Instant now, SyncSession const& s) {
    if (s.anti_entropy || !topics.contains(s.topic) || s.reconciled) return;
    auto [it, created] = catchup.plans.try_emplace(s.topic);
    auto& plan = it->second;
    if (created) {
        plan.from_ms = plan.history_from_ms = s.from_ms;
        plan.start_at = now + plan_retry;
    }
    plan.tried.insert(s.peer);
}

void Router::Impl::on_sync(core::Instant now, PeerState& p, Sync& sync) {
    stats.sync_bytes_received += sync.body.size() + 64;
    if (sync.kind == SyncKind::request) return serve_sync(now, p, sync);
    auto it = catchup.sessions.find(sync.session);
    if (it == catchup.sessions.end() || it->second.peer != p.id || it->second.reconciled) {
        ++stats.drop(DropReason::sync_unsolicited);
        return;
    }
    auto& s = it->second;
    if (sync.kind != SyncKind::reply) {
        retry_plan(now, s);
        end_session(sync.session, sync.kind == SyncKind::busy ? SyncOutcome::busy : SyncOutcome::refused);
        return;
    }
    std::vector<MessageId> have, need;
    auto next = s.reconciler->step(sync.body, have, need);
    if (!next || s.reconciler->rounds() > config.catchup.rounds_max) {
        scores.add_behaviour_penalty(p.id);
        retry_plan(now, s);
        end_session(sync.session, SyncOutcome::failed);
        return;
    }
    s.deadline = now + config.catchup.session_timeout;
    for (auto const& id : need)
        if (!seen.contains(id) && !store.contains(id)) s.to_fetch.push_back(id);
    if (auto& body = next.value()) {
        send_sync(p, Sync{sync.session, SyncKind::request, s.topic, s.from_ms, s.to_ms, std::move(*body)});
        return;
    }
    s.reconciled = true;
    s.items.clear();
    s.items.shrink_to_fit();
    s.reconciler.reset();
    pump_fetches(now, sync.session);
}

// Keeps up to fetches_in_flight FETCHes going; ends the session when nothing is left.
void Router::Impl::pump_fetches(core::Instant now, std::uint32_t number) {
    auto it = catchup.sessions.find(number);
    if (it == catchup.sessions.end()) return;
    auto& s = it->second;
    auto& budget = catchup.budgets[s.topic];
    auto* p = peer(s.peer);
    while (p != nullptr && s.fetches.size() < config.catchup.fetches_in_flight && !s.to_fetch.empty()) {
        if (budget.messages >= config.catchup.pass_messages_max || budget.bytes >= config.catchup.pass_bytes_max) {
            stats.drop(DropReason::catchup_over_budget) += s.to_fetch.size();
            s.to_fetch.clear();
            s.lost_some = true;
            break;
        }
        Fetch f;
        f.request = next_catchup_number();
        f.topic = s.topic;
        while (!s.to_fetch.empty() && f.ids.size() < config.catchup.fetch_ids_max) {
            MessageId const id = s.to_fetch.front();
            s.to_fetch.pop_front();
            // Another session may be fetching it, or it arrived live meanwhile.
            if (catchup.fetching.contains(id) || seen.contains(id) || store.contains(id)) continue;
            f.ids.push_back(id);
        }
        if (f.ids.empty()) continue;
        for (auto const& id : f.ids) catchup.fetching.insert(id);
        catchup.fetch_owner[f.request] = number;
        s.fetches[f.request] = f.ids;
        stats.sync_bytes_sent += f.ids.size() * MessageId::size + 48;
        out(p->link, links::Priority::control).fetch.push_back(std::move(f));
        s.deadline = now + config.catchup.session_timeout;
    }
    if (s.reconciled && s.fetches.empty() && s.to_fetch.empty()) end_session(number, SyncOutcome::complete);
}

void Router::Impl::start_history(core::Instant now, TopicKey const& key, NodeId const& peer_id, std::int64_t from_ms,
                                 std::int64_t to_ms, std::optional<StoreCursor> after) {
    auto* p = peer(peer_id);
    if (p == nullptr) return;
    std::uint32_t const request = next_catchup_number();
    catchup.histories[request] = HistoryPaging{peer_id, key, from_ms, to_ms, now + config.catchup.session_timeout};
    Fetch f;
    f.request = request;
    f.topic = key;
    f.from_ms = from_ms;
    f.to_ms = to_ms;
    f.after = after;
    f.limit = static_cast<std::uint32_t>(config.catchup.history_page_max);
    stats.sync_bytes_sent += 96;
    out(p->link, links::Priority::control).fetch.push_back(std::move(f));
}

void Router::Impl::on_fetched(core::Instant now, PeerState& p, Fetched& reply) {
    std::size_t bytes = reply_bytes(reply);
    stats.sync_bytes_received += bytes;
    if (auto h = catchup.histories.find(reply.request); h != catchup.histories.end() && h->second.peer == p.id) {
        return on_history_page(now, p, h->second, reply);
    }
    auto owner = catchup.fetch_owner.find(reply.request);
    if (owner == catchup.fetch_owner.end()) {
        ++stats.drop(DropReason::sync_unsolicited);
        return;
    }
    std::uint32_t const number = owner->second;
    auto& s = catchup.sessions.at(number);
    if (s.peer != p.id) {
        ++stats.drop(DropReason::sync_unsolicited);
        return;
    }
    catchup.fetch_owner.erase(owner);
    auto asked_it = s.fetches.find(reply.request);
    std::vector<MessageId> asked = std::move(asked_it->second);
    s.fetches.erase(asked_it);
    for (auto const& id : asked) catchup.fetching.erase(id);
    s.deadline = now + config.catchup.session_timeout;

    std::unordered_set<MessageId, core::NodeIdHash> wanted(asked.begin(), asked.end());
    auto& budget = catchup.budgets[s.topic];
    budget.bytes += bytes;
    for (auto& encoded : reply.messages) {
        auto id = accept_caught_up(now, p, s.topic, std::move(encoded), &wanted);
        if (id) wanted.erase(*id);
        ++budget.messages;
    }
    // A reply cut short by the peer's byte limit: ask again for the rest; one that brought
    // nothing of what was asked: the peer cannot serve them.
    if (!wanted.empty()) {
        if (reply.messages.empty()) {
            s.lost_some = true;
        } else {
            for (auto const& id : asked)
                if (wanted.contains(id)) s.to_fetch.push_back(id);
        }
    }
    pump_fetches(now, number);
}

void Router::Impl::on_history_page(core::Instant now, PeerState& p, HistoryPaging paging, Fetched& reply) {
    catchup.histories.erase(reply.request);
    auto& budget = catchup.budgets[paging.topic];
    budget.bytes += reply_bytes(reply);
    for (auto& encoded : reply.messages) {
        accept_caught_up(now, p, paging.topic, std::move(encoded), nullptr);
        ++budget.messages;
    }
    bool const more = reply.next && reply.next->ts_ms < paging.to_ms && !reply.messages.empty();
    bool const within_budget =
        budget.messages < config.catchup.pass_messages_max && budget.bytes < config.catchup.pass_bytes_max;
    if (more && within_budget && topics.contains(paging.topic)) {
        start_history(now, paging.topic, p.id, paging.from_ms, paging.to_ms, reply.next);
    } else if (more) {
        ++stats.drop(DropReason::catchup_over_budget);
    }
}

// One envelope from a FETCH or HISTORY reply, through the checks of §3 (but never relayed).
// `wanted`: the ids asked for (a FETCH); a message outside them is unsolicited. Returns the
// id when the envelope parsed.
std::optional<MessageId> Router::Impl::accept_caught_up(core::Instant now, PeerState& p, TopicKey const& topic,
                                                        core::Bytes encoded,
                                                        std::unordered_set<MessageId, core::NodeIdHash> const* wanted) {
    ++stats.received;
    auto parsed = parse_message(encoded, config.limits.payload_max);
    if (!parsed) {
        invalid_envelope(p, parsed.error());
        return std::nullopt;
    }
    Message message = std::move(parsed).value();
    MessageId const id = message.id;
    if ((wanted != nullptr && !wanted->contains(id)) || message.topic != topic) {
        ++stats.drop(DropReason::sync_unsolicited);
        scores.add_behaviour_penalty(p.id);
        return id;
    }
    auto t = topics.find(topic);
    if (t == topics.end()) return id;  // unsubscribed meanwhile
    if (seen.contains(id) || store.contains(id)) {
        ++stats.duplicate;
        return id;
    }
    std::int64_t const now_ms = wall_ms(now);
    if (message.ts_ms > now_ms + to_ms(config.future_tolerance)) {
        invalid(p, InvalidReason::future_timestamp, false);
        return id;
    }
    seen.insert(now, id);
    ++stats.signature_verifies;
    if (!verify_message(message)) {
        invalid(p, InvalidReason::bad_signature, true);
        return id;
    }
    if (validator) {
        switch (validator(t->second.name, message)) {
            case Validation::accept: break;
            case Validation::reject: invalid(p, InvalidReason::rejected, true); return id;
            case Validation::ignore: ++stats.drop(DropReason::validator_ignored); return id;
        }
    }
    if (store.put(message) == StoreStatus::full) ++stats.drop(DropReason::store_full);
    ++stats.catchup_messages;
    // Still fresh (younger than the seen-cache TTL, as live relaying requires): the mesh
    // may lack it too (a healed partition), so it goes on as a live message would.
    if (message.ts_ms >= now_ms - to_ms(config.seen_ttl)) relay_caught_up(now, p, t->second, message);
    deliver(topic, std::move(message), Arrival::catchup);
    return id;
}

void Router::Impl::relay_caught_up(core::Instant now, PeerState const& from, TopicState const& topic,
                                   Message const& message) {
    mcache.put(message.id, message.topic, message.encoded);
    auto const* has = has_index.find(message.id, now);
    for (auto const& mesh_peer : topic.mesh) {
        if (mesh_peer == from.id) continue;
        auto& target = *peer(mesh_peer);
        if (peer_has(has, target)) continue;
        push_or_announce(message.topic, topic, target, message.id, message.encoded);
    }
}

// --- Responder. -----------------------------------------------------------------------

bool Router::Impl::take_serve_budget(core::Instant now, NodeId const& peer_id, std::size_t bytes) {
    auto const& cc = config.catchup;
    auto [it, created] = catchup.buckets.try_emplace(peer_id);
    auto& b = it->second;
    if (created) {
        b.bytes = static_cast<double>(cc.serve_burst_bytes);
    } else {
        double const elapsed = std::chrono::duration<double>(now - b.updated).count();
        b.bytes = std::min(static_cast<double>(cc.serve_burst_bytes),
                           b.bytes + elapsed * static_cast<double>(cc.serve_bytes_per_s));
    }
    b.updated = now;
    if (b.bytes < static_cast<double>(bytes)) return false;
    b.bytes -= static_cast<double>(bytes);
    return true;
}

void Router::Impl::serve_sync(core::Instant now, PeerState& p, Sync const& sync) {
    auto const& cc = config.catchup;
    auto answer = [&](SyncKind kind, core::Bytes body) {
        send_sync(p, Sync{sync.session, kind, sync.topic, sync.from_ms, sync.to_ms, std::move(body)});
    };
    std::int64_t const span_max = to_ms(cc.window_max) * 24 * 8;  // over a week: out of bounds
    if (!cc.enabled || !topics.contains(sync.topic) || sync.to_ms <= sync.from_ms ||
        sync.to_ms - sync.from_ms > span_max) {
        return answer(SyncKind::refused, {});
    }
    auto it = catchup.serving.find(p.id);
    bool const same = it != catchup.serving.end() && it->second.session == sync.session &&
                      it->second.topic == sync.topic && it->second.from_ms == sync.from_ms &&
                      it->second.to_ms == sync.to_ms;
    if (!same) {
        // One session per peer: a new one replaces the old.
        if (it != catchup.serving.end()) catchup.serving.erase(it);
        if (catchup.serving.size() >= cc.serve_sessions_max) return answer(SyncKind::busy, {});
        ServeSession s{sync.session, sync.topic, sync.from_ms, sync.to_ms, {}, 0, {}};
        s.items = store.keys(sync.topic, sync.from_ms, sync.to_ms, cc.window_items_max);
        if (s.items.size() == cc.window_items_max) return answer(SyncKind::refused, {});
        it = catchup.serving.emplace(p.id, std::move(s)).first;
        ++stats.sync_count(SyncOutcome::served);
    }
    auto& s = it->second;
    s.deadline = now + cc.session_timeout;
    if (++s.rounds > cc.rounds_max || !take_serve_budget(now, p.id, sync.body.size())) {
        catchup.serving.erase(it);
        return answer(SyncKind::busy, {});
    }
    auto reply = reconcile::respond(std::span<StoreCursor const>(s.items), sync.body, reconcile_limits());
    if (!reply) {
        scores.add_behaviour_penalty(p.id);
        catchup.serving.erase(it);
        return answer(SyncKind::refused, {});
    }
    answer(SyncKind::reply, std::move(reply).value());
}

void Router::Impl::on_fetch(core::Instant now, PeerState& p, Fetch const& fetch) {
    stats.sync_bytes_received += fetch.ids.size() * MessageId::size + 48;
    Fetched reply;
    reply.request = fetch.request;
    if (!config.catchup.enabled || !topics.contains(fetch.topic)) return send_fetched(p, std::move(reply));
    std::vector<Message> found;
    if (!fetch.ids.empty()) {
        for (auto const& id : fetch.ids) {
            auto m = store.get(id);
            if (m && m->topic == fetch.topic) found.push_back(std::move(*m));
        }
        std::sort(found.begin(), found.end(), [](Message const& a, Message const& b) {
            return StoreCursor{a.ts_ms, a.id} < StoreCursor{b.ts_ms, b.id};
        });
    } else {
        std::size_t const limit = std::min<std::size_t>(std::max<std::uint32_t>(fetch.limit, 1), config.catchup.history_page_max);
        // Strictly after the last possible key of from_ms - 1, i.e. from from_ms on.
        MessageId last_id;
        last_id.bytes.fill(std::byte{0xff});
        StoreCursor const start{fetch.from_ms - 1, last_id};
        auto after = fetch.after.value_or(start);
        if (after < start) after = start;
        found = store.range(fetch.topic, after, limit);
        std::erase_if(found, [&](Message const& m) { return m.ts_ms < fetch.from_ms || m.ts_ms >= fetch.to_ms; });
        if (found.size() == limit) reply.next = StoreCursor{found.back().ts_ms, found.back().id};
    }
    std::size_t bytes = 0;
    for (auto& m : found) {
        if (reply.messages.size() >= config.limits.fetched_messages_max) break;
        if (!reply.messages.empty() && bytes + m.encoded.size() > config.catchup.reply_bytes_max) break;
        if (!take_serve_budget(now, p.id, m.encoded.size())) {
            ++stats.drop(DropReason::serve_over_budget);
            break;
        }
        bytes += m.encoded.size();
        reply.messages.push_back(std::move(m.encoded));
    }
    // A HISTORY page cut short continues after the last message it carries.
    if (fetch.ids.empty() && reply.messages.size() < found.size()) {
        reply.next = reply.messages.empty() ? fetch.after
                                            : std::optional<StoreCursor>(StoreCursor{found[reply.messages.size() - 1].ts_ms,
                                                                                     found[reply.messages.size() - 1].id});
    }
    stats.fetch_served += reply.messages.size();
    send_fetched(p, std::move(reply));
}

void Router::Impl::send_fetched(PeerState& p, Fetched reply) {
    stats.sync_bytes_sent += reply_bytes(reply);
    out(p.link, links::Priority::iwant_reply).fetched.push_back(std::move(reply));
}

// --- Upkeep. --------------------------------------------------------------------------

void Router::Impl::catchup_tick(core::Instant now) {
    for (auto it = catchup.thin_passes.begin(); it != catchup.thin_passes.end();) {
        auto t = topics.find(*it);
        if (t == topics.end()) {
            it = catchup.thin_passes.erase(it);
        } else if (t->second.mesh.size() >= config.d_lo && !catchup.plans.contains(*it)) {
            plan_catchup(now, *it);
            it = catchup.thin_passes.erase(it);
        } else {
            ++it;
        }
    }
    run_plans(now);
    run_anti_entropy(now);
    std::vector<std::uint32_t> silent;
    for (auto const& [n, s] : catchup.sessions)
        if (now >= s.deadline) silent.push_back(n);
    for (auto n : silent) fail_session(now, n);
    std::erase_if(catchup.histories, [&](auto const& h) { return now >= h.second.deadline; });
    std::erase_if(catchup.serving, [&](auto const& s) { return now >= s.second.deadline; });
}

// A session whose peer went silent or away: its ids go to another session of the topic
// (the other peer may have them), and a plan that found nothing tries another peer.
void Router::Impl::fail_session(core::Instant now, std::uint32_t number) {
    auto it = catchup.sessions.find(number);
    if (it == catchup.sessions.end()) return;
    auto s = std::move(it->second);
    catchup.sessions.erase(it);
    ++stats.sync_count(SyncOutcome::timeout);
    std::vector<MessageId> orphans(s.to_fetch.begin(), s.to_fetch.end());
    for (auto const& [request, ids] : s.fetches) {
        catchup.fetch_owner.erase(request);
        for (auto const& id : ids) {
            catchup.fetching.erase(id);
            orphans.push_back(id);
        }
    }
    retry_plan(now, s);
    for (auto& [n, other] : catchup.sessions) {
        if (other.topic != s.topic || other.peer == s.peer) continue;
        other.to_fetch.insert(other.to_fetch.end(), orphans.begin(), orphans.end());
        if (other.reconciled) pump_fetches(now, n);
        return;
    }
}

void Router::Impl::catchup_peer_gone(core::Instant now, NodeId const& id) {
    std::vector<std::uint32_t> ended;
    for (auto const& [n, s] : catchup.sessions)
        if (s.peer == id) ended.push_back(n);
    for (auto n : ended) fail_session(now, n);
    std::erase_if(catchup.histories, [&](auto const& h) { return h.second.peer == id; });
    catchup.serving.erase(id);
    catchup.buckets.erase(id);
}

}  // namespace pubsub
