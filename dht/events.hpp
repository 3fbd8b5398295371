// Events the DHT core hands to its host through DhtNode::poll_event().
#pragma once

#include "core/bytes.hpp"
#include "core/time.hpp"
#include "dht/contact.hpp"

#include <cstdint>
#include <variant>
#include <vector>

namespace dht {

using LookupId = std::uint64_t;

enum class LookupKind : std::uint8_t { find_node, get, put };

// A lookup finished. Every lookup reports, including the ones the node starts itself
// (bootstrap, bucket refresh, republish): those have internal = true, and the host uses
// them only for metrics.
struct LookupDone {
    LookupId id = 0;
    LookupKind kind = LookupKind::find_node;
    bool internal = false;
    NodeId target;
    std::vector<Contact> closest;     // up to k responders, closest first; never the node itself
    std::vector<core::Bytes> values;  // get: distinct values found
    std::size_t stores_tried = 0;     // put: STOREs sent
    std::size_t stores_accepted = 0;  // put: STOREs acknowledged as accepted
    int hops = 0;                     // path length to the closest responder
    std::size_t queried = 0;          // distinct nodes asked
    core::Duration elapsed{};
};

// The first authenticated contact with a bootstrap address.
struct BootstrapReached {
    Endpoint address;
    NodeId id;
};

using Event = std::variant<LookupDone, BootstrapReached>;

}  // namespace dht
