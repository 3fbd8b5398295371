// Range-based set reconciliation (Aljoscha Meyer's RBSR, in the style of negentropy): two
// peers that each hold a sorted set of (ts_ms, id) items learn which ids only one of them
// has, in a few round trips and with bytes proportional to the difference, not to the sets.
// This is the pure algorithm and its wire form (PUBSUB-NOTES §4): no I/O, no clocks, no
// sessions, budgets or peer choice (catch-up does those), and no message fetching.
//
// Both sides sort by (ts_ms, id). A message covers the whole (ts, id) space with adjacent
// ranges, each given by its exclusive upper bound and a mode:
//   Skip         nothing to do here (the ranges agree, or the sender is done with them);
//   Fingerprint  16 bytes of SHA-256(sum of the ids mod 2^256 ‖ varint count);
//   IdList       every id the sender has in the range.
// A mismatched fingerprint is answered by splitting the range into `buckets` fingerprinted
// sub-ranges, or by an id list when the range holds fewer than `id_list_max` items. The
// initiator, on an id list, computes the difference and skips the range; the responder, on
// an id list, answers with an id diff (which listed ids it has, as a bitmap, and the ids it
// has that were not listed), or, when that does not fit, with its own id list. No message
// is larger than `frame_bytes_max`: what does not fit is covered by one fingerprint up to
// the end of the last range still open, and continued in the next round.
//
// Wire (core/codec.hpp msgpack primitives):
//   message := uint version (1) · uint range_count · range*
//   range   := bound · uint mode (0 skip, 1 fingerprint, 2 id list, 3 id diff) · payload
//   bound   := nil (infinity) | uint ts_delta · bin id_prefix (0..32 bytes, zero-padded)
//   payload := (skip) | bin 16 (fingerprint) | bin 32·k (id list)
//            | bin bitmap (bit i, LSB first: has the i-th listed id) · bin 32·k (id diff)
// ts_delta is the bound's timestamp (as uint64 with the sign bit flipped, so that every
// int64 orders correctly) minus the previous bound's, from 0 at the start of each message.
// The id prefix is the shortest that separates the two items the bound falls between.
// Everything decoded is bounded and checked: a bad message is an Error, never a crash.
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "pubsub/message_store.hpp"
#include "pubsub/types.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace pubsub::reconcile {

// Callers pass items sorted ascending by (ts_ms, id), without duplicates.
using Item = StoreCursor;

inline constexpr std::uint64_t protocol_version = 1;

struct Limits {
    std::size_t frame_bytes_max = 64 * 1024;  // no message produced is larger; larger ones are refused
    std::size_t id_list_max = 32;             // a mismatched range with fewer items is sent as an id list
    std::size_t buckets = 16;                 // otherwise it is split into this many fingerprinted ranges
    std::size_t ranges_max = 4096;            // ranges in one message, produced or accepted
    // The limits must let the first answer of a message fit, so every round makes progress.
    bool valid() const;
};

enum class Error : std::uint8_t {
    malformed,            // not our encoding, truncated, trailing bytes, bad mode
    unsupported_version,  // a version byte we do not speak
    too_large,            // more bytes than frame_bytes_max
    too_many_ranges,      // more ranges than ranges_max
    unordered_bounds,     // bounds not strictly ascending
    bad_id_list,          // an id list whose length is not a multiple of 32, or with a repeated id
};
char const* to_string(Error e);

// How the initiator opens. A whole-range fingerprint costs ~25 bytes and settles equal sets
// in one round trip; splitting at once costs ~450 bytes and saves a round trip when the
// sets are expected to differ (catch-up after being offline).
enum class Opening : std::uint8_t { whole_fingerprint, split };

// The side that wants to learn the difference. Holds a view of its items (they must
// outlive it) and a sparse prefix-sum index over them (2 bytes an item), so a range's
// fingerprint costs O(1) however many items it covers.
class Initiator {
public:
    explicit Initiator(std::span<Item const> items, Limits limits = {});
    ~Initiator();
    Initiator(Initiator&&) noexcept;
    Initiator& operator=(Initiator&&) noexcept;

    core::Bytes start(Opening opening = Opening::whole_fingerprint);
    // One reply from the responder: appends to `have` the ids only we have and to `need`
    // the ids only the responder has; returns the next message for the responder, or
    // nullopt when reconciliation is complete. Each id is reported at most once in a
    // session. On an Error nothing is appended and the session can go on. A misbehaving
    // responder can keep a session going: callers bound rounds() and the total of `need`.
    core::Result<std::optional<core::Bytes>, Error> step(core::ByteView reply, std::vector<MessageId>& have,
                                                         std::vector<MessageId>& need);
    // Replies consumed so far (round trips).
    std::size_t rounds() const { return rounds_; }

private:
    struct Index;
    std::span<Item const> items_;
    Limits limits_;
    std::unique_ptr<Index> index_;
    std::size_t rounds_ = 0;
};

// The responder is stateless between messages: each reply is computed from its items and
// the message alone. Costs O(items covered by the message's non-skip ranges + ranges ·
// log items); it builds no index.
core::Result<core::Bytes, Error> respond(std::span<Item const> items, core::ByteView message, Limits const& limits = {});

}  // namespace pubsub::reconcile
