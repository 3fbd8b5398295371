// node::Engine: the pure protocol engine a node runs, and the one the simulator hosts
// thousands of. Today it holds the DHT core; pub/sub joins it here, demultiplexed by the
// first byte of each datagram (the protocol tag). It does no I/O and reads no clock.
#pragma once

#include "dht/dht_node.hpp"

namespace node {

class Engine {
public:
    // `signer` (optional) signs this node's provider records; see DhtNode.
    Engine(dht::Config const& config, core::PublicKey const& public_key, core::PacketCrypto const& crypto,
           store::RecordStore& store, core::Rng rng, core::Instant now, core::WallClockAnchor wall,
           core::Signer const* signer = nullptr)
        : dht_(config, public_key, crypto, store, std::move(rng), now, wall, signer) {}

    // Every datagram goes to the DHT, which drops and counts unknown protocol tags.
    void handle_datagram(core::Instant now, core::Endpoint const& from, core::ByteView bytes) {
        dht_.handle_datagram(now, from, bytes);
    }
    void handle_timeout(core::Instant now) { dht_.handle_timeout(now); }

    [[nodiscard]] std::optional<core::Transmit> poll_transmit() { return dht_.poll_transmit(); }
    [[nodiscard]] std::optional<dht::Event> poll_event() { return dht_.poll_event(); }
    [[nodiscard]] std::optional<core::Instant> next_wakeup() const { return dht_.next_wakeup(); }

    dht::DhtNode& dht() { return dht_; }
    dht::DhtNode const& dht() const { return dht_; }

private:
    dht::DhtNode dht_;
};

}  // namespace node
