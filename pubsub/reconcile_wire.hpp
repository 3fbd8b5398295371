// Internals of set reconciliation (reconcile.hpp): id sums and fingerprints, range bounds,
// decoding a message into checked ranges, and Output, the message writer that keeps every
// message within the frame and range limits. Not a public interface: only reconcile.cpp
// includes it.
#pragma once

#include "pubsub/reconcile.hpp"

#include <array>
#include <optional>

namespace pubsub::reconcile::detail {

// The ids of a range added as little-endian 256-bit integers, mod 2^256.
struct IdSum {
    std::array<std::uint64_t, 4> limbs{};
    void add(MessageId const& id);
    void add(IdSum const& other);
    void subtract(IdSum const& other);
};

using Fingerprint = std::array<std::byte, 16>;
// The first 16 bytes of SHA-256(sum as 32 little-endian bytes ‖ varint count), the varint
// as in negentropy (base 128, most significant digit first).
Fingerprint fingerprint(IdSum const& sum, std::uint64_t count);

// Sums over ranges of sorted items. Indexed: a checkpoint every `stride` items, so a sum
// costs at most 2·stride additions. Not indexed: sums add the range's items directly.
class RangeSums {
public:
    static constexpr std::size_t stride = 16;
    RangeSums(std::span<Item const> items, bool indexed);
    IdSum sum(std::size_t lo, std::size_t hi) const;
    Fingerprint fingerprint(std::size_t lo, std::size_t hi) const;

private:
    IdSum prefix(std::size_t end) const;  // sum of [0, end), indexed only
    std::span<Item const> items_;
    std::vector<IdSum> checkpoints_;  // checkpoints_[k] = sum of [0, k·stride)
    bool indexed_;
};

// An exclusive upper bound in (ts, id) order. The id is the prefix zero-padded.
struct Bound {
    bool infinite = false;
    std::uint64_t ts_key = 0;  // the timestamp with its sign bit flipped: unsigned order = signed order
    std::array<std::byte, 32> id{};
    std::uint8_t prefix_len = 0;

    static Bound infinity() { return Bound{.infinite = true}; }
    // The shortest bound b with prev < b <= next (prev < next).
    static Bound between(Item const& prev, Item const& next);
};
std::uint64_t ts_key_of(std::int64_t ts_ms);
bool below(Item const& item, Bound const& b);  // item < b
bool less(Bound const& a, Bound const& b);
// The index of the first item in [from, items.size()) that is not below `b`.
std::size_t lower_index(std::span<Item const> items, std::size_t from, Bound const& b);

// id_diff answers an id list: which of the listed ids the responder has (a bitmap over the
// initiator's items in the range, in order) and the ids it has that were not listed.
enum class Mode : std::uint8_t { skip = 0, fingerprint = 1, id_list = 2, id_diff = 3 };

struct Range {
    Bound upper;
    Mode mode = Mode::skip;
    Fingerprint fingerprint{};
    core::ByteView ids;     // id_list, id_diff: 32·k bytes, a view into the message
    core::ByteView bitmap;  // id_diff: bit i (LSB first) set = the responder has listed id i
};

// Decodes and checks a whole message before anything acts on it.
core::Result<std::vector<Range>, Error> parse(core::ByteView message, Limits const& limits);

// Writes one message. Skips are deferred and coalesced; a trailing skip is left out (the
// space after the last range is implicitly skipped). Space for one skip and one tail
// fingerprint is always kept back, so after a rollback the message can still be closed
// with tail(): whatever did not fit, as one fingerprint.
class Output {
public:
    // Room reserved while writing: the header, one pending skip, one tail fingerprint.
    static constexpr std::size_t header_max = 1 + 3;
    static constexpr std::size_t bound_max = 9 + 2 + 32;
    static constexpr std::size_t skip_max = bound_max + 1;
    static constexpr std::size_t fingerprint_range_max = bound_max + 1 + 2 + 16;
    static constexpr std::size_t tail_max = fingerprint_range_max;
    static constexpr std::size_t id_list_overhead = bound_max + 1 + 5;

    explicit Output(Limits const& limits);

    struct Mark {
        std::size_t size;
        std::uint64_t prev_ts;
        std::size_t ranges;
        std::optional<Bound> pending_skip;
    };
    Mark mark() const { return {body_.size(), prev_ts_, ranges_, pending_skip_}; }
    void rollback(Mark const& m);

    void skip(Bound const& upper) { pending_skip_ = upper; }
    void fingerprint(Bound const& upper, Fingerprint const& fp);
    void id_list(Bound const& upper, std::span<Item const> items);
    void id_diff(Bound const& upper, std::span<std::byte const> bitmap, std::span<MessageId const> ids);
    // Bytes one more range may take and still pass over() (0 when the range limit would
    // be reached).
    std::size_t room() const;
    // How many ids one more id list may carry while keeping room for the tail.
    std::size_t ids_that_fit() const;
    // Past the budget that keeps room for a pending skip and the tail.
    bool over() const;
    // Closes the message with one fingerprint up to `upper` (after a rollback, or a partial id list).
    void tail(Bound const& upper, Fingerprint const& fp);
    std::size_t ranges() const { return ranges_; }
    core::Bytes finish() const;

private:
    void flush_skip();
    void bin_header(std::size_t n);
    void bound(Bound const& b);
    void mode(Mode m);

    Limits limits_;
    core::Bytes body_;
    std::uint64_t prev_ts_ = 0;
    std::size_t ranges_ = 0;
    std::optional<Bound> pending_skip_;
};

}  // namespace pubsub::reconcile::detail
