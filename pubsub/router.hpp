// pubsub::Router: the GossipSub-v1.1-like mesh of PUBSUB-NOTES §1–§3 as a sans-I/O state
// machine: a mesh per subscribed topic (D/D_lo/D_hi), heartbeat, GRAFT/PRUNE with backoff
// and peer exchange, IHAVE/IWANT from the message cache, IDONTWANT, fanout for topics it
// publishes to without subscribing, flood publish by the origin, the seen-cache, peer
// scoring, message validation in the order of §3, and delivery to the application.
// It sees links as authenticated peers exchanging decoded Rpcs: it does not encrypt,
// frame, dial or look anything up itself. It asks the host for topic peers (NeedPeers,
// answered with add_provider_records from DHT provider lookups), for links (Dial, CloseLink) and for
// provider announcements (Announce, Withdraw), and hands it Rpcs to send.
//
// Polling contract: after every handle_* call or command, drain poll_send() and
// poll_event() until empty, then (re)arm a timer for next_wakeup().
#pragma once

#include "core/crypto.hpp"
#include "core/result.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "link/priority.hpp"
#include "pubsub/config.hpp"
#include "pubsub/message_store.hpp"
#include "pubsub/rpc.hpp"
#include "pubsub/score.hpp"
#include "pubsub/stats.hpp"
#include "pubsub/types.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pubsub {

// The host's name for one established link (the engine assigns them; never reused).
using LinkId = std::uint64_t;

// An Rpc to send on a link, at one priority.
struct Send {
    LinkId link = 0;
    links::Priority priority = links::Priority::control;
    Rpc rpc;
};

// How a delivered message reached this node: for the latency split of the simulator's
// report and the delivery metrics (a mesh path is the fast one; IWANT waits on gossip).
enum class Arrival : std::uint8_t {
    own,      // published by this node
    mesh,     // forwarded by a mesh peer of the topic
    push,     // pushed by a topic peer outside the mesh (the origin's flood publish, fanout)
    iwant,    // the answer to an IWANT after an IHAVE (gossip: a heartbeat later)
    catchup,  // set reconciliation, FETCH or HISTORY after an absence or a partition
};
inline constexpr std::size_t arrival_count = 5;
char const* to_string(Arrival arrival);

// A valid message of a subscribed topic, handed to the application once per node.
struct Delivered {
    std::string topic;  // the subscribed name
    Message message;
    Arrival arrival = Arrival::mesh;
    // Found by catch-up rather than live gossip: such messages come in (ts_ms, id) order
    // per catch-up batch, and the CLI stream and SSE mark them.
    bool caught_up() const { return arrival == Arrival::catchup; }
};
// The router wants (more) peers for a topic: the host runs a provider lookup for `topic`
// and answers with add_provider_records (possibly several times as records arrive).
struct NeedPeers {
    TopicKey topic;
};
// Open a link to this peer; the host reports handle_link_up or handle_dial_failed.
struct Dial {
    PeerAddress peer;
};
struct CloseLink {
    LinkId link = 0;
};
// Start / stop announcing this node as a provider of `topic` in the DHT.
struct Announce {
    TopicKey topic;
};
struct Withdraw {
    TopicKey topic;
};
using Event = std::variant<Delivered, NeedPeers, Dial, CloseLink, Announce, Withdraw>;

enum class PublishError : std::uint8_t { too_large, too_many_topics, bad_topic };

struct PublishReceipt {
    MessageId id;
    std::uint64_t seqno = 0;
    std::int64_t ts_ms = 0;
    // Links the message was sent on right away. Below D_lo the message is also kept for
    // pending_ttl and sent to every topic peer that shows up meanwhile.
    std::size_t peers = 0;
    // The signed message (publish only): the host persists it, whether or not the node
    // subscribes to the topic (the router stores only its subscribed topics' messages).
    Message message;
};

// The application's verdict on a message that passed every other check (§3): reject
// costs the sender score (P4); ignore drops it quietly (neither delivered nor relayed).
enum class Validation : std::uint8_t { accept, reject, ignore };
using Validator = std::function<Validation(std::string_view topic, Message const& message)>;

struct TopicInfo {
    std::string name;
    TopicKey key;
    bool subscribed = false;  // false: a fanout topic
    std::size_t mesh_peers = 0;
    std::size_t known_peers = 0;  // links whose peer subscribes to the topic
    std::uint64_t delivered = 0;
};

class Router {
public:
    // `self` and `store` must outlive the router. `first_seqno` is the lowest sequence
    // number this run may use (the host makes it larger than any used before, e.g. from
    // the wall clock in microseconds, so numbers never repeat across restarts).
    Router(Config const& config, core::Identity const& self, MessageStore& store, core::Rng rng,
           core::Instant now, core::WallClockAnchor wall, std::uint64_t first_seqno);
    ~Router();
    Router(Router const&) = delete;
    Router& operator=(Router const&) = delete;

    // --- Links (authenticated by the link layer). ---
    // `outbound`: we dialed it (the outbound quota counts these). `ip_group`: the peer's
    // colocation group for P6 scoring (e.g. Endpoint::subnet_key() of its address);
    // nullopt exempts it (loopback, simulator). A second link to a peer already linked is
    // closed (CloseLink): the one dialed by the node with the smaller id stays.
    void handle_link_up(core::Instant now, LinkId link, NodeId const& peer, bool outbound,
                        std::optional<std::uint64_t> ip_group);
    void handle_link_down(core::Instant now, LinkId link);
    void handle_dial_failed(core::Instant now, NodeId const& peer);
    void handle_rpc(core::Instant now, LinkId link, Rpc rpc);
    // A frame on `link` that did not decode: counted, costs the peer score.
    void handle_bad_frame(core::Instant now, LinkId link, core::DecodeError error);
    void handle_timeout(core::Instant now);

    // --- Commands. ---
    // Joins the topic's mesh (grafts at once on known peers, asks for more); idempotent.
    // Fails only when the topic limit is reached or the name is empty or too long.
    core::Result<void, PublishError> subscribe(core::Instant now, std::string_view topic);
    void unsubscribe(core::Instant now, std::string_view topic);
    // Signs and sends a message (flood publish to topic peers above the publish threshold);
    // the router delivers it locally too when subscribed. Fails on a payload above
    // limits.payload_max, a bad name, or a new fanout topic beyond topics_max.
    core::Result<PublishReceipt, PublishError> publish(core::Instant now, std::string_view topic, core::ByteView payload);
    // Sends an already-signed message of this node again, as publish sends a new one
    // (targets, fanout, pending queue), without re-signing: the host's durable outbox
    // uses it after a restart. `topic` is the name whose key the message carries
    // (bad_topic otherwise). The message must be this node's own and valid (the host read
    // it from its store); it is not stored or delivered again. receipt.message is empty.
    core::Result<PublishReceipt, PublishError> republish(core::Instant now, std::string_view topic,
                                                         Message const& message);
    // Where this node takes links (the host's listen addresses, at most addrs_max kept):
    // named in the record the router signs for each subscribed topic and gives the topic's
    // peers, so they can name us in peer exchange. Without a usable address (a wildcard,
    // port 0) no record is made and peers can pass us on only from our DHT record.
    void set_listen_addresses(std::vector<core::Endpoint> addrs);
    // Peers for a topic, from configuration: kept as dial candidates (bounded, expiring)
    // and dialed while the topic has fewer than D usable peers. Never passed on in PX
    // (nothing signed says where they are).
    void add_peers(core::Instant now, TopicKey const& topic, std::vector<PeerAddress> peers);
    // The same for provider records the host's DHT lookup found for `topic` and verified
    // (dht::DhtNode checks each record it reports): candidates that PX may pass on.
    // rtts[i], when given and non-zero, is the round trip the host measured to records[i]'s
    // node (PeerAddress::rtt: measured candidates are dialed first).
    void add_provider_records(core::Instant now, TopicKey const& topic, std::vector<PeerRecord> records,
                              std::vector<core::Duration> const& rtts = {});

    // Installs the application validator (default: accept everything that is signed).
    void set_validator(Validator validator);

    // --- Outputs. Drain after every input. ---
    [[nodiscard]] std::optional<Send> poll_send();
    [[nodiscard]] std::optional<Event> poll_event();
    [[nodiscard]] std::optional<core::Instant> next_wakeup() const;

    // --- Observation. ---
    Stats const& stats() const;
    std::vector<TopicInfo> topics() const;
    std::vector<double> peer_scores(core::Instant now) const;
    double peer_score(core::Instant now, NodeId const& peer) const;
    ScoreParts peer_score_parts(core::Instant now, NodeId const& peer) const;
    // Current mesh peers of a subscribed topic (empty if not subscribed).
    std::vector<NodeId> mesh(TopicKey const& topic) const;
    // Peers known to subscribe to `topic` (over live links).
    std::vector<NodeId> topic_peers(TopicKey const& topic) const;
    NodeId const& id() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pubsub
