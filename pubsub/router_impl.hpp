// The router's private state, shared by its .cpp files (internal header; nothing outside
// pubsub/router*.cpp includes it). Map of the implementation:
//   router.cpp           public surface, links, commands (subscribe/publish), outputs
//   router_receive.cpp   one Rpc in: subscriptions, messages in the §3 validation order,
//                        IHAVE/IWANT/IDONTWANT
//   router_mesh.cpp      GRAFT/PRUNE in and out, backoff, mesh repair, fanout, candidates
//   router_px.cpp        signed peer records: our own, those peers give us, PX in and out
//   router_heartbeat.cpp the heartbeat: gossip emission, expiries, NeedPeers, dialing
//   router_choke.cpp     choking: which mesh peers push whole messages to us, which announce
//   router_catchup.cpp   catch-up and anti-entropy: SYNC/FETCH/HISTORY, both roles
//                        (state in catchup_state.hpp)
//   rpc_split.cpp        one outgoing Rpc cut into frames within the wire bounds
// Invariants (checked in test builds by check_invariants): every mesh peer is connected and
// subscribed to the topic; mesh sizes never exceed d_hi after a heartbeat; links_ and
// peers_ agree.
#pragma once

#include "core/signer.hpp"
#include "pubsub/catchup_state.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/has_index.hpp"
#include "pubsub/mcache.hpp"
#include "pubsub/router.hpp"
#include "pubsub/score.hpp"
#include "pubsub/seen_cache.hpp"

#include <deque>
#include <map>
#include <set>
#include <unordered_map>

namespace pubsub {

// Cuts `rpc` into frames that each respect `limits` and carry at most `message_bytes_max`
// of messages (one message always fits).
std::vector<Rpc> split_rpc(Rpc rpc, RpcLimits const& limits, std::size_t message_bytes_max);

struct Router::Impl {
    // A signed peer record as held: `verified` once its signature was checked (or its
    // source, the host's DHT lookup, checked it), so each record costs one verify at most.
    struct HeldRecord {
        PeerRecord record;
        bool verified = false;
    };
    struct PeerState {
        NodeId id;
        LinkId link = 0;                 // the link we send on
        std::vector<LinkId> extra_links; // duplicate links we asked the host to close
        bool outbound = false;
        std::set<TopicKey> topics;       // what the peer announced it subscribes to
        // Its own records, per topic it subscribes to (Rpc::records): what we pass on in PX.
        std::map<TopicKey, HeldRecord> records;
        // Its slot in `has_index` (which ids it has: it sent them, or said IDONTWANT);
        // none when all slots are taken (then nothing it has is remembered).
        std::optional<HasIndex::Slot> has_slot;
        // Per-heartbeat budgets (PUBSUB-NOTES §2).
        std::size_t ihave_in = 0;
        std::size_t iwant_ids_asked = 0;
        std::size_t idontwant_in = 0;
        std::size_t lazy_ids_in = 0;  // ids announced to us while we choke it (all topics)
    };
    struct NeedPeersState {
        core::Instant next{};
        core::Duration interval{};
    };
    struct TopicState {
        std::string name;
        std::set<NodeId> mesh;
        std::uint64_t delivered = 0;
        NeedPeersState need;
        // Choking (router_choke.cpp), for mesh peers only: forgotten when the peer leaves
        // the mesh (swept each heartbeat) and reset when it is grafted again.
        std::set<NodeId> choked;                 // we asked it to announce, not push
        std::set<NodeId> choked_us;              // it asked us: it gets an IHAVE per message
        std::map<NodeId, std::uint32_t> firsts;  // new messages it brought first, this window
        std::uint32_t window_messages = 0;       // new messages this window
    };
    struct FanoutState {
        std::string name;
        std::set<NodeId> peers;
        core::Instant last_publish{};
        NeedPeersState need;
    };
    struct Backoff {
        core::Instant until{};
        core::Instant pruned_at{};
    };
    struct Promise {
        NodeId peer;
        core::Instant deadline{};
    };
    struct Pending {
        TopicKey topic;
        MessageId id;
        core::Bytes encoded;
        core::Instant expires{};
        std::set<NodeId> sent_to;
    };
    struct Candidate {
        PeerAddress peer;                  // whom to dial (the record's id and addresses if signed)
        std::optional<HeldRecord> record;  // signed (DHT or PX): checked before dialing, passed on in PX
        std::optional<NodeId> px_from;     // the peer whose PX named it: blamed if the record fails
        core::Instant expires{};
        bool rejected = false;             // its record failed verification: erased by the next sweep
    };
    struct DialState {
        bool in_flight = false;
        core::Instant started{};
        core::Instant retry_after{};
        core::Duration backoff{};
    };

    Impl(Config const& config, core::Identity const& self, MessageStore& store, core::Rng rng, core::Instant now,
         core::WallClockAnchor wall, std::uint64_t first_seqno);

    // router.cpp
    Rpc& out(LinkId link, links::Priority priority);
    void flush();
    // Built in place in the queue: moving a whole Event through a temporary trips GCC 12's
    // -Wmaybe-uninitialized on the other alternatives at -O2 (a false positive).
    template <class E>
    void emit(E&& event) { events.emplace_back(std::forward<E>(event)); }
    PeerState* peer_of_link(LinkId link);
    PeerState* peer(NodeId const& id);
    double score(core::Instant now, NodeId const& id) const { return scores.score(now, id); }
    std::int64_t wall_ms(core::Instant now) const { return wall.to_unix_ms(now); }
    void remove_peer(core::Instant now, NodeId const& id);
    void deliver(TopicKey const& key, Message message, Arrival arrival);
    void send_pending_to(core::Instant now, TopicKey const& topic, PeerState& peer);
    // On a link we dialed: the pending publishes of every topic whose dial candidates name
    // this peer (its provider record or PX says it subscribes), sent before its
    // subscription arrives (see handle_link_up).
    void send_pending_to_dialed(core::Instant now, PeerState& peer);
    // Whether own publishes of `topic` are pending (not expired).
    bool has_pending(core::Instant now, TopicKey const& topic) const;
    void queue_pending(core::Instant now, Message const& message, std::vector<NodeId> const& sent_to);
    // Sends an own message (just signed, or from the host's durable outbox) to the topic:
    // seen-cache, mcache, flood/mesh/fanout targets, pending when below D_lo. Returns the
    // number of peers it went to.
    std::size_t send_own(core::Instant now, std::string_view name, Message const& message);
    // Names, in the Rpc to `to`, the other flood targets of own message `seqno` (at most
    // flood_hint_peers_max of them): the receiver will not forward it to those.
    void add_flood_hint(Rpc& rpc, std::uint64_t seqno, std::vector<NodeId> const& targets, NodeId const& to);
    // After an own message: asks for more topic peers and dials candidates.
    void ask_for_peers(core::Instant now, TopicKey const& key);
    void check_invariants() const;

    // router_receive.cpp
    void on_rpc(core::Instant now, PeerState& peer, Rpc rpc);
    void on_subscription(core::Instant now, PeerState& peer, SubOpt const& sub);
    // `hints`: the frame's flood hints (honoured only for a message authored by `peer`).
    void on_message(core::Instant now, PeerState& peer, core::Bytes encoded, std::vector<FloodHint> const& hints);
    void on_ihave(core::Instant now, PeerState& peer, IHave const& ihave);
    void on_iwant(core::Instant now, PeerState& peer, IWant const& iwant);
    void on_idontwant(core::Instant now, PeerState& peer, IDontWant const& idontwant);
    void invalid(PeerState& peer, InvalidReason reason, bool penalise);
    void invalid_envelope(PeerState& peer, EnvelopeError error);  // parse_message failed
    void note_has(core::Instant now, PeerState& peer, MessageId const& id);
    // Whether `peer` has `id` by the has-index entry `has` (HasIndex::find).
    static bool peer_has(HasIndex::Entry const* has, PeerState const& peer) { return HasIndex::has(has, peer.has_slot); }
    void fulfil_promise(MessageId const& id);

    // router_mesh.cpp
    void on_graft(core::Instant now, PeerState& peer, Graft const& graft);
    void on_prune(core::Instant now, PeerState& peer, Prune const& prune);
    void graft(core::Instant now, TopicKey const& key, TopicState& topic, PeerState& peer);
    void prune(core::Instant now, TopicKey const& key, PeerState& peer, core::Duration backoff, bool with_px);
    bool in_backoff(core::Instant now, TopicKey const& topic, NodeId const& peer) const;
    bool can_graft(core::Instant now, TopicKey const& key, TopicState const& topic, NodeId const& peer) const;
    void fill_mesh(core::Instant now, TopicKey const& key, TopicState& topic, std::size_t target, bool outbound_only);
    void maintain_mesh(core::Instant now, TopicKey const& key, TopicState& topic);
    void trim_mesh(core::Instant now, TopicKey const& key, TopicState& topic);
    void maintain_fanout(core::Instant now);
    void add_candidates(core::Instant now, TopicKey const& topic, std::vector<PeerAddress> peers);
    // Keeps one candidate per peer per topic (bounded): a record checked already is not
    // replaced by one still unchecked, nor by an older one.
    void add_candidate(core::Instant now, TopicKey const& topic, Candidate fresh);
    std::size_t known_peers(TopicKey const& topic) const;
    std::size_t usable_peers(core::Instant now, TopicKey const& topic) const;

    // router_choke.cpp
    void on_choke(core::Instant now, PeerState& peer, Choke const& choke);
    // A new message of `topic` arrived first from `from` (pushed, or announced while choked).
    void note_first(TopicState& topic, NodeId const& from);
    // Hands `encoded` (message `id`) to mesh peer `to`: the message itself, or an IHAVE of
    // its id if `to` choked us, unless this is the first hop from the author (`first_hop`).
    void push_or_announce(TopicKey const& key, TopicState const& topic, PeerState& to, MessageId const& id,
                          core::Bytes const& encoded, bool first_hop = false);
    // Heartbeat: forgets peers that left the mesh; once a window holds choke_min_messages
    // new messages, keeps the choke_keep mesh peers that brought the most first unchoked and
    // chokes the rest; between windows, unchokes the best choked peers if fewer than
    // choke_keep are left pushing.
    void maintain_chokes(TopicKey const& key, TopicState& topic);
    void forget_choke(TopicState& topic, NodeId const& id);
    void set_choke(TopicKey const& key, TopicState& topic, NodeId const& id, bool choke);

    // router_px.cpp
    // Our own record for a subscribed topic, signed now or earlier and not due for
    // refresh; nullptr when we have no usable listen address to name.
    PeerRecord const* own_record(core::Instant now, TopicKey const& key);
    void send_own_record(core::Instant now, TopicKey const& key, PeerState& peer);
    // Heartbeat: records signed again before they expire go to the topic's peers.
    void refresh_own_records(core::Instant now);
    void on_peer_record(core::Instant now, PeerState& peer, PeerRecord record);
    // Checks one signature (at most once per held record); counts it.
    bool verify(HeldRecord& held);
    // Up to px_max records of other linked peers of the topic, each checked before it goes.
    std::vector<PeerRecord> px_for(core::Instant now, TopicKey const& topic, NodeId const& exclude);
    // A record of this topic's PX, checked for what it names and when; nullopt if usable.
    std::optional<DropReason> px_field_problem(core::Instant now, TopicKey const& topic, PeerRecord const& record,
                                               bool& blame) const;
    // The PX of a PRUNE from `peer` (above accept_px): cheap checks now, the signature
    // just before a dial (maybe_dial); candidates.
    void take_px(core::Instant now, PeerState& peer, Prune const& prune);
    // maybe_dial's last check of a PX candidate; false (counted, sender blamed) if forged.
    bool candidate_verified(Candidate& candidate);

    // router_heartbeat.cpp
    void heartbeat(core::Instant now);
    void emit_gossip(core::Instant now);
    void expire_promises(core::Instant now);
    void expire_state(core::Instant now);
    void need_peers(core::Instant now, TopicKey const& topic, NeedPeersState& need);
    void maybe_dial(core::Instant now);
    // Asks the host for a link to `peer` (Dial) and counts the dial as in flight.
    void start_dial(core::Instant now, PeerAddress const& peer);

    // router_catchup.cpp
    reconcile::Limits reconcile_limits() const;
    std::uint32_t next_catchup_number();
    core::Duration jittered(core::Duration d);
    void plan_catchup(core::Instant now, TopicKey const& key);
    void forget_catchup(TopicKey const& key);
    std::vector<NodeId> catchup_peers(core::Instant now, TopicKey const& key, std::set<NodeId> const& exclude,
                                      std::size_t want);
    void run_plans(core::Instant now);
    void run_anti_entropy(core::Instant now);
    bool topic_in_sync(TopicKey const& key) const;
    void explore(core::Instant now, TopicKey const& key);
    void relay_caught_up(core::Instant now, PeerState const& from, TopicState const& topic, Message const& message);
    void start_session(core::Instant now, TopicKey const& key, NodeId const& peer, std::int64_t from_ms,
                       std::int64_t to_ms, bool anti_entropy);
    void send_sync(PeerState& peer, Sync sync);
    void end_session(std::uint32_t number, SyncOutcome outcome);
    void fail_session(core::Instant now, std::uint32_t number);
    void retry_plan(core::Instant now, SyncSession const& session);
    void on_sync(core::Instant now, PeerState& peer, Sync& sync);
    void pump_fetches(core::Instant now, std::uint32_t number);
    void start_history(core::Instant now, TopicKey const& key, NodeId const& peer, std::int64_t from_ms,
                       std::int64_t to_ms, std::optional<StoreCursor> after);
    void on_fetched(core::Instant now, PeerState& peer, Fetched& reply);
    void on_history_page(core::Instant now, PeerState& peer, HistoryPaging paging, Fetched& reply);
    std::optional<MessageId> accept_caught_up(core::Instant now, PeerState& peer, TopicKey const& topic,
                                              core::Bytes encoded,
                                              std::unordered_set<MessageId, core::NodeIdHash> const* wanted);
    bool take_serve_budget(core::Instant now, NodeId const& peer, std::size_t bytes);
    void serve_sync(core::Instant now, PeerState& peer, Sync const& sync);
    void on_fetch(core::Instant now, PeerState& peer, Fetch const& fetch);
    void send_fetched(PeerState& peer, Fetched reply);
    void catchup_tick(core::Instant now);
    void catchup_peer_gone(core::Instant now, NodeId const& id);

    Config config;
    core::Identity const& self;
    MessageStore& store;
    core::Rng rng;
    core::WallClockAnchor wall;
    std::uint64_t next_seqno;
    Validator validator;
    core::IdentitySigner signer;         // signs our own peer records
    std::vector<core::Endpoint> listen;  // our link addresses, named in our own records
    std::map<TopicKey, PeerRecord> own_records;  // per subscribed topic, re-signed before expiry

    SeenCache seen;
    HasIndex has_index;
    MessageCache mcache;
    ScoreTable scores;
    Stats stats;

    std::map<LinkId, NodeId> links;
    std::map<NodeId, PeerState> peers;
    std::map<TopicKey, std::set<NodeId>> topic_peers;  // known subscribers per topic
    std::map<TopicKey, TopicState> topics;             // subscribed
    std::map<TopicKey, FanoutState> fanout;            // published to, not subscribed
    std::map<std::pair<TopicKey, NodeId>, Backoff> backoffs;
    std::unordered_map<MessageId, Promise, core::NodeIdHash> promises;
    std::unordered_map<MessageId, core::Instant, core::NodeIdHash> iwant_outstanding;
    std::deque<Pending> pending;
    std::size_t pending_bytes = 0;
    std::map<TopicKey, std::vector<Candidate>> candidates;
    CatchupState catchup;
    std::map<NodeId, DialState> dials;
    std::size_t dials_in_flight = 0;

    std::map<std::pair<LinkId, links::Priority>, Rpc> outbox;
    std::deque<Send> sends;
    std::deque<Event> events;
    core::Instant next_heartbeat;
};

}  // namespace pubsub
