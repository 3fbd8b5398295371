// One entry of the routing-table snapshot a node saves so that, after a restart, it can
// rejoin the network without its bootstrap addresses. Plain data: the node decides what to
// save (typically every routing-table contact) and pings each loaded entry before trusting it.
#pragma once

#include "core/crypto.hpp"
#include "core/endpoint.hpp"

#include <cstddef>
#include <cstdint>

namespace store {

struct SnapshotEntry {
    core::PublicKey public_key;
    core::Endpoint address;
    std::int64_t last_seen_unix = 0;  // wall time, seconds since the Unix epoch
    friend bool operator==(SnapshotEntry const&, SnapshotEntry const&) = default;
};

// At most this many entries are saved and loaded: a full routing table holds 256 buckets of
// k = 20 (5,120 contacts), so this bound never truncates a real table, and it caps the
// work a damaged or foreign snapshot can cause at start-up.
inline constexpr std::size_t snapshot_entries_max = 10'000;

}  // namespace store
