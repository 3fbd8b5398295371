// The router's receive path: one decoded Rpc from a peer. Messages go through the checks
// of PUBSUB-NOTES §3 in exactly this order, cheapest first, so the ~38 µs signature check
// runs at most once per message id per node:
//   1 size and decode   2 topic joined   3 duplicate (seen-cache, then store; the sender
//   has it)   4 own author   5 timestamp not in the future   6 IDONTWANT to the mesh (large
//   messages)   7 signature   8 application validator   9 persist   10 forward (mesh minus
//   sender, author, peers that have it and peers the author's flood hint names; only if
//   not older than seen_ttl; a mesh peer that choked us gets an IHAVE of the id instead,
//   router_choke.cpp)   11 deliver.
// Gossip control (IHAVE/IWANT/IDONTWANT) is here too; GRAFT/PRUNE are in router_mesh.cpp.
#include "core/assert.hpp"
#include "core/crypto.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/router_impl.hpp"

#include <algorithm>

namespace pubsub {

void Router::Impl::on_rpc(core::Instant now, PeerState& p, Rpc rpc) {
    if (score(now, p.id) < config.score.graylist_threshold) {
        ++stats.drop(DropReason::graylisted);
        return;
    }
    for (auto const& sub : rpc.subscriptions) on_subscription(now, p, sub);
    // After the subscriptions: a record is kept only for a topic the peer announced.
    for (auto& record : rpc.records) on_peer_record(now, p, std::move(record));
    // IDONTWANT first: a message in the same frame must not go back to the peer that has it.
    for (auto const& d : rpc.idontwant) on_idontwant(now, p, d);
    for (auto& encoded : rpc.messages) on_message(now, p, std::move(encoded), rpc.flooded);
    for (auto const& g : rpc.graft) on_graft(now, p, g);
    for (auto const& pr : rpc.prune) on_prune(now, p, pr);
    for (auto const& c : rpc.choke) on_choke(now, p, c);
    for (auto const& ih : rpc.ihave) on_ihave(now, p, ih);
    for (auto const& iw : rpc.iwant) on_iwant(now, p, iw);
    for (auto& sy : rpc.sync) on_sync(now, p, sy);
    for (auto const& f : rpc.fetch) on_fetch(now, p, f);
    for (auto& f : rpc.fetched) on_fetched(now, p, f);
}

void Router::Impl::on_subscription(core::Instant now, PeerState& p, SubOpt const& sub) {
    if (!sub.subscribe) {
        if (p.topics.erase(sub.topic) == 0) return;
        p.records.erase(sub.topic);
        if (auto tp = topic_peers.find(sub.topic); tp != topic_peers.end()) {
            tp->second.erase(p.id);
            if (tp->second.empty()) topic_peers.erase(tp);
        }
        if (auto t = topics.find(sub.topic); t != topics.end() && t->second.mesh.erase(p.id)) {
            scores.on_prune(p.id, sub.topic);
        }
        if (auto f = fanout.find(sub.topic); f != fanout.end()) f->second.peers.erase(p.id);
        return;
    }
    if (p.topics.contains(sub.topic)) return;
    if (p.topics.size() >= config.subscriptions_per_peer_max) {
        ++stats.drop(DropReason::subscriptions_over_limit);
        return;
    }
    p.topics.insert(sub.topic);
    topic_peers[sub.topic].insert(p.id);
    // A topic we share: our signed record, so the peer can name us in its PX.
    if (topics.contains(sub.topic)) send_own_record(now, sub.topic, p);
    send_pending_to(now, sub.topic, p);
    // A new topic peer joins a thin mesh at once rather than at the next heartbeat: the
    // first seconds after subscribe are when messages get lost (PUBSUB-NOTES §7).
    if (auto t = topics.find(sub.topic); t != topics.end() && t->second.mesh.size() < config.d &&
                                         can_graft(now, sub.topic, t->second, p.id)) {
        graft(now, sub.topic, t->second, p);
    }
}

void Router::Impl::invalid(PeerState& p, InvalidReason reason, bool penalise) {
    ++stats.invalid_count(reason);
    if (penalise) scores.on_invalid_message(p.id);
}

void Router::Impl::invalid_envelope(PeerState& p, EnvelopeError error) {
    // A payload above our own limit is not the sender's fault: the host decoded the frame
    // against the wire bound (payload_wire_max), so the message is legal for a node with a
    // larger --max-message-kb. Dropped and counted, without a score penalty, or one node
    // with a small limit would graylist its whole mesh.
    if (error == EnvelopeError::too_large) return invalid(p, InvalidReason::too_large, false);
    invalid(p, InvalidReason::decode, true);
}

void Router::Impl::note_has(core::Instant now, PeerState& p, MessageId const& id) {
    // Bounded per peer by the index: beyond it a claim is not remembered (costs a duplicate).
    if (p.has_slot) has_index.note(id, *p.has_slot, now + config.heartbeat * static_cast<int>(config.idontwant_heartbeats));
}

void Router::Impl::fulfil_promise(MessageId const& id) {
    promises.erase(id);
    iwant_outstanding.erase(id);
}

namespace {

// The peers the author says it flood-published `message` to, when `from` is its author.
std::vector<std::uint64_t> const* flood_hint_for(Message const& message, NodeId const& author, NodeId const& from,
                                                 std::vector<FloodHint> const& hints) {
    if (hints.empty() || author != from) return nullptr;
    auto h = std::find_if(hints.begin(), hints.end(), [&](FloodHint const& x) { return x.seqno == message.seqno; });
    if (h == hints.end()) return nullptr;
    return &h->peers;
}

bool named_in(std::vector<std::uint64_t> const* peers, NodeId const& id) {
    return peers != nullptr && std::find(peers->begin(), peers->end(), flood_hint_prefix(id)) != peers->end();
}

}  // namespace

void Router::Impl::on_message(core::Instant now, PeerState& p, core::Bytes encoded,
                              std::vector<FloodHint> const& hints) {
    ++stats.received;
    // 1. Size and layout, in place: most copies a relay receives are duplicates, and a
    // duplicate must cost no more than these checks, its id (BLAKE2b of the bytes, ~0.5 µs)
    // and the lookups below, never a copy of its payload.
    if (auto error = check_envelope(encoded, config.limits.payload_max)) {
        invalid_envelope(p, *error);
        return;
    }
    MessageId const id = core::blake2b_256(encoded);
    bool const asked_for = iwant_outstanding.contains(id);
    // Whoever brought these exact bytes kept an IWANT promise for them.
    fulfil_promise(id);
    // 2. Topic joined. Not the sender's fault: it may not have seen our unsubscribe yet.
    auto topic = topics.find(envelope_topic(encoded));
    if (topic == topics.end()) {
        invalid(p, InvalidReason::unknown_topic, false);
        return;
    }
    // 3. Duplicate: the seen-cache, then the store (older than the seen-cache).
    if (seen.contains(id) || store.contains(id)) {
        ++stats.duplicate;
        note_has(now, p, id);
        return;
    }
    note_has(now, p, id);
    // New: now the Message, taking the bytes over (no copy of the envelope).
    Message message = message_of_checked(std::move(encoded), id);
    // 4. Our own key on a message this run did not publish (this run's are in the seen-cache).
    if (message.author == self.public_key) {
        seen.insert(now, id);
        invalid(p, InvalidReason::bad_author, false);
        return;
    }
    // 5. Timestamps: the future is refused (not penalised: the sender's clock may differ
    // from ours and it checked against its own); the old is not relayed.
    std::int64_t const now_ms = wall_ms(now);
    if (message.ts_ms > now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(config.future_tolerance).count()) {
        invalid(p, InvalidReason::future_timestamp, false);
        return;
    }
    bool const relay =
        message.ts_ms >= now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(config.seen_ttl).count();
    // Mesh peers the author sent this message to itself (flood hint): they get no IDONTWANT
    // and no forward from us.
    NodeId const author = core::node_id_of(message.author);
    auto const* flooded = flood_hint_for(message, author, p.id, hints);
    // 6. IDONTWANT on first receipt, before the expensive check: saves the duplicates our
    // mesh peers would otherwise send while we verify.
    if (relay && message.encoded.size() >= config.idontwant_min_size) {
        for (auto const& mesh_peer : topic->second.mesh) {
            if (mesh_peer == p.id || named_in(flooded, mesh_peer)) continue;
            auto& d = out(peer(mesh_peer)->link, links::Priority::control).idontwant;
            if (d.empty()) d.emplace_back();
            d.back().ids.push_back(id);
            ++stats.idontwant_sent_ids;
            ++stats.control_count(ControlType::idontwant, Direction::out);
        }
    }
    // 7. Signature, once per id: recorded as seen whatever the outcome, so the same bytes
    // are never verified again.
    seen.insert(now, id);
    ++stats.signature_verifies;
    if (!verify_message(message)) {
        invalid(p, InvalidReason::bad_signature, true);
        return;
    }
    // 8. Application validator.
    if (validator) {
        switch (validator(topic->second.name, message)) {
            case Validation::accept: break;
            case Validation::reject: invalid(p, InvalidReason::rejected, true); return;
            case Validation::ignore: ++stats.drop(DropReason::validator_ignored); return;
        }
    }
    scores.on_first_delivery(p.id, message.topic);
    note_first(topic->second, p.id);
    // 9. Persist.
    if (store.put(message) == StoreStatus::full) ++stats.drop(DropReason::store_full);
    // 10. Forward.
    if (relay) {
        mcache.put(id, message.topic, message.encoded);
        auto const* has = has_index.find(id, now);
        for (auto const& mesh_peer : topic->second.mesh) {
            if (mesh_peer == p.id || mesh_peer == author) continue;
            if (named_in(flooded, mesh_peer)) {
                ++stats.flood_hint_skips;
                continue;
            }
            auto& target = *peer(mesh_peer);
            if (peer_has(has, target)) continue;
            push_or_announce(message.topic, topic->second, target, id, message.encoded, author == p.id);
        }
    } else {
        ++stats.drop(DropReason::old_not_relayed);
    }
    // 11. Deliver.
    Arrival const arrival = asked_for                         ? Arrival::iwant
                            : topic->second.mesh.contains(p.id) ? Arrival::mesh
                                                                : Arrival::push;
    deliver(message.topic, std::move(message), arrival);
}

void Router::Impl::on_ihave(core::Instant now, PeerState& p, IHave const& ihave) {
    ++stats.control_count(ControlType::ihave, Direction::in);
    if (score(now, p.id) < config.score.gossip_threshold) {
        ++stats.drop(DropReason::ihave_below_gossip);
        return;
    }
    auto topic = topics.find(ihave.topic);
    // A mesh peer we choked announces every message at once (router_choke.cpp): bounded
    // by ids, not by IHAVEs, and each id it brings first counts for it at our next choice.
    bool const lazy = topic != topics.end() && topic->second.choked.contains(p.id);
    if (lazy) {
        if (p.lazy_ids_in + ihave.ids.size() > config.lazy_ihave_ids_per_heartbeat_max) {
            ++stats.drop(DropReason::ihave_over_limit);
            return;
        }
        p.lazy_ids_in += ihave.ids.size();
    } else if (++p.ihave_in > config.ihave_per_heartbeat_max) {
        ++stats.drop(DropReason::ihave_over_limit);
        return;
    }
    if (topic == topics.end()) {
        ++stats.drop(DropReason::ihave_unknown_topic);
        return;
    }
    std::vector<MessageId> wanted;
    for (auto const& id : ihave.ids) {
        if (seen.contains(id) || store.contains(id)) continue;
        // One outstanding IWANT per id: a second advertiser is asked only if the first
        // has not answered within the promise timeout.
        if (auto o = iwant_outstanding.find(id); o != iwant_outstanding.end() && o->second > now) continue;
        if (lazy) ++topic->second.firsts[p.id];
        if (p.iwant_ids_asked >= config.iwant_ids_per_heartbeat_max) {
            ++stats.drop(DropReason::ihave_over_limit);
            break;
        }
        ++p.iwant_ids_asked;
        wanted.push_back(id);
    }
    if (wanted.empty()) return;
    for (auto const& id : wanted) iwant_outstanding[id] = now + config.iwant_promise_timeout;
    // Track one random id per IHAVE: a peer that advertises what it cannot serve is caught
    // with high probability over a few IHAVEs, at the cost of one entry each.
    if (promises.size() < config.promises_max) {
        MessageId const& tracked = wanted[rng.uniform(wanted.size())];
        promises.try_emplace(tracked, Promise{p.id, now + config.iwant_promise_timeout});
    }
    auto& iwant = out(p.link, links::Priority::control).iwant;
    if (iwant.empty()) iwant.emplace_back();
    iwant.back().ids.insert(iwant.back().ids.end(), wanted.begin(), wanted.end());
    ++stats.control_count(ControlType::iwant, Direction::out);
}

void Router::Impl::on_iwant(core::Instant now, PeerState& p, IWant const& iwant) {
    ++stats.control_count(ControlType::iwant, Direction::in);
    if (score(now, p.id) < config.score.gossip_threshold) {
        ++stats.drop(DropReason::ihave_below_gossip);
        return;
    }
    for (auto const& id : iwant.ids) {
        auto [result, bytes] = mcache.serve(id, p.id, config.iwant_serve_max);
        switch (result) {
            case MessageCache::Serve::ok:
                out(p.link, links::Priority::iwant_reply).messages.push_back(*bytes);
                ++stats.iwant_served;
                break;
            case MessageCache::Serve::over_limit: ++stats.drop(DropReason::iwant_over_serve_limit); break;
            case MessageCache::Serve::unknown: ++stats.drop(DropReason::iwant_unknown_id); break;
        }
    }
}

void Router::Impl::on_idontwant(core::Instant now, PeerState& p, IDontWant const& idontwant) {
    ++stats.control_count(ControlType::idontwant, Direction::in);
    for (auto const& id : idontwant.ids) {
        if (p.idontwant_in >= config.idontwant_per_heartbeat_max) {
            ++stats.drop(DropReason::idontwant_over_limit);
            continue;
        }
        ++p.idontwant_in;
        note_has(now, p, id);
    }
}

}  // namespace pubsub
