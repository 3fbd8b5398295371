// The router's catch-up state (PUBSUB-NOTES §4; internal header, included by
// router_impl.hpp only). What it tracks, on both sides of the SYNC/FETCH/HISTORY exchange:
//   requester  plans (a catch-up waiting to start for a topic), sessions (one set
//              reconciliation with one peer, then the FETCHes of what it found),
//              HISTORY pagings for a gap older than the window, and each topic's pass
//              budget (messages and bytes a pass may fetch);
//   responder  one serving session per peer (its window's keys, loaded once), at most
//              serve_sessions_max in all, and a byte bucket per peer for replies.
// Every table is bounded: plans and budgets by the topic limit, sessions by
// peers x topics subscribed, serving by serve_sessions_max, buckets by live links.
// The logic is in router_catchup.cpp.
#pragma once

#include "core/time.hpp"
#include "pubsub/message_store.hpp"
#include "pubsub/reconcile.hpp"
#include "pubsub/types.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>
#include <vector>

namespace pubsub {

// A catch-up waiting to start for a topic: after subscribe (the window since the newest
// message we hold), or retried because no peer could answer yet.
struct CatchupPlan {
    core::Instant start_at{};
    std::int64_t from_ms = 0;          // the window reconciled is [from_ms, now]
    std::int64_t history_from_ms = 0;  // an older gap [history_from_ms, from_ms) goes to HISTORY
    std::size_t attempts = 0;
    std::set<NodeId> tried;            // peers that were busy, refused or silent
};

// What one pass (a catch-up or an anti-entropy run) of a topic has fetched so far.
struct PassBudget {
    std::size_t messages = 0;
    std::size_t bytes = 0;
};

// One reconciliation this node started with one peer, then the FETCHes of what it found.
struct SyncSession {
    NodeId peer;
    TopicKey topic;
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
    bool anti_entropy = false;
    std::vector<StoreCursor> items;                 // our keys in the window; the reconciler reads them
    std::optional<reconcile::Initiator> reconciler;
    bool reconciled = false;
    std::deque<MessageId> to_fetch;                 // the peer has them, we do not, not yet asked
    std::map<std::uint32_t, std::vector<MessageId>> fetches;  // in flight: request -> ids asked
    bool lost_some = false;                         // ids not delivered, or cut by a budget
    core::Instant deadline{};                       // the peer's last sign of life + session_timeout
};

// A HISTORY paging this node started (a gap older than the reconciliation window).
struct HistoryPaging {
    NodeId peer;
    TopicKey topic;
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
    core::Instant deadline{};
};

// A reconciliation this node answers (the reconcile responder is stateless; the window's
// keys are loaded once per session rather than once per round).
struct ServeSession {
    std::uint32_t session = 0;
    TopicKey topic;
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
    std::vector<StoreCursor> items;
    std::size_t rounds = 0;
    core::Instant deadline{};
};

// Reply bytes a peer may still ask for: refills at serve_bytes_per_s up to the burst.
struct ServeBucket {
    double bytes = 0;
    core::Instant updated{};
};

struct CatchupState {
    std::map<TopicKey, CatchupPlan> plans;
    std::map<TopicKey, PassBudget> budgets;
    std::map<std::uint32_t, SyncSession> sessions;       // by session number
    std::map<std::uint32_t, std::uint32_t> fetch_owner;  // FETCH request -> session number
    std::map<std::uint32_t, HistoryPaging> histories;    // by HISTORY request number
    std::unordered_set<MessageId, core::NodeIdHash> fetching;  // ids in any FETCH in flight
    std::map<NodeId, ServeSession> serving;              // one per peer
    std::map<NodeId, ServeBucket> buckets;
    std::map<TopicKey, core::Instant> next_anti_entropy;
    // Early anti-entropy runs left after a catch-up: the peers of the first pass may have
    // been away too (nodes often come back together), so a few quick runs with other
    // peers follow before the steady interval.
    std::map<TopicKey, std::size_t> followups;
    // Topics whose last catch-up pass ran while the mesh had fewer than D_lo peers (a node
    // just back or just subscribed): what was published between that pass and the mesh
    // forming reached no one who forwards to us, so a second pass runs once it has D_lo.
    std::set<TopicKey> thin_passes;
    std::uint32_t next_number = 1;                       // sessions and requests share it
};

}  // namespace pubsub
