// The storage interface the DHT core depends on, and its record type. Implemented by
// store::LmdbStore (production) and store::MemStore (simulator and tests). Synchronous:
// LMDB reads are memory-mapped and writes are small. The core never sees LMDB.
#pragma once

#include "core/bytes.hpp"
#include "core/node_id.hpp"
#include "core/result.hpp"
#include "core/time.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace store {

using core::Key;
using core::NodeId;

// One value stored under a key. A key holds several values; a record is identified by
// (key, BLAKE2b-256 of value), so storing the same value again refreshes it.
struct Record {
    Key key;
    core::Bytes value;
    NodeId source;              // the node that sent the STORE (ourselves for our own puts)
    core::UnixTime stored_at;   // wall time of the last STORE
    core::UnixTime expires_at;  // wall time after which the record is gone
    friend bool operator==(Record const&, Record const&) = default;
};

enum class StoreError : std::uint8_t {
    full,     // the LMDB map (or MemStore's limit) is full: a clear logged error, node keeps serving
    io,       // the operating system failed a read or write
    corrupt,  // a stored record failed its checksum or version check
    injected, // MemStore's fail plan
};
char const* to_string(StoreError e);  // defined in store/store.cpp (target store_mem)

// The largest value a store accepts (asserted in put): a bound for decoding stored
// records. The DHT bounds values far below it (dht::Config::value_size_max, 64 KiB), and
// no message can exceed its reassembly limit of 4 MiB anyway.
inline constexpr std::size_t record_value_size_max = 4 * 1024 * 1024;

class RecordStore {
public:
    virtual ~RecordStore() = default;
    // Inserts or refreshes the record (key, hash(value)).
    virtual core::Result<void, StoreError> put(Record const& record) = 0;
    // Every unexpired record under `key`, at most `limit`.
    virtual core::Result<std::vector<Record>, StoreError> get(Key const& key, core::UnixTime now, std::size_t limit) = 0;
    // Removes the record (key, BLAKE2b-256(value)) now, before it expires (a provider
    // record replaced by a newer one); false when no such record is held.
    virtual core::Result<bool, StoreError> erase(Key const& key, core::ByteView value) = 0;
    // Removes up to `limit` records that expired at or before `now`; returns how many.
    virtual std::size_t erase_expired(core::UnixTime now, std::size_t limit) = 0;
    // Number of records held (expired ones included until swept).
    virtual std::size_t count() const = 0;
    // Calls `fn` for every record, in key order; stops early when `fn` returns false.
    virtual core::Result<void, StoreError> for_each(std::function<bool(Record const&)> const& fn) = 0;
};

}  // namespace store
