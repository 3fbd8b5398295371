// The stored encodings of a Record and of a routing-snapshot entry, as LmdbStore writes
// them. Every stored value is: a version byte, an 8-byte checksum, then a strict msgpack
// body (core/codec.hpp). The checksum is the first 8 bytes of BLAKE2b-256 over (row key ||
// version || body), so a damaged byte, or a value moved under another key, is detected.
// Pure: no LMDB here. Decoding never trusts its input: a bad row is nullopt, never a crash.
#pragma once

#include "core/bytes.hpp"
#include "store/routing_snapshot.hpp"
#include "store/store.hpp"

#include <array>
#include <cstdint>
#include <optional>

namespace store::encoding {

inline constexpr std::uint8_t record_version = 1;
inline constexpr std::uint8_t snapshot_entry_version = 1;
inline constexpr std::size_t checksum_size = 8;
inline constexpr std::size_t header_size = 1 + checksum_size;

// A record's row key: the 32-byte key followed by BLAKE2b-256 of the value.
inline constexpr std::size_t record_id_size = 64;
using RecordId = std::array<std::byte, record_id_size>;
RecordId record_id(Key const& key, core::ByteView value);

// A routing-snapshot row key: the entry's index, 4 bytes big-endian (so byte order is
// numeric order and rows can be appended).
using SnapshotRowKey = std::array<std::byte, 4>;
SnapshotRowKey snapshot_row_key(std::uint32_t index);

core::Bytes encode_record(RecordId const& id, Record const& record);
// nullopt when the row is damaged: wrong key size, version, checksum or body.
std::optional<Record> decode_record(core::ByteView row_key, core::ByteView row_value);

core::Bytes encode_snapshot_entry(SnapshotRowKey const& row_key, SnapshotEntry const& entry);
std::optional<SnapshotEntry> decode_snapshot_entry(core::ByteView row_key, core::ByteView row_value);

// Wall times are signed; the codec has unsigned integers only. Times are stored as the
// two's-complement bit pattern (real times are positive and stay small).
inline std::uint64_t time_to_wire(std::int64_t t) { return static_cast<std::uint64_t>(t); }
inline std::int64_t time_from_wire(std::uint64_t u) { return static_cast<std::int64_t>(u); }

}  // namespace store::encoding
