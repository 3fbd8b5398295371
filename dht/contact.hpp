// A contact: what one node knows to reach another over the DHT. The id is always the
// BLAKE2b-256 of the public key (checked where contacts are decoded), so a node cannot
// claim an id that is not its own.
#pragma once

#include "core/crypto.hpp"
#include "core/endpoint.hpp"
#include "core/node_id.hpp"

namespace dht {

using core::Endpoint;
using core::Key;
using core::NodeId;
using core::PublicKey;

struct Contact {
    NodeId id;
    PublicKey public_key;
    Endpoint address;

    static Contact make(PublicKey const& pk, Endpoint const& address) { return {core::node_id_of(pk), pk, address}; }
    friend bool operator==(Contact const& a, Contact const& b) {
        return a.id == b.id && a.address == b.address;
    }
};

}  // namespace dht
