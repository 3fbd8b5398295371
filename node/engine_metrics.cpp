// node::pubsub_snapshot; see engine_metrics.hpp.
#include "node/engine_metrics.hpp"

namespace node {

namespace {

// Link ends that are drops (a fault or a limit); the rest (closed by either side, a
// duplicate link, a failed connect) are ordinary churn and not counted as drops.
std::optional<metrics::LinkDropReason> drop_reason(LinkEnd e) {
    using R = metrics::LinkDropReason;
    switch (e) {
        case LinkEnd::handshake_failed: return R::handshake_failed;
        case LinkEnd::handshake_timeout: return R::handshake_timeout;
        case LinkEnd::decrypt_failed: return R::decrypt_failed;
        case LinkEnd::frame_too_large: return R::frame_too_large;
        case LinkEnd::slow_peer: return R::slow_peer;
        case LinkEnd::too_many_links: return R::too_many_links;
        case LinkEnd::handshake_rate: return R::handshake_rate;
        default: return std::nullopt;
    }
}

metrics::SyncOutcome sync_outcome(pubsub::SyncOutcome o) {
    using M = metrics::SyncOutcome;
    switch (o) {
        case pubsub::SyncOutcome::complete: return M::ok;
        case pubsub::SyncOutcome::partial: return M::budget;
        case pubsub::SyncOutcome::busy:
        case pubsub::SyncOutcome::refused: return M::refused;
        default: return M::failed;
    }
}

}  // namespace

void add_catchup(Engine const& engine, metrics::StoreSnapshot& s) {
    auto const& ps = engine.pubsub().stats();
    s.catchup_messages = ps.catchup_messages;
    for (std::size_t o = 0; o < pubsub::sync_outcome_count; ++o) {
        auto const outcome = static_cast<pubsub::SyncOutcome>(o);
        // Sessions this node answered are the peers' to count.
        if (outcome == pubsub::SyncOutcome::served) continue;
        s.sync_count(sync_outcome(outcome)) += ps.sync_sessions[o];
    }
}

metrics::PubsubSnapshot pubsub_snapshot(Engine const& engine) {
    metrics::PubsubSnapshot s;
    auto const& ps = engine.pubsub().stats();
    s.published = ps.published;
    s.delivered = ps.delivered;
    s.duplicate = ps.duplicate;
    static_assert(metrics::invalid_reason_count == pubsub::invalid_reason_count);
    for (std::size_t r = 0; r < metrics::invalid_reason_count; ++r) s.invalid[r] = ps.invalid[r];
    static_assert(metrics::control_type_count == pubsub::control_type_count);
    for (std::size_t t = 0; t < metrics::control_type_count; ++t) {
        s.control[t][static_cast<std::size_t>(metrics::Flow::in)] = ps.control[t][static_cast<std::size_t>(pubsub::Direction::in)];
        s.control[t][static_cast<std::size_t>(metrics::Flow::out)] = ps.control[t][static_cast<std::size_t>(pubsub::Direction::out)];
    }
    s.router_drops = ps.dropped;
    auto const es = engine.stats();
    s.bytes(metrics::Flow::in) = es.bytes_in;
    s.bytes(metrics::Flow::out) = es.bytes_out;
    for (std::size_t e = 0; e < es.link_ends.size(); ++e)
        if (auto r = drop_reason(static_cast<LinkEnd>(e))) s.link_drop(*r) += es.link_ends[e];
    s.link_drop(metrics::LinkDropReason::queue_full) +=
        es.frames_dropped[static_cast<std::size_t>(links::DropReason::queue_full)];
    s.link_drop(metrics::LinkDropReason::frame_too_large) += es.frames_too_large_out;
    s.link_count(metrics::LinkDirection::inbound) = engine.links(false);
    s.link_count(metrics::LinkDirection::outbound) = engine.links(true);
    for (auto const& t : engine.pubsub().topics()) {
        if (!t.subscribed) continue;
        ++s.topics;
        s.mesh_peers.push_back({t.name, t.mesh_peers});
    }
    return s;
}

}  // namespace node
