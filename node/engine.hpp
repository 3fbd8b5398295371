// node::Engine: the pure protocol engine a node runs, and the one the simulator hosts
// thousands of. It owns the DHT core, the pub/sub router and the link sessions, and is
// the one command surface hosts (Asio runtime, HTTP API, simulator) talk to. It routes
// between the cores: the router's need for topic peers becomes a DHT provider lookup
// whose records come back as dial candidates; its Dial becomes a stream the host opens;
// link frames are decrypted by link::Session, decoded as Rpcs and handed to the router,
// and its Rpcs go back the same way. It assigns stream ids (outbound and accepted),
// merges the wakeups, and hands the host one event type. It does no I/O and reads no
// clock.
//
// Polling contract: after every input (handle_* or command), drain poll_transmit() and
// poll_event() until empty, write what take_stream_bytes() gives for every stream
// poll_writable() names, then (re)arm a timer for next_wakeup().
#pragma once

#include "core/crypto.hpp"
#include "core/signer.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "dht/dht_node.hpp"
#include "link/session.hpp"
#include "node/engine_stats.hpp"
#include "pubsub/router.hpp"

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

namespace node {

using namespace std::chrono_literals;

struct EngineConfig {
    dht::Config dht;
    pubsub::Config pubsub;
    links::Config link;
    // Streams of all kinds (handshaking, established, inbound, outbound): bounds the
    // sockets and session memory a node spends on links.
    std::size_t links_max = 128;
    // Handshakes one source IP may start with us (token bucket): a handshake costs a few
    // X25519 operations; floods of them must not.
    double handshakes_per_ip_per_s = 10.0;
    double handshake_burst = 20.0;
    std::size_t handshake_limiter_ips_max = 4096;
    // Frames one established link may hand the router per input: bounds the work one
    // peer's burst costs before others get a turn.
    std::size_t frames_per_input_max = 256;
};

// Streams are the host's byte streams (TCP in production, modelled links in the
// simulator); the engine numbers them. Never reused within an engine's life.
using StreamId = std::uint64_t;

// Open a stream to `to` (the host reports handle_stream_connected or
// handle_stream_closed).
struct StreamOpen {
    StreamId id = 0;
    core::Endpoint to;
};
// Write `last_bytes`, then close the stream; the engine has forgotten it.
struct StreamClose {
    StreamId id = 0;
    core::Bytes last_bytes;  // write these first (the link's final frame)
};

using Event = std::variant<dht::Event, pubsub::Delivered, StreamOpen, StreamClose>;

class Engine {
public:
    // `identity`, `crypto`, `store` and `messages` must outlive the engine. `first_seqno`:
    // see pubsub::Router. `listen` are the node's own addresses (announced in provider
    // records; links listen on the same port numbers over TCP).
    Engine(EngineConfig const& config, core::Identity const& identity, core::PacketCrypto const& crypto,
           store::RecordStore& store, pubsub::MessageStore& messages, core::Rng rng, core::Instant now,
           core::WallClockAnchor wall, std::uint64_t first_seqno, std::vector<core::Endpoint> listen);
    ~Engine();
    Engine(Engine const&) = delete;
    Engine& operator=(Engine const&) = delete;

    // --- Inputs from the world. ---
    void handle_datagram(core::Instant now, core::Endpoint const& from, core::ByteView bytes);
    void handle_timeout(core::Instant now);
    // A stream was accepted from `from`. Returns its id, or nullopt when refused (too
    // many links, or too many handshakes from that address): the host closes it.
    std::optional<StreamId> handle_stream_accepted(core::Instant now, core::Endpoint const& from);
    void handle_stream_connected(core::Instant now, StreamId id);
    void handle_stream_bytes(core::Instant now, StreamId id, core::ByteView bytes);
    // The stream ended or failed (also: a connect that failed).
    void handle_stream_closed(core::Instant now, StreamId id);

    // --- DHT commands. ---
    void bootstrap(core::Instant now, core::Endpoint const& address);
    void add_known_contact(core::Instant now, dht::Contact const& contact);
    dht::LookupId find_node(core::Instant now, core::NodeId const& target);
    dht::LookupId get(core::Instant now, core::Key const& key, bool until_first = false);
    dht::LookupId put(core::Instant now, core::Key const& key, core::Bytes value, core::Duration ttl);

    // --- Pub/sub commands. ---
    core::Result<void, pubsub::PublishError> subscribe(core::Instant now, std::string_view topic);
    void unsubscribe(core::Instant now, std::string_view topic);
    core::Result<pubsub::PublishReceipt, pubsub::PublishError> publish(core::Instant now, std::string_view topic,
                                                                       core::ByteView payload);
    // Sends an already-signed own message again (the runtime's durable outbox after a
    // restart); see pubsub::Router::republish.
    core::Result<pubsub::PublishReceipt, pubsub::PublishError> republish(core::Instant now, std::string_view topic,
                                                                         pubsub::Message const& message);

    // --- Outputs. ---
    [[nodiscard]] std::optional<core::Transmit> poll_transmit();
    [[nodiscard]] std::optional<Event> poll_event();
    // A stream with bytes to write, once per time it gains some.
    [[nodiscard]] std::optional<StreamId> poll_writable();
    // Up to `max_bytes` to write on `id` now (empty when none).
    core::Bytes take_stream_bytes(StreamId id, std::size_t max_bytes);
    // Whether `id` has bytes to write now (after a partial take).
    bool stream_wants_write(StreamId id) const;
    [[nodiscard]] std::optional<core::Instant> next_wakeup() const;

    // --- Observation (read-only; commands go through the methods above). ---
    dht::DhtNode const& dht() const { return dht_; }
    pubsub::Router const& pubsub() const { return router_; }
    // The engine's counters with the live sessions' bytes and frames added in.
    EngineStats stats() const;
    std::size_t links(bool outbound) const;
    std::size_t streams() const { return streams_.size(); }

private:
    struct Stream {
        links::Session session;
        core::Endpoint remote;
        bool outbound = false;
        bool connected = false;          // outbound: the host's connect finished
        bool up = false;                 // the router knows it as a link
        std::optional<core::NodeId> expected;  // outbound: whom we dialed
        bool write_signalled = false;    // in writable_ already
        bool closing = false;            // StreamClose emitted
    };

    void pump(core::Instant now);
    void pump_dht_events(core::Instant now);
    void pump_router(core::Instant now);
    void pump_streams(core::Instant now);
    void service_stream(core::Instant now, StreamId id, Stream& s);
    void on_established(core::Instant now, StreamId id, Stream& s);
    void finish_stream(core::Instant now, StreamId id, Stream& s);
    void dial(core::Instant now, pubsub::PeerAddress const& peer);
    void give_providers(core::Instant now, pubsub::TopicKey const& topic, std::vector<dht::ProviderRecord> const& records);
    std::optional<StreamId> new_stream(core::Instant now, core::Endpoint const& remote, bool outbound,
                                       std::optional<core::NodeId> expected);
    bool handshake_allowed(core::Instant now, core::Endpoint const& from);
    void mark_writable(StreamId id, Stream& s);
    std::array<std::byte, 32> ephemeral_seed();

    EngineConfig config_;
    // config_.pubsub.limits with payload_max raised to the wire bound: frames decode
    // against this, the router then drops a message above our own limit alone (rpc.hpp).
    pubsub::RpcLimits frame_limits_;
    core::Identity const& identity_;
    core::IdentitySigner signer_;
    core::Rng rng_;
    dht::DhtNode dht_;
    pubsub::Router router_;
    std::vector<core::Endpoint> listen_;
    EngineStats stats_;
    bool progress_ = false;  // set by a pump pass that moved anything

    std::map<StreamId, Stream> streams_;
    StreamId next_stream_ = 1;
    std::unordered_map<core::NodeId, StreamId, core::NodeIdHash> link_of_peer_;
    std::deque<StreamId> writable_;
    std::deque<Event> events_;
    // Provider lookups the engine started for the router: lookup id -> topic.
    std::unordered_map<dht::LookupId, pubsub::TopicKey> provider_lookups_;
    struct Bucket {
        double tokens = 0;
        core::Instant at{};
    };
    std::unordered_map<std::uint64_t, Bucket> handshake_buckets_;
};

}  // namespace node
