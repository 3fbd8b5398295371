// Signed peer exchange (docs/protocol.md, "Peer exchange"): every PX entry is a peer
// record (dht::ProviderRecord) signed by the node it names, for the PRUNE's topic, with an
// expiry. This node signs its own record per subscribed topic and gives it to the topic's
// peers (Rpc::records); relays keep the latest record per peer and topic and pass on only
// records they hold and have verified; a receiver checks every record's fields on arrival
// and its signature just before dialing it. A relay can therefore withhold records but not
// invent an address under any id. Not here: when to PRUNE (router_mesh.cpp) and the
// dialing policy (maybe_dial in router_heartbeat.cpp).
#include "core/assert.hpp"
#include "pubsub/router_impl.hpp"

#include <algorithm>

namespace pubsub {

namespace {

template <class T>
void shuffle(std::vector<T>& v, core::Rng& rng) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.uniform(i)]);
}

std::uint64_t ms_of(core::Duration d) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// Wall time as records carry it (before 1970 is 0).
std::uint64_t unix_ms(core::WallClockAnchor const& wall, core::Instant now) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(wall.to_unix_ms(now), 0));
}

}  // namespace

// --- Our own records. ---

PeerRecord const* Router::Impl::own_record(core::Instant now, TopicKey const& key) {
    if (listen.empty()) return nullptr;
    std::uint64_t const now_ms = unix_ms(wall, now);
    auto it = own_records.find(key);
    if (it != own_records.end() && it->second.expires_ms > now_ms + ms_of(config.record_refresh)) return &it->second;
    PeerRecord fresh = dht::make_provider_record(signer, key, listen, now_ms + ms_of(config.record_ttl));
    return &(own_records[key] = std::move(fresh));
}

void Router::Impl::send_own_record(core::Instant now, TopicKey const& key, PeerState& p) {
    auto const* record = own_record(now, key);
    if (record == nullptr) return;
    out(p.link, links::Priority::control).records.push_back(*record);
    ++stats.records_sent;
}

void Router::Impl::refresh_own_records(core::Instant now) {
    for (auto const& [key, topic] : topics) {
        auto held = own_records.find(key);
        std::uint64_t const before = held == own_records.end() ? 0 : held->second.expires_ms;
        auto const* record = own_record(now, key);
        if (record == nullptr || record->expires_ms == before) continue;
        auto tp = topic_peers.find(key);
        if (tp == topic_peers.end()) continue;
        for (auto const& id : tp->second) {
            out(peers.at(id).link, links::Priority::control).records.push_back(*record);
            ++stats.records_sent;
        }
    }
}

// --- Records peers give us of themselves. ---

// Cheap checks only: the signature waits until the record is first passed on (px_for),
// so a peer re-sending its records costs a comparison, not a verify.
void Router::Impl::on_peer_record(core::Instant now, PeerState& p, PeerRecord record) {
    if (record.node_id != p.id) {
        ++stats.drop(DropReason::record_not_own);
        scores.on_invalid_message(p.id);
        return;
    }
    if (!p.topics.contains(record.topic)) {
        ++stats.drop(DropReason::record_not_subscribed);
        return;
    }
    std::uint64_t const now_ms = unix_ms(wall, now);
    if (dht::check_provider_fields(record, now_ms, ms_of(config.record_lifetime_max))) {
        ++stats.drop(DropReason::record_invalid);
        scores.on_invalid_message(p.id);
        return;
    }
    auto& held = p.records[record.topic];
    if (held.record == record) return;
    held = HeldRecord{std::move(record), false};
}

bool Router::Impl::verify(HeldRecord& held) {
    if (held.verified) return true;
    ++stats.record_verifies;
    held.verified = dht::provider_signature_valid(held.record);
    return held.verified;
}

// --- PX out. ---

std::vector<PeerRecord> Router::Impl::px_for(core::Instant now, TopicKey const& topic, NodeId const& exclude) {
    std::vector<PeerRecord> out_px;
    auto tp = topic_peers.find(topic);
    if (tp == topic_peers.end()) return out_px;
    // Not one that may expire on the way (clocks differ by up to record_clock_skew).
    std::uint64_t const fresh_after = unix_ms(wall, now) + ms_of(config.record_clock_skew);
    auto const c = candidates.find(topic);
    // The peer's own record, else a signed one the DHT or PX gave us for it.
    auto record_of = [&](PeerState& p) -> PeerRecord const* {
        if (auto r = p.records.find(topic); r != p.records.end() && r->second.record.expires_ms > fresh_after) {
            if (verify(r->second)) return &r->second.record;
            ++stats.drop(DropReason::record_invalid);
            scores.on_invalid_message(p.id);
            p.records.erase(r);
        }
        if (c == candidates.end()) return nullptr;
        auto it = std::find_if(c->second.begin(), c->second.end(), [&](Candidate const& x) { return x.peer.id == p.id; });
        if (it == c->second.end() || !it->record || it->record->record.expires_ms <= fresh_after) return nullptr;
        return candidate_verified(*it) ? &it->record->record : nullptr;
    };
    std::vector<NodeId> known(tp->second.begin(), tp->second.end());
    shuffle(known, rng);
    for (auto const& id : known) {
        if (out_px.size() >= config.px_max) break;
        if (id == exclude) continue;
        if (auto const* record = record_of(peers.at(id))) out_px.push_back(*record);
    }
    return out_px;
}

// --- PX in. ---

std::optional<DropReason> Router::Impl::px_field_problem(core::Instant now, TopicKey const& topic,
                                                         PeerRecord const& record, bool& blame) const {
    blame = true;
    if (record.topic != topic) return DropReason::px_wrong_topic;
    std::uint64_t const now_ms = unix_ms(wall, now);
    auto const bad = dht::check_provider_fields(record, now_ms, ms_of(config.record_lifetime_max));
    if (!bad) return std::nullopt;
    switch (*bad) {
        case dht::ProviderReject::bad_addrs: return DropReason::px_bad_addrs;
        case dht::ProviderReject::expired:
            // Honest relays pass on nothing this close to expiry; a record that expired
            // within the clock window may still be one of theirs.
            blame = record.expires_ms + ms_of(config.record_clock_skew) <= now_ms;
            return DropReason::px_expired;
        case dht::ProviderReject::expiry_too_far: return DropReason::px_expiry_too_far;
        default: return DropReason::px_bad_signature;  // id_mismatch: not signed by whom it names
    }
}

void Router::Impl::take_px(core::Instant now, PeerState& p, Prune const& pr) {
    std::set<NodeId> named;
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < pr.px.size() && i < config.px_max; ++i) {
        PeerRecord const& record = pr.px[i];
        bool blame = false;
        if (auto problem = px_field_problem(now, pr.topic, record, blame)) {
            ++stats.drop(*problem);
            if (blame) scores.on_invalid_message(p.id);
            continue;
        }
        if (record.node_id == self.id || peers.contains(record.node_id) || !named.insert(record.node_id).second) {
            ++stats.drop(DropReason::px_known);
            continue;
        }
        Candidate c{PeerAddress{record.node_id, record.addrs}, HeldRecord{record, false}, p.id, {}, false};
        add_candidate(now, pr.topic, std::move(c));
        ++accepted;
    }
    stats.px_received += accepted;
}

bool Router::Impl::candidate_verified(Candidate& c) {
    if (!c.record || verify(*c.record)) return true;
    ++stats.drop(DropReason::px_bad_signature);
    c.rejected = true;
    // Only a PX record can fail here (the host's come checked): the relay that passed it
    // on had to verify it first, so a forged one is its fault.
    if (c.px_from && peers.contains(*c.px_from)) scores.on_invalid_message(*c.px_from);
    return false;
}

}  // namespace pubsub
