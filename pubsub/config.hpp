// Every tunable of the pub/sub router in one place, with the reason for each default
// (PUBSUB-NOTES §1 "kadmium" column and §2 bounds). Limits here bound memory and work per
// node; the simulator may shrink caches. Not the wire codec's bounds (RpcLimits in rpc.hpp,
// kept here as `limits` so the router and the decoder agree).
#pragma once

#include "core/time.hpp"
#include "pubsub/rpc.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace pubsub {

using namespace std::chrono_literals;

// Peer score weights and thresholds (PUBSUB-NOTES §1 "Scoring, first version"). The
// thresholds are derived from the weights: one invalid message (P4 = -100 x 1^2) puts a
// peer at the gossip threshold, four below the publish threshold and ten at the graylist.
// A broken promise costs ten times less (P7 = -10 x n^2): one slow answer is forgiven,
// four put the peer out of gossip, a steady liar reaches the graylist.
struct ScoreConfig {
    // P1, time in mesh: a small reward for staying, per topic, capped (one hour).
    double time_in_mesh_weight = 1.0 / 60.0;  // per second in the mesh
    double time_in_mesh_cap_s = 3600.0;
    // P2, first deliveries: a small reward for being the first to bring a valid message.
    double first_delivery_weight = 1.0;
    double first_delivery_cap = 40.0;
    double first_delivery_decay = 0.98;  // per heartbeat (half-life ~34 s)
    // P3/P3b (mesh delivery rate) are off: their target depends on each topic's rate and
    // they have made honest nodes eclipse themselves (eth2.0-pm#194); nwaku sets them to 0.
    // P4, invalid messages: squared, so a few mistakes are tolerated and a flood is not.
    double invalid_weight = -100.0;
    double invalid_decay = 0.99;  // per heartbeat (half-life ~69 s)
    // P6, IP colocation: peers beyond `colocation_threshold` in one group (an IPv4 /24 or
    // IPv6 /64 the host computes) pay weight x surplus^2. Links without a group (loopback,
    // simulator) are exempt.
    double colocation_weight = -10.0;
    double colocation_threshold = 4.0;
    // P7, behaviour: broken IWANT promises and GRAFTs inside a backoff; squared.
    double behaviour_weight = -10.0;
    double behaviour_threshold = 0.0;
    double behaviour_decay = 0.99;
    // Counters below this are set to zero at decay (forgets old sins exactly).
    double decay_to_zero = 0.01;
    // No IHAVE/IWANT to or from peers below this.
    double gossip_threshold = -100.0;
    // No flood publish or fanout to peers below this.
    double publish_threshold = -1000.0;
    // Every frame of a peer below this is ignored.
    double graylist_threshold = -10000.0;
    // PX records are sent only to, and accepted only from, peers with at least this score.
    // PUBSUB-NOTES planned 100 (nwaku-like), which needs positive score parts (P1/P2) this
    // scoring does not have: no peer ever reached it, PX never flowed, and at 10,000 nodes
    // the subscribers that the few announced providers pruned could find no one else (615
    // of 1,000 meshes below D_lo; docs/simulator.md). 0: any peer not penalised. PX only
    // feeds dial candidates, dialed while the topic has fewer than D usable peers, subnets
    // spread, and each dial's handshake proves the identity.
    double accept_px_threshold = 0.0;
    // Scores of disconnected peers are kept this long so that reconnecting does not wash
    // away penalties; at most `retained_max` of them.
    core::Duration retain = 10min;
    std::size_t retained_max = 4096;
};

// Catch-up after an absence and anti-entropy (PUBSUB-NOTES §4, the durable-history
// issue): set reconciliation of a time window with topic peers, then FETCH of what is
// missing; HISTORY pages for a gap beyond the window. Bounds on both sides.
struct CatchupConfig {
    bool enabled = true;
    // After a (re)subscribe the window starts this long before the newest stored message of
    // the topic (messages in flight at the moment we left)...
    core::Duration overlap = 2min;
    // ...and is at most this long; an older gap goes to paged HISTORY requests.
    core::Duration window_max = 1h;
    // Catch-up waits this long after subscribing for the mesh to form (live traffic first).
    core::Duration start_delay = 1s;
    std::size_t peers = 2;                 // topic peers reconciled with per catch-up
    // Reconciliation round trips per session: ~3 for a few differences; a large one is
    // carried 64 KiB a message (20,000 missing ids take ~22 rounds).
    std::size_t rounds_max = 64;
    core::Duration session_timeout = 10s;  // a silent peer is given up (its ids go to the other)
    std::size_t fetch_ids_max = 256;       // ids per FETCH
    std::size_t fetches_in_flight = 2;     // per session
    std::size_t reply_bytes_max = 1024 * 1024;  // envelope bytes per FETCH/HISTORY reply
    std::size_t history_page_max = 100;    // messages per HISTORY page (Waku Store v3)
    // Requester budget per pass; beyond it the rest waits for anti-entropy.
    std::size_t pass_messages_max = 10'000;
    std::size_t pass_bytes_max = 64 * 1024 * 1024;
    // Items (keys) a side loads for one window; a larger window is reconciled in part.
    std::size_t window_items_max = 100'000;
    // Responder: sessions at once (one per peer), and a byte bucket per peer for replies.
    std::size_t serve_sessions_max = 8;
    std::size_t serve_bytes_per_s = 4 * 1024 * 1024;
    std::size_t serve_burst_bytes = 64 * 1024 * 1024;
    // Steady state: every `anti_entropy_interval` (jittered +-25%), reconcile the last
    // `anti_entropy_window` of each subscribed topic with one random mesh peer. Zero: off.
    core::Duration anti_entropy_interval = 5min;
    core::Duration anti_entropy_window = 1h;
};

struct Config {
    // Mesh degree. D and D_lo as GO's 6/5 (D_lo 5 repairs a mesh one peer earlier than the
    // spec's 4). D_hi 8, not GO's 12: every subscriber grafts D peers and accepts grafts up
    // to D_hi, so meshes settle near D_hi, and each mesh peer beyond the first is a duplicate.
    // At 10,000 nodes / 1,000 subscribers (docs/simulator.md) 8 instead of 12 cut duplicates
    // per delivery from 7.7 to 5.6 and link bytes by a fifth, with the same latency (warm
    // p99 170 vs 165 ms) and 100% delivery, with or without 20% churn.
    std::size_t d = 6;
    std::size_t d_lo = 5;
    std::size_t d_hi = 8;
    // When pruning an oversubscribed mesh, the best D_score peers by score always stay...
    std::size_t d_score = 4;
    // ...and at least D_out mesh peers are ones we dialed (an attacker cannot fill our mesh
    // with inbound links alone).
    std::size_t d_out = 2;
    // Gossip: IHAVE to max(D_lazy, gossip_factor x non-mesh topic peers) each heartbeat.
    std::size_t d_lazy = 6;
    double gossip_factor = 0.25;
    core::Duration heartbeat = 1s;

    // Message cache: messages are kept for mcache_windows heartbeats for IWANT; ids of the
    // last mcache_gossip_windows are advertised in IHAVE.
    std::size_t mcache_windows = 5;
    std::size_t mcache_gossip_windows = 3;
    // Each id is served at most this many times to one peer (IWANT amplification bound).
    std::size_t iwant_serve_max = 3;
    // A message older than seen_ttl (by its author timestamp) is stored, not relayed: this
    // bounds replays to the window in which every node still remembers the id.
    core::Duration seen_ttl = 120s;
    std::size_t seen_max = 200'000;
    // Messages with a timestamp further in the future than this are rejected.
    core::Duration future_tolerance = 20s;

    core::Duration prune_backoff = 60s;
    core::Duration unsubscribe_backoff = 10s;
    // A peer that GRAFTs within this long of our PRUNE pays an extra behaviour point.
    core::Duration graft_flood_window = 10s;
    // A PRUNE's backoff_s above this is clamped (a peer cannot lock us out forever).
    core::Duration prune_backoff_max = 1h;
    std::size_t px_max = 16;
    // Signed peer records (docs/protocol.md, "Peer exchange"). This node signs its own
    // record per subscribed topic for record_ttl (the DHT's provider TTL) and signs it
    // again once less than record_refresh is left; records valid for longer than
    // record_lifetime_max (TTL plus the DHT's packet clock window) are refused. Clocks may
    // differ by record_clock_skew: a record expired by less is dropped without blame, and
    // none that close to expiry is passed on.
    core::Duration record_ttl = 2h;
    core::Duration record_refresh = 1h;
    core::Duration record_lifetime_max = 2h + 60s;
    core::Duration record_clock_skew = 60s;
    bool flood_publish = true;
    // Opportunistic grafting is not implemented: PUBSUB-NOTES §1 keeps it off until scores
    // are tuned on real traffic, and a switch that does nothing would mislead.
    // Messages at least this large trigger IDONTWANT to mesh peers on first receipt; below
    // it the control message costs about as much as the duplicate it saves.
    std::size_t idontwant_min_size = 1024;
    // Choking (docs/protocol.md, "Choking"; the choke extension proposed for GossipSub
    // v1.2/episub): a subscriber keeps the choke_keep mesh peers that brought it the most
    // new messages first pushing whole messages, and asks the others to announce each
    // message at once in an IHAVE instead (it asks with IWANT if no pushed copy came
    // first). Every mesh peer still carries every message, so a lost pusher costs a round
    // trip, not a message; but a node receives about choke_keep copies of each message, not
    // one per mesh peer. Decided per topic at a heartbeat, once a window has
    // choke_min_messages new messages. A choked peer's announcements are bounded by
    // lazy_ihave_ids_per_heartbeat_max ids (beyond: dropped, counted ihave_over_limit).
    // At 10,000 nodes / 1,000 subscribers (docs/simulator.md, "Choking"): 5.53 -> 2.05
    // duplicates per delivery, 40% fewer link bytes, p99 delivery 365 -> 371 ms; keep 4
    // gave 2.78 and 351 ms.
    bool choke = true;
    std::size_t choke_keep = 3;
    std::size_t choke_min_messages = 10;
    std::size_t lazy_ihave_ids_per_heartbeat_max = 5000;
    // How long a peer's IDONTWANT is honoured (GO: 3 heartbeats).
    std::size_t idontwant_heartbeats = 3;
    core::Duration fanout_ttl = 60s;

    // Per-peer, per-heartbeat bounds (PUBSUB-NOTES §2).
    std::size_t ihave_per_heartbeat_max = 10;     // IHAVE messages accepted per peer
    std::size_t iwant_ids_per_heartbeat_max = 5000;  // ids we ask one peer for
    std::size_t idontwant_per_heartbeat_max = 1000;  // ids accepted from one peer
    std::size_t ihave_ids_max = 5000;              // ids in one IHAVE we send
    core::Duration iwant_promise_timeout = 3s;
    std::size_t promises_max = 16384;

    // Table bounds.
    std::size_t topics_max = 256;              // subscribed topics (fanout topics as many again)
    std::size_t topic_name_max = 256;          // bytes
    std::size_t subscriptions_per_peer_max = 256;
    std::size_t links_max = 64;                // the router never dials beyond this many links
    std::size_t dials_in_flight_max = 16;  // pending_dials + pending_near_dials
    // While own publishes of a topic are pending and no topic peer is usable yet (a
    // publisher outside the topic, just after its provider lookup), up to this many of its
    // candidates are dialed at once instead of D (within dials_in_flight_max): the pending
    // message leaves on the first link up (its handshake is ~2 round trips, so the nearest
    // of more providers answers sooner), and the rest become further topic peers. In the
    // simulator 12 instead of 6 cut the first link's p99 from 360 to 240 ms after its dial.
    std::size_t pending_dials = 12;
    // ...and beyond those, up to this many candidates whose round trip the host measured
    // (PeerAddress::rtt: a provider that answered the DHT's near probe, dht::Config::
    // providers_nearby), which arrive a little after the first records and are likely the
    // nearest: measured candidates are dialed first, nearest first, in any case.
    std::size_t pending_near_dials = 4;
    std::size_t candidates_per_topic_max = 64;  // dial candidates kept per topic
    core::Duration candidate_ttl = 10min;
    core::Duration dial_timeout = 30s;         // a dial the host never reported on is forgotten
    core::Duration dial_backoff = 30s;         // after a failed dial, doubling...
    core::Duration dial_backoff_max = 10min;   // ...up to this
    // NeedPeers for a topic with fewer than d_lo known peers, at most once per this
    // interval, doubling while it finds nobody, up to the max.
    core::Duration need_peers_interval = 5s;
    core::Duration need_peers_interval_max = 5min;

    // Messages published while no peer of the topic is known wait here and go to every
    // topic peer that shows up before they expire (PUBSUB-NOTES §7: nothing published
    // right after start or subscribe is lost).
    core::Duration pending_ttl = 30s;
    std::size_t pending_per_topic_max = 64;
    std::size_t pending_bytes_max = 4 * 1024 * 1024;

    // Soft cap on the message bytes one outgoing Rpc carries (at least one message always
    // fits); keeps link frames small enough to interleave with control.
    std::size_t rpc_message_bytes_max = 256 * 1024;

    RpcLimits limits;  // the payload_max in here is the largest payload accepted or published
    ScoreConfig score;
    CatchupConfig catchup;
};

}  // namespace pubsub
