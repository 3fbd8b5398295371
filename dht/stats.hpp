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

enum class RpcType : std::uint8_t { hello, ping, find_node, find_value, store, count_ };
inline constexpr std::size_t rpc_type_count = static_cast<std::size_t>(RpcType::count_);
char const* to_string(RpcType t);

// Outcomes of requests we sent (ok, timeout) and of requests we answered (served).
enum class RpcOutcome : std::uint8_t { ok, timeout, served, rejected, count_ };
inline constexpr std::size_t rpc_outcome_count = static_cast<std::size_t>(RpcOutcome::count_);
char const* to_string(RpcOutcome o);

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
    std::uint64_t evictions = 0;     // routing table entries that left after failed RPCs (replaced or removed)

    std::uint64_t& drop(DropReason r) { return dropped[static_cast<std::size_t>(r)]; }
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
