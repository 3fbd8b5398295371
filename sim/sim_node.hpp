// sim::SimNode: one simulated node: the real node::Engine over a store::MemStore, its
// PacketCrypto, its endpoint and an Rng derived from (run seed, node index). It is not a
// host loop (the Simulator feeds it) and does no I/O. Invariant: `engine` is non-null
// exactly while state == up; the store and identity outlive crashes (they are the disk).
#pragma once

#include "core/crypto.hpp"
#include "core/endpoint.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "dht/config.hpp"
#include "dht/stats.hpp"
#include "node/engine.hpp"
#include "pubsub/memory_store.hpp"
#include "pubsub/stats.hpp"
#include "sim/latency_model.hpp"
#include "sim/stream_link.hpp"
#include "store/mem_store.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

namespace sim {

enum class CryptoMode : std::uint8_t { standin, real };

// The catch-up counters of pubsub::Stats (PUBSUB-NOTES §4), summed over a node's lives or
// over nodes: what the report's catch-up section shows.
struct CatchupCounters {
    std::uint64_t catchup_messages = 0;
    std::uint64_t sync_bytes_sent = 0;
    std::uint64_t sync_bytes_received = 0;
    std::uint64_t fetch_served = 0;
    std::uint64_t anti_entropy_runs = 0;
    std::array<std::uint64_t, pubsub::sync_outcome_count> sync_sessions{};

    void add(pubsub::Stats const& s);
    void add(CatchupCounters const& c);
};

// All nodes share one wall-clock anchor, so their packet timestamps agree exactly; the
// scenario uses it to read record expiry in a node's store.
inline constexpr core::WallClockAnchor sim_wall{core::Instant{}, core::UnixTime{1'700'000'000}};

struct SimNode {
    enum class State : std::uint8_t { created, up, down, gone };

    // A node that does not run yet: identity, crypto and store, derived from (seed, index).
    // With CryptoMode::real the key pair comes from Identity::from_seed (an ed25519 key
    // generation, ~20 µs); with standin the public key is 32 random bytes.
    // `signing`: the node gets a real ed25519 identity even with stand-in packet crypto
    // (pub/sub signs messages and provider records, and links prove identities).
    SimNode(NodeIndex index, std::uint64_t seed, CryptoMode crypto, std::size_t records_max, bool signing = false);
    SimNode(SimNode&&) noexcept = default;
    SimNode& operator=(SimNode&&) noexcept = default;

    // Creates the engine (state becomes up). Each start draws a fresh engine Rng from
    // `rng`, so a restarted node does not replay its first life's choices.
    void start(node::EngineConfig const& config, core::Instant now);
    // Destroys the engine, keeping its counters in `stats_before` (state becomes down, or
    // gone when the node leaves for good).
    void stop(bool leave);

    bool up() const { return state == State::up; }

    NodeIndex index = 0;
    core::Endpoint endpoint;
    core::PublicKey public_key;
    core::NodeId id;
    // The secret key is zero unless the node signs (stand-in runs without pub/sub).
    core::Identity identity;
    core::Rng rng;
    std::unique_ptr<core::PacketCrypto> crypto;
    std::unique_ptr<store::MemStore> store;
    std::unique_ptr<pubsub::MemoryMessageStore> messages;  // survives crashes, like `store`
    // The engine's streams and the simulator's links, both ways (this life only).
    std::unordered_map<node::StreamId, LinkId> link_of_stream;
    std::unordered_map<LinkId, node::StreamId> stream_of_link;
    std::unique_ptr<node::Engine> engine;
    State state = State::created;
    // Bumped by every start, so a wakeup scheduled for an earlier life is recognised.
    std::uint32_t incarnation = 0;
    // The one wakeup the simulator holds valid for this node (others in the queue are stale).
    std::optional<core::Instant> wakeup_at;
    // Consecutive timeouts handled at one instant (detects a wakeup that never advances).
    std::uint32_t same_instant_timeouts = 0;
    core::Instant last_timeout_at{core::Duration{-1}};
    // The simulator calls its on_watched hook after each input of this node.
    bool watched = false;
    // Counters of earlier lives, summed when the engine is destroyed.
    dht::Stats stats_before;
    std::uint64_t link_bytes_before = 0;        // link bytes sent in earlier lives
    std::uint64_t pubsub_duplicates_before = 0; // messages received again, earlier lives
    CatchupCounters catchup_before;             // catch-up counters of earlier lives
};

// Adds `b`'s counters to `a`.
void add_stats(dht::Stats& a, dht::Stats const& b);

}  // namespace sim
