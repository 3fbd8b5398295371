// Plain counters the DHT core keeps about itself. metrics/ copies them into Prometheus
// families; the simulator sums them into its report. Every enum here has a name table so
// the metric label values are defined once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace dht {

enum class DropReason : std::uint8_t {
    too_short,            // shorter than any packet header
    too_large,            // longer than any packet we accept
    unknown_protocol,     // first byte is not a protocol we speak
    unknown_kind,         // packet kind byte unknown
    bad_public_key,       // sender key is not a valid curve point
    bad_mac,              // authentication failed
    stale,                // send time outside the accepted window
    replayed,             // nonce counter already seen
    malformed,            // plaintext did not decode
    unknown_transaction,  // response to nothing we asked
    unexpected_response,  // response type or sender does not match the request
    rate_limited,         // hello beyond the rate limit
    bad_fragment,         // fragment header inconsistent
    reassembly_full,      // too many or too large partial messages
    from_self,            // our own key or id
    count_
};
inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(DropReason::count_);
char const* to_string(DropReason r);

enum class RpcType : std::uint8_t { hello, ping, find_node, find_value, store, announce, find_providers, count_ };
inline constexpr std::size_t rpc_type_count = static_cast<std::size_t>(RpcType::count_);
char const* to_string(RpcType t);

// Outcomes of requests we sent (ok, timeout) and of requests we answered (served).
enum class RpcOutcome : std::uint8_t { ok, timeout, served, rejected, count_ };
inline constexpr std::size_t rpc_outcome_count = static_cast<std::size_t>(RpcOutcome::count_);
char const* to_string(RpcOutcome o);

// Why a provider record (dht/provider_record.hpp) was refused: by a storer (ANNOUNCE), by
// a lookup reading a PROVIDERS answer, or when the stored rows are loaded at start.
enum class ProviderReject : std::uint8_t {
    bad_addrs,        // no address, more than provider_addrs_max, or an unusable one
    id_mismatch,      // node_id is not BLAKE2b-256 of the public key
    expired,          // expires at or before now
    expiry_too_far,   // expires later than now + provider TTL (+ the packet clock window)
    bad_signature,    // the ed25519 signature does not verify
    wrong_topic,      // an answer carried a record for another topic
    not_owner,        // ANNOUNCE sent by another node than the record's
    not_newer,        // we hold a record of that node for that topic that expires later
    topic_full,       // providers_per_topic_max records held for the topic
    subnet_full,      // providers_per_subnet_max records from that /24 (/64) for the topic
    table_full,       // providers_max records held in all
    store_failed,     // the record store refused the write (also counted in store_errors)
    count_
};
inline constexpr std::size_t provider_reject_count = static_cast<std::size_t>(ProviderReject::count_);
char const* to_string(ProviderReject r);

struct Stats {
    std::array<std::uint64_t, drop_reason_count> dropped{};
    std::array<std::array<std::uint64_t, rpc_outcome_count>, rpc_type_count> rpc{};
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t packets_in = 0;
    std::uint64_t packets_out = 0;
    std::uint64_t lookups_started = 0;
    std::uint64_t lookups_done = 0;
    std::uint64_t store_errors = 0;  // the record store failed an operation (e.g. map full)
    std::uint64_t provider_probes = 0;  // provider lookups' queries to nearby contacts (Config::providers_nearby)
    std::uint64_t evictions = 0;     // routing table entries that left after failed RPCs (replaced or removed)
    std::uint64_t handoffs = 0;      // records sent to a newcomer among their closest (Config::handoff_stores_max)
    std::uint64_t handoff_newcomers_skipped = 0;  // newcomers beyond Config::handoff_newcomers_max

    std::array<std::uint64_t, provider_reject_count> providers_rejected{};
    std::uint64_t providers_accepted = 0;  // provider records stored (new or replacing) by this node

    std::uint64_t& drop(DropReason r) { return dropped[static_cast<std::size_t>(r)]; }
    std::uint64_t& provider_reject(ProviderReject r) { return providers_rejected[static_cast<std::size_t>(r)]; }
    std::uint64_t& rpc_count(RpcType t, RpcOutcome o) {
        return rpc[static_cast<std::size_t>(t)][static_cast<std::size_t>(o)];
    }
    std::uint64_t dropped_total() const {
        std::uint64_t n = 0;
        for (auto v : dropped) n += v;
        return n;
    }
};

}  // namespace dht
