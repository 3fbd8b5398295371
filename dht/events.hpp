// Events the DHT core hands to its host through DhtNode::poll_event().
#pragma once

#include "core/bytes.hpp"
#include "core/time.hpp"
#include "dht/contact.hpp"
#include "dht/provider_record.hpp"

#include <cstdint>
#include <variant>
#include <vector>

namespace dht {

using LookupId = std::uint64_t;

enum class LookupKind : std::uint8_t { find_node, get, put, find_providers, announce };

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
    std::size_t stores_tried = 0;     // put, announce: STOREs (ANNOUNCEs) sent, plus the local copy
    std::size_t stores_accepted = 0;  // put, announce: acknowledged as accepted
    // put: STOREs not answered yet when the put was acknowledged at its write quorum
    // (Config::put_quorum); they go on in the background.
    std::vector<Contact> stores_waiting;
    // find_providers: every verified, unexpired provider found (one per node, the newest
    // record seen), at most Config::providers_enough plus one answer's worth.
    std::vector<ProviderRecord> providers;
    // announce: the median count of providers the k closest said they hold, and whether
    // this round skipped its ANNOUNCEs (above providers_announce_full, with probability
    // 1 - full/n); a skipped round still re-announces on schedule.
    std::size_t providers_held = 0;
    bool announce_skipped = false;
    int hops = 0;                     // path length to the closest responder
    std::size_t queried = 0;          // distinct nodes asked
    core::Duration elapsed{};
    // put, announce: when the search phase ended (the STORE round began), from the start;
    // and how many of the candidates it asked were slow, unresponsive or failed then
    // (the time a put spent on the dead or the busy: elapsed - search_elapsed is its
    // STORE round).
    core::Duration search_elapsed{};
    std::size_t search_not_answered = 0;
};

// The first authenticated contact with a bootstrap address.
struct BootstrapReached {
    Endpoint address;
    NodeId id;
};

// Providers a find_providers lookup has just verified: only the ones not reported before
// by this lookup. Zero or more of these come before the lookup's LookupDone, which lists
// them all again.
struct ProvidersFound {
    LookupId id = 0;
    Key topic;
    std::vector<ProviderRecord> providers;
};

// Values a get has just found: only the ones not reported before by this lookup (the
// node's own copy first, then each answer's new ones). Zero or more of these come before
// the get's LookupDone, which lists them all again. Not emitted for internal lookups.
struct ValuesFound {
    LookupId id = 0;
    Key key;
    std::vector<core::Bytes> values;
};

using Event = std::variant<LookupDone, BootstrapReached, ProvidersFound, ValuesFound>;

}  // namespace dht
