// Stored encodings: see record.hpp. The checksum is computed with libsodium's incremental
// BLAKE2b so that the row key, version and body need not be copied into one buffer.
#include "store/record.hpp"

#include "core/assert.hpp"
#include "core/codec.hpp"
#include "core/crypto.hpp"

#include <sodium.h>

#include <cstring>

namespace store::encoding {

namespace {

using Checksum = std::array<std::byte, checksum_size>;

unsigned char const* u8(std::byte const* p) { return reinterpret_cast<unsigned char const*>(p); }

Checksum checksum(core::ByteView row_key, std::uint8_t version, core::ByteView body) {
    crypto_generichash_state state;
    std::array<unsigned char, 32> digest;
    crypto_generichash_init(&state, nullptr, 0, digest.size());
    crypto_generichash_update(&state, u8(row_key.data()), row_key.size());
    crypto_generichash_update(&state, &version, 1);
    crypto_generichash_update(&state, u8(body.data()), body.size());
    crypto_generichash_final(&state, digest.data(), digest.size());
    Checksum out;
    std::memcpy(out.data(), digest.data(), out.size());
    return out;
}

// Writes the header in front of an encoded body.
core::Bytes seal(core::ByteView row_key, std::uint8_t version, core::Bytes const& body) {
    core::Bytes out;
    out.reserve(header_size + body.size());
    out.push_back(static_cast<std::byte>(version));
    auto sum = checksum(row_key, version, body);
    out.insert(out.end(), sum.begin(), sum.end());
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

// The body of a row whose version and checksum are right; nullopt otherwise.
std::optional<core::ByteView> open(core::ByteView row_key, core::ByteView row_value, std::uint8_t version) {
    if (row_value.size() < header_size) return std::nullopt;
    if (std::to_integer<std::uint8_t>(row_value[0]) != version) return std::nullopt;
    auto body = row_value.subspan(header_size);
    auto sum = checksum(row_key, version, body);
    if (std::memcmp(sum.data(), row_value.data() + 1, checksum_size) != 0) return std::nullopt;
    return body;
}

}  // namespace

RecordId record_id(Key const& key, core::ByteView value) {
    RecordId id;
    auto hash = core::blake2b_256(value);
    std::memcpy(id.data(), key.bytes.data(), 32);
    std::memcpy(id.data() + 32, hash.bytes.data(), 32);
    return id;
}

SnapshotRowKey snapshot_row_key(std::uint32_t index) {
    return {std::byte(index >> 24), std::byte(index >> 16), std::byte(index >> 8), std::byte(index)};
}

core::Bytes encode_record(RecordId const& id, Record const& record) {
    CORE_ASSERT(record.value.size() <= record_value_size_max);
    CORE_ASSERT(std::memcmp(id.data(), record.key.bytes.data(), 32) == 0);
    core::Bytes body;
    body.reserve(record.value.size() + 64);
    core::Writer w(body);
    w.array(4);
    w.bin(record.value);
    w.bin(record.source.bytes);
    w.uint(time_to_wire(record.stored_at.seconds));
    w.uint(time_to_wire(record.expires_at.seconds));
    auto row = seal(id, record_version, body);
    // Checked before write: what we store must read back as what we were given.
    CORE_ASSERT_EXPENSIVE(decode_record(id, row) == record);
    return row;
}

std::optional<Record> decode_record(core::ByteView row_key, core::ByteView row_value) {
    if (row_key.size() != record_id_size) return std::nullopt;
    auto body = open(row_key, row_value, record_version);
    if (!body) return std::nullopt;
    core::Reader r(*body);
    Record rec;
    rec.key = NodeId::from_span(row_key.first(32));
    if (r.array(4) != 4u) return std::nullopt;
    auto value = r.bin(record_value_size_max);
    auto source = r.bin_exact(32);
    auto stored_at = r.uint();
    auto expires_at = r.uint();
    r.finish();
    if (!r.ok()) return std::nullopt;
    rec.value.assign(value->begin(), value->end());
    rec.source = NodeId::from_span(*source);
    rec.stored_at.seconds = time_from_wire(*stored_at);
    rec.expires_at.seconds = time_from_wire(*expires_at);
    return rec;
}

core::Bytes encode_snapshot_entry(SnapshotRowKey const& row_key, SnapshotEntry const& entry) {
    core::Bytes body;
    core::Writer w(body);
    bool const v4 = entry.address.is_v4();
    w.array(5);
    w.bin(entry.public_key.bytes);
    w.uint(static_cast<std::uint8_t>(entry.address.family));
    w.bin(core::ByteView(reinterpret_cast<std::byte const*>(entry.address.addr.data()), v4 ? 4 : 16));
    w.uint(entry.address.port);
    w.uint(time_to_wire(entry.last_seen_unix));
    auto row = seal(row_key, snapshot_entry_version, body);
    CORE_ASSERT_EXPENSIVE(decode_snapshot_entry(row_key, row).has_value());
    return row;
}

std::optional<SnapshotEntry> decode_snapshot_entry(core::ByteView row_key, core::ByteView row_value) {
    if (row_key.size() != sizeof(SnapshotRowKey)) return std::nullopt;
    auto body = open(row_key, row_value, snapshot_entry_version);
    if (!body) return std::nullopt;
    core::Reader r(*body);
    if (r.array(5) != 5u) return std::nullopt;
    auto public_key = r.bin_exact(32);
    auto family = r.uint(6);
    auto addr = r.bin(16);
    auto port = r.uint(0xffff);
    auto last_seen = r.uint();
    r.finish();
    if (!r.ok()) return std::nullopt;
    SnapshotEntry e;
    if (*family == 4 && addr->size() == 4) e.address.family = core::Endpoint::Family::v4;
    else if (*family == 6 && addr->size() == 16) e.address.family = core::Endpoint::Family::v6;
    else return std::nullopt;
    std::memcpy(e.public_key.bytes.data(), public_key->data(), 32);
    std::memcpy(e.address.addr.data(), addr->data(), addr->size());
    e.address.port = static_cast<std::uint16_t>(*port);
    e.last_seen_unix = time_from_wire(*last_seen);
    return e;
}

}  // namespace store::encoding
