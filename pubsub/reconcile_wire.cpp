// Id sums, fingerprints, bounds, message decoding and the message writer of set
// reconciliation (see reconcile_wire.hpp and the wire description in reconcile.hpp).
#include "pubsub/reconcile_wire.hpp"

#include "core/assert.hpp"
#include "core/codec.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace pubsub::reconcile::detail {

namespace {

std::uint64_t load_le(std::byte const* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

void add_limbs(std::array<std::uint64_t, 4>& acc, std::array<std::uint64_t, 4> const& x) {
    std::uint64_t carry = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        std::uint64_t const s = acc[i] + x[i];
        std::uint64_t const t = s + carry;
        carry = (s < acc[i]) | (t < s);
        acc[i] = t;
    }
}

}  // namespace

void IdSum::add(MessageId const& id) {
    std::array<std::uint64_t, 4> x;
    for (std::size_t i = 0; i < 4; ++i) x[i] = load_le(id.bytes.data() + 8 * i);
    add_limbs(limbs, x);
}

void IdSum::add(IdSum const& other) { add_limbs(limbs, other.limbs); }

void IdSum::subtract(IdSum const& other) {
    std::uint64_t borrow = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        std::uint64_t const d = limbs[i] - other.limbs[i];
        std::uint64_t const e = d - borrow;
        borrow = (limbs[i] < other.limbs[i]) | (d < borrow);
        limbs[i] = e;
    }
}

Fingerprint fingerprint(IdSum const& sum, std::uint64_t count) {
    std::array<unsigned char, 32 + 10> input{};
    std::size_t n = 0;
    for (auto limb : sum.limbs)
        for (int b = 0; b < 8; ++b) input[n++] = static_cast<unsigned char>(limb >> (8 * b));
    std::array<unsigned char, 10> digits{};  // base 128, least significant first
    std::size_t d = 0;
    do {
        digits[d++] = static_cast<unsigned char>(count & 0x7f);
        count >>= 7;
    } while (count != 0);
    while (d > 0) {
        --d;
        input[n++] = static_cast<unsigned char>(digits[d] | (d > 0 ? 0x80 : 0));
    }
    std::array<unsigned char, crypto_hash_sha256_BYTES> hash;
    crypto_hash_sha256(hash.data(), input.data(), n);
    Fingerprint fp;
    std::memcpy(fp.data(), hash.data(), fp.size());
    return fp;
}

RangeSums::RangeSums(std::span<Item const> items, bool indexed) : items_(items), indexed_(indexed) {
    if (!indexed_) return;
    checkpoints_.reserve(items.size() / stride + 1);
    IdSum running;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i % stride == 0) checkpoints_.push_back(running);
        running.add(items[i].id);
    }
    if (items.size() % stride == 0) checkpoints_.push_back(running);
}

IdSum RangeSums::prefix(std::size_t end) const {
    IdSum s = checkpoints_[end / stride];
    for (std::size_t i = end / stride * stride; i < end; ++i) s.add(items_[i].id);
    return s;
}

IdSum RangeSums::sum(std::size_t lo, std::size_t hi) const {
    CORE_ASSERT(lo <= hi && hi <= items_.size());
    if (indexed_ && hi - lo > 2 * stride) {
        IdSum s = prefix(hi);
        s.subtract(prefix(lo));
        return s;
    }
    IdSum s;
    for (std::size_t i = lo; i < hi; ++i) s.add(items_[i].id);
    return s;
}

Fingerprint RangeSums::fingerprint(std::size_t lo, std::size_t hi) const {
    return detail::fingerprint(sum(lo, hi), hi - lo);
}

std::uint64_t ts_key_of(std::int64_t ts_ms) { return static_cast<std::uint64_t>(ts_ms) ^ (std::uint64_t{1} << 63); }

Bound Bound::between(Item const& prev, Item const& next) {
    CORE_ASSERT(prev < next);
    Bound b;
    b.ts_key = ts_key_of(next.ts_ms);
    if (prev.ts_ms != next.ts_ms) return b;  // (next.ts, 0…0): above all of prev's timestamp
    std::size_t shared = 0;
    while (prev.id.bytes[shared] == next.id.bytes[shared]) ++shared;  // they differ somewhere
    b.prefix_len = static_cast<std::uint8_t>(shared + 1);
    std::copy_n(next.id.bytes.begin(), b.prefix_len, b.id.begin());
    return b;
}

bool below(Item const& item, Bound const& b) {
    if (b.infinite) return true;
    auto const k = ts_key_of(item.ts_ms);
    if (k != b.ts_key) return k < b.ts_key;
    return std::memcmp(item.id.bytes.data(), b.id.data(), b.id.size()) < 0;
}

bool less(Bound const& a, Bound const& b) {
    if (a.infinite || b.infinite) return !a.infinite && b.infinite;
    if (a.ts_key != b.ts_key) return a.ts_key < b.ts_key;
    return std::memcmp(a.id.data(), b.id.data(), a.id.size()) < 0;
}

std::size_t lower_index(std::span<Item const> items, std::size_t from, Bound const& b) {
    auto it = std::partition_point(items.begin() + static_cast<std::ptrdiff_t>(from), items.end(),
                                   [&](Item const& item) { return below(item, b); });
    return static_cast<std::size_t>(it - items.begin());
}

namespace {

// Reads one bound; `prev_ts` carries the delta base through the message.
std::optional<Bound> read_bound(core::Reader& r, std::uint64_t& prev_ts) {
    if (r.peek_nil()) {
        r.nil();
        return Bound::infinity();
    }
    auto delta = r.uint();
    auto prefix = r.bin(32);
    if (!delta || !prefix) return std::nullopt;
    if (*delta > UINT64_MAX - prev_ts) {
        r.fail(core::DecodeError::out_of_range);
        return std::nullopt;
    }
    Bound b;
    b.ts_key = prev_ts + *delta;
    prev_ts = b.ts_key;
    b.prefix_len = static_cast<std::uint8_t>(prefix->size());
    std::copy(prefix->begin(), prefix->end(), b.id.begin());
    return b;
}

}  // namespace

core::Result<std::vector<Range>, Error> parse(core::ByteView message, Limits const& limits) {
    if (message.size() > limits.frame_bytes_max) return core::Err(Error::too_large);
    core::Reader r(message);
    auto version = r.uint();
    if (!version) return core::Err(Error::malformed);
    if (*version != protocol_version) return core::Err(Error::unsupported_version);
    auto count = r.uint();
    if (!count) return core::Err(Error::malformed);
    if (*count > limits.ranges_max) return core::Err(Error::too_many_ranges);

    std::vector<Range> ranges;
    std::uint64_t prev_ts = 0;
    for (std::uint64_t i = 0; i < *count; ++i) {
        Range range;
        auto upper = read_bound(r, prev_ts);
        auto mode = r.uint(3);
        if (!upper || !mode) return core::Err(Error::malformed);
        if (!ranges.empty() && !less(ranges.back().upper, *upper)) return core::Err(Error::unordered_bounds);
        range.upper = *upper;
        range.mode = static_cast<Mode>(*mode);
        if (range.mode == Mode::fingerprint) {
            auto fp = r.bin_exact(range.fingerprint.size());
            if (!fp) return core::Err(Error::malformed);
            std::copy(fp->begin(), fp->end(), range.fingerprint.begin());
        } else if (range.mode == Mode::id_list) {
            auto ids = r.bin(r.remaining());
            if (!ids) return core::Err(Error::malformed);
            if (ids->size() % MessageId::size != 0) return core::Err(Error::bad_id_list);
            range.ids = *ids;
        } else if (range.mode == Mode::id_diff) {
            auto bitmap = r.bin(r.remaining());
            auto ids = bitmap ? r.bin(r.remaining()) : std::nullopt;
            if (!ids) return core::Err(Error::malformed);
            if (ids->size() % MessageId::size != 0) return core::Err(Error::bad_id_list);
            range.bitmap = *bitmap;
            range.ids = *ids;
        }
        ranges.push_back(range);
    }
    r.finish();
    if (!r.ok()) return core::Err(Error::malformed);
    return ranges;
}

Output::Output(Limits const& limits) : limits_(limits) { CORE_ASSERT(limits.valid()); }

void Output::rollback(Mark const& m) {
    CORE_ASSERT(m.size <= body_.size());
    body_.resize(m.size);
    prev_ts_ = m.prev_ts;
    ranges_ = m.ranges;
    pending_skip_ = m.pending_skip;
}

void Output::bound(Bound const& b) {
    core::Writer w(body_);
    if (b.infinite) {
        w.nil();
        return;
    }
    CORE_ASSERT(b.ts_key >= prev_ts_);
    w.uint(b.ts_key - prev_ts_);
    prev_ts_ = b.ts_key;
    w.bin(std::span(b.id.data(), b.prefix_len));
}

void Output::mode(Mode m) {
    core::Writer(body_).uint(static_cast<std::uint64_t>(m));
    ++ranges_;
}

void Output::flush_skip() {
    if (!pending_skip_) return;
    bound(*pending_skip_);
    mode(Mode::skip);
    pending_skip_.reset();
}

void Output::fingerprint(Bound const& upper, Fingerprint const& fp) {
    flush_skip();
    bound(upper);
    mode(Mode::fingerprint);
    core::Writer(body_).bin(fp);
}

void Output::id_list(Bound const& upper, std::span<Item const> items) {
    flush_skip();
    bound(upper);
    mode(Mode::id_list);
    bin_header(items.size() * MessageId::size);
    for (auto const& item : items) body_.insert(body_.end(), item.id.bytes.begin(), item.id.bytes.end());
}

void Output::bin_header(std::size_t n) {
    // msgpack bin 8/16/32: a tag and a big-endian length; the bytes follow in place.
    int const length_bytes = n <= 0xff ? 1 : n <= 0xffff ? 2 : 4;
    body_.push_back(std::byte(length_bytes == 1 ? 0xc4 : length_bytes == 2 ? 0xc5 : 0xc6));
    for (int i = length_bytes - 1; i >= 0; --i) body_.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
}

void Output::id_diff(Bound const& upper, std::span<std::byte const> bitmap, std::span<MessageId const> ids) {
    flush_skip();
    bound(upper);
    mode(Mode::id_diff);
    bin_header(bitmap.size());
    body_.insert(body_.end(), bitmap.begin(), bitmap.end());
    bin_header(ids.size() * MessageId::size);
    for (auto const& id : ids) body_.insert(body_.end(), id.bytes.begin(), id.bytes.end());
}

std::size_t Output::room() const {
    // The same reserve as over(), so a range that fits in room() never needs a rollback.
    std::size_t const used = header_max + body_.size() + skip_max + tail_max;
    if (used >= limits_.frame_bytes_max) return 0;
    if (ranges_ + (pending_skip_ ? 1 : 0) + 3 > limits_.ranges_max) return 0;
    return limits_.frame_bytes_max - used;
}

std::size_t Output::ids_that_fit() const {
    std::size_t const skip = pending_skip_ ? skip_max : 0;
    std::size_t const used = header_max + body_.size() + skip + tail_max + id_list_overhead;
    if (used >= limits_.frame_bytes_max) return 0;
    if (ranges_ + (pending_skip_ ? 1 : 0) + 2 > limits_.ranges_max) return 0;
    return (limits_.frame_bytes_max - used) / MessageId::size;
}

bool Output::over() const {
    return header_max + body_.size() + skip_max + tail_max > limits_.frame_bytes_max ||
           ranges_ + 2 > limits_.ranges_max;
}

void Output::tail(Bound const& upper, Fingerprint const& fp) {
    fingerprint(upper, fp);
    CORE_ASSERT(header_max + body_.size() <= limits_.frame_bytes_max && ranges_ <= limits_.ranges_max);
}

core::Bytes Output::finish() const {
    core::Bytes out;
    out.reserve(header_max + body_.size());
    core::Writer w(out);
    w.uint(protocol_version);
    w.uint(ranges_);  // a trailing pending skip is left out
    out.insert(out.end(), body_.begin(), body_.end());
    return out;
}

}  // namespace pubsub::reconcile::detail
