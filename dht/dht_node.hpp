// The Kademlia node as a sans-I/O state machine: fed datagrams, timeouts and commands
// with the current time, it answers with datagrams to send, events, and its next wakeup.
// It never reads a clock, a socket or a random device; the same inputs give the same
// outputs. Map of dht/: contact (ids and keys), wire (packet and message codec),
// routing_table (k-buckets), lookup (one iterative lookup), dht_node (this hub: RPCs,
// security, lookups, records, timers).
//
// Polling contract: after every handle_* call or command, drain poll_transmit() and
// poll_event() until empty, then (re)arm a timer for next_wakeup().
#pragma once

#include "core/crypto.hpp"
#include "core/rng.hpp"
#include "core/signer.hpp"
#include "core/time.hpp"
#include "core/transmit.hpp"
#include "dht/config.hpp"
#include "dht/events.hpp"
#include "dht/stats.hpp"
#include "store/store.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace dht {

class RoutingTable;

// A routing table entry as the host sees it (status, peers list, snapshot).
struct PeerInfo {
    Contact contact;
    core::Instant last_seen;
    unsigned failures = 0;
};

class DhtNode {
public:
    // `crypto`, `store` and `signer` must outlive the node. `wall` maps `now` to wall time.
    // `signer` signs this node's provider records (its public key must be `public_key`);
    // without one the node stores and finds providers but cannot announce.
    DhtNode(Config const& config, core::PublicKey const& public_key, core::PacketCrypto const& crypto,
            store::RecordStore& store, core::Rng rng, core::Instant now, core::WallClockAnchor wall,
            core::Signer const* signer = nullptr);
    ~DhtNode();
    DhtNode(DhtNode const&) = delete;
    DhtNode& operator=(DhtNode const&) = delete;

    // --- Inputs from the world. ---
    // A datagram arrived from `from`. Bad packets are dropped and counted in stats().
    void handle_datagram(core::Instant now, Endpoint const& from, core::ByteView bytes);
    // Timers are due. Spurious calls are harmless.
    void handle_timeout(core::Instant now);

    // --- Commands. ---
    // Contacts an address whose key we do not know (hello exchange); on success the node
    // joins the network through it (a lookup of its own id) and emits BootstrapReached.
    // The address is remembered: while the routing table stays thin, the node says hello
    // to it again (Config::grow_interval_min), so it need not be up first.
    void bootstrap(core::Instant now, Endpoint const& address);
    // Adds a contact known from an earlier run (routing snapshot) and pings it; it enters
    // the routing table only when it answers.
    void add_known_contact(core::Instant now, Contact const& contact);
    // Starts a lookup for the k nodes closest to `target`.
    LookupId find_node(core::Instant now, NodeId const& target);
    // Finds the values stored under `key`. With until_first the lookup ends (LookupDone)
    // as soon as one value is found, instead of asking the rest of the closest.
    LookupId get(core::Instant now, Key const& key, bool until_first = false);
    // Stores `value` under `key` on the k closest nodes (and locally when this node is
    // among them), and republishes it until the TTL ends. Value size must be at most
    // config.value_size_max (asserted: the host checks user input first).
    LookupId put(core::Instant now, Key const& key, core::Bytes value, core::Duration ttl);

    // --- Topic rendezvous (PUBSUB-NOTES §5; topic keys from dht::topic_key). ---
    // Announces this node as a provider of `topic` at `addrs` (its DHT UDP endpoints;
    // the same ports serve TCP pub/sub links) now, then again every
    // provider_reannounce_interval (jittered) until withdraw(). Announcing a topic again
    // replaces its addresses and announces at once. Returns the LookupId of this first
    // announcement (a LookupDone of kind announce follows; re-announcements report with
    // internal = true), or 0 when refused: no signer, addrs empty, longer than
    // provider_addrs_max or with a port 0 / unspecified address, or announcements_max
    // topics announced already.
    LookupId announce(core::Instant now, Key const& topic, std::vector<Endpoint> addrs);
    // Stops re-announcing `topic`; records already stored expire within provider_ttl.
    void withdraw(core::Instant now, Key const& topic);
    // Looks up the providers of `topic`: ProvidersFound events as verified records arrive,
    // then a LookupDone of kind find_providers listing them all (see events.hpp).
    LookupId find_providers(core::Instant now, Key const& topic);

    // --- Outputs. Drain after every input, in this order. ---
    [[nodiscard]] std::optional<core::Transmit> poll_transmit();
    [[nodiscard]] std::optional<Event> poll_event();
    [[nodiscard]] std::optional<core::Instant> next_wakeup() const;

    // --- Observation. ---
    NodeId const& id() const;
    Stats const& stats() const;
    Config const& config() const;
    std::size_t peer_count() const;
    std::size_t active_peer_count(core::Instant now) const;
    std::vector<PeerInfo> peers() const;
    std::vector<Contact> closest_known(NodeId const& target, std::size_t n) const;
    std::size_t lookups_in_flight() const;
    std::size_t record_count() const;
    std::size_t provider_record_count() const;  // provider records this node stores
    bool announcing(Key const& topic) const;
    // The smoothed round trip of our requests to `id` when it is in the routing table and
    // has answered one (a hint for choosing among peers to dial); nullopt otherwise.
    std::optional<core::Duration> measured_rtt(NodeId const& id) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dht
