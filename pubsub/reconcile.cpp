// Set reconciliation: how each side answers a message, range by range (see reconcile.hpp
// for the protocol and reconcile_wire.hpp for the encoding and the frame budget).
#include "pubsub/reconcile.hpp"

#include "core/assert.hpp"
#include "pubsub/reconcile_wire.hpp"

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace pubsub::reconcile {

using namespace detail;

bool Limits::valid() const {
    if (buckets < 2 || buckets > 1024) return false;
    if (id_list_max < buckets || id_list_max > 4096) return false;  // every bucket of a split holds an item
    if (ranges_max < buckets + 4 || ranges_max > 0xffff) return false;
    // The first answer in a message (a split, an id list, or one id of a partial id list)
    // must fit with the reserve, or a round could make no progress.
    std::size_t const first_answer = std::max(buckets * Output::fingerprint_range_max,
                                              Output::id_list_overhead + id_list_max * MessageId::size);
    std::size_t const needed = Output::header_max + Output::skip_max + Output::tail_max + first_answer;
    return frame_bytes_max >= needed && frame_bytes_max <= (std::size_t{1} << 30);
}

char const* to_string(Error e) {
    switch (e) {
        case Error::malformed: return "malformed";
        case Error::unsupported_version: return "unsupported_version";
        case Error::too_large: return "too_large";
        case Error::too_many_ranges: return "too_many_ranges";
        case Error::unordered_bounds: return "unordered_bounds";
        case Error::bad_id_list: return "bad_id_list";
    }
    return "unknown";
}

namespace {

enum class Role : std::uint8_t { initiator, responder };

struct Side {
    std::span<Item const> items;
    RangeSums const& sums;
    Limits const& limits;
    Role role;
    std::vector<MessageId>* have = nullptr;  // initiator only
    std::vector<MessageId>* need = nullptr;
};

// What answering one range left to do.
enum class Next : std::uint8_t { go_on, stopped, no_room, failed };

bool sorted_unique(std::span<Item const> items) {
    return std::adjacent_find(items.begin(), items.end(), [](Item const& a, Item const& b) { return !(a < b); }) ==
           items.end();
}

// Our items [lo, hi) below `upper`, as an id list when few, else as `buckets` fingerprints
// of nearly equal counts separated by the shortest bounds.
void split(Side const& side, std::size_t lo, std::size_t hi, Bound const& upper, Output& out) {
    std::size_t const count = hi - lo;
    if (count < side.limits.id_list_max) {
        out.id_list(upper, side.items.subspan(lo, count));
        return;
    }
    std::size_t const buckets = side.limits.buckets;
    std::size_t cursor = lo;
    for (std::size_t b = 0; b < buckets; ++b) {
        std::size_t const end = cursor + count / buckets + (b < count % buckets ? 1 : 0);
        Bound const bound = end == hi ? upper : Bound::between(side.items[end - 1], side.items[end]);
        out.fingerprint(bound, side.sums.fingerprint(cursor, end));
        cursor = end;
    }
}

// What did not fit, from our item `lo` up to `rest` (the end of the last range of the
// message being answered that still needed work), as one fingerprint. The tail stops
// there because the skipped ranges after it may be ones whose ids were already listed:
// covering them again would only repeat work.
void write_tail(Side const& side, std::size_t lo, Bound const& rest, Output& out) {
    out.tail(rest, side.sums.fingerprint(lo, lower_index(side.items, lo, rest)));
}

// The responder's answer to an id list: its own ids in the range. When they do not all
// fit, as many as do, a bound after the last one sent, and the tail.
Next answer_id_list(Side const& side, std::size_t lo, std::size_t hi, Bound const& upper, Bound const& rest,
                    Output& out) {
    std::size_t const count = hi - lo;
    std::size_t const fit = out.ids_that_fit();
    if (count <= fit) {
        out.id_list(upper, side.items.subspan(lo, count));
        return Next::go_on;
    }
    if (fit == 0) return Next::no_room;
    std::size_t const stop = lo + fit;
    out.id_list(Bound::between(side.items[stop - 1], side.items[stop]), side.items.subspan(lo, fit));
    write_tail(side, stop, rest, out);
    return Next::stopped;
}

using IdIndex = std::vector<std::pair<MessageId, std::size_t>>;  // id, position in the list

// Listed ids sorted for lookups, each with its position; false when an id repeats.
bool index_ids(core::ByteView ids, IdIndex& out) {
    std::size_t const n = ids.size() / MessageId::size;
    out.clear();
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        out.emplace_back(MessageId::from_span(ids.subspan(i * MessageId::size, MessageId::size)), i);
    std::sort(out.begin(), out.end());
    auto same_id = [](auto const& a, auto const& b) { return a.first == b.first; };
    return std::adjacent_find(out.begin(), out.end(), same_id) == out.end();
}

// The position of `id` in the list, or nullopt.
std::optional<std::size_t> find_id(IdIndex const& index, MessageId const& id) {
    auto it = std::lower_bound(index.begin(), index.end(), id,
                               [](auto const& entry, MessageId const& x) { return entry.first < x; });
    if (it == index.end() || it->first != id) return std::nullopt;
    return it->second;
}

MessageId id_at(core::ByteView ids, std::size_t i) {
    return MessageId::from_span(ids.subspan(i * MessageId::size, MessageId::size));
}

// The responder's preferred answer to an id list: a bitmap of the listed ids it has and
// the ids it has that were not listed, so ids that both sides hold cross only once.
// False (nothing written) when that would not fit; the caller then lists its ids.
bool answer_with_diff(Side const& side, std::size_t lo, std::size_t hi, Bound const& upper, core::ByteView listed,
                      Output& out) {
    std::size_t const count = listed.size() / MessageId::size;
    std::size_t const room = out.room();
    if (count == 0 || room == 0) return false;  // with nothing listed, a plain id list is as small
    IdIndex theirs;
    (void)index_ids(listed, theirs);  // a repeated id only costs its sender
    std::vector<std::byte> bitmap((count + 7) / 8);
    std::vector<MessageId> unlisted;
    std::size_t const fixed = Output::bound_max + 1 + 5 + bitmap.size() + 5;
    for (std::size_t i = lo; i < hi; ++i) {
        if (auto pos = find_id(theirs, side.items[i].id)) {
            bitmap[*pos / 8] |= std::byte(1u << (*pos % 8));
        } else {
            unlisted.push_back(side.items[i].id);
            if (fixed + unlisted.size() * MessageId::size > room) return false;
        }
    }
    if (fixed + unlisted.size() * MessageId::size > room) return false;
    out.id_diff(upper, bitmap, unlisted);
    return true;
}

// The initiator's use of an id list: the ids only we have and only they have in the range.
// Their ids come in their (ts, id) order; `need` keeps that order.
core::Result<void, Error> diff(std::span<Item const> ours, core::ByteView ids, std::vector<MessageId>& have,
                               std::vector<MessageId>& need) {
    IdIndex theirs;
    if (!index_ids(ids, theirs)) return core::Err(Error::bad_id_list);
    std::vector<bool> matched(theirs.size(), false);
    for (auto const& item : ours) {
        if (auto pos = find_id(theirs, item.id)) matched[*pos] = true;
        else have.push_back(item.id);
    }
    for (std::size_t i = 0; i < matched.size(); ++i)
        if (!matched[i]) need.push_back(id_at(ids, i));
    return {};
}

// The initiator's use of an id diff (the answer to the id list it sent for this range).
core::Result<void, Error> apply_diff(std::span<Item const> ours, core::ByteView bitmap, core::ByteView unlisted,
                                     std::vector<MessageId>& have, std::vector<MessageId>& need) {
    if (bitmap.size() != (ours.size() + 7) / 8) return core::Err(Error::bad_id_list);
    IdIndex theirs;
    if (!index_ids(unlisted, theirs)) return core::Err(Error::bad_id_list);
    for (std::size_t i = 0; i < ours.size(); ++i) {
        if (find_id(theirs, ours[i].id)) return core::Err(Error::bad_id_list);  // "unlisted", yet we listed it
        bool const they_have = (std::to_integer<unsigned>(bitmap[i / 8]) >> (i % 8)) & 1u;
        if (!they_have) have.push_back(ours[i].id);
    }
    for (std::size_t i = 0; i < theirs.size(); ++i) need.push_back(id_at(unlisted, i));
    return {};
}

Next answer(Side const& side, Range const& range, std::size_t lo, std::size_t hi, Bound const& rest, Output& out,
            Error& error) {
    switch (range.mode) {
        case Mode::skip:
            out.skip(range.upper);
            return Next::go_on;
        case Mode::fingerprint:
            if (side.sums.fingerprint(lo, hi) == range.fingerprint) out.skip(range.upper);
            else split(side, lo, hi, range.upper, out);
            return Next::go_on;
        case Mode::id_list:
            if (side.role == Role::responder) {
                if (answer_with_diff(side, lo, hi, range.upper, range.ids, out)) return Next::go_on;
                return answer_id_list(side, lo, hi, range.upper, rest, out);
            }
            if (auto r = diff(side.items.subspan(lo, hi - lo), range.ids, *side.have, *side.need); !r) {
                error = r.error();
                return Next::failed;
            }
            out.skip(range.upper);
            return Next::go_on;
        case Mode::id_diff:
            if (side.role == Role::responder) {
                error = Error::malformed;  // only a responder sends these
                return Next::failed;
            }
            if (auto r = apply_diff(side.items.subspan(lo, hi - lo), range.bitmap, range.ids, *side.have, *side.need);
                !r) {
                error = r.error();
                return Next::failed;
            }
            out.skip(range.upper);
            return Next::go_on;
    }
    return Next::go_on;
}

// Answers a whole decoded message, range by range, until the frame is full.
core::Result<Output, Error> answer_message(Side const& side, std::vector<Range> const& ranges) {
    Output out(side.limits);
    auto const last_open = std::find_if(ranges.rbegin(), ranges.rend(), [](Range const& r) { return r.mode != Mode::skip; });
    if (last_open == ranges.rend()) return out;  // nothing left to do: an empty answer
    Bound const& rest = last_open->upper;
    std::size_t lo = 0;
    for (auto const& range : ranges) {
        std::size_t const hi = lower_index(side.items, lo, range.upper);
        auto const mark = out.mark();
        Error error{};
        Next const next = answer(side, range, lo, hi, rest, out, error);
        if (next == Next::failed) return core::Err(error);
        if (next == Next::stopped) break;
        if (next == Next::no_room || out.over()) {
            out.rollback(mark);
            // Limits::valid() guarantees the first answer fits, so each round progresses.
            CORE_ASSERT(mark.size > 0);
            write_tail(side, lo, rest, out);
            break;
        }
        lo = hi;
    }
    return out;
}

}  // namespace

struct Initiator::Index {
    RangeSums sums;
    // Every id reported so far. A range whose ids were listed can be covered again when a
    // message was cut at the frame limit; its ids are then reported only once.
    std::unordered_set<MessageId, core::NodeIdHash> reported;
};

Initiator::Initiator(std::span<Item const> items, Limits limits)
    : items_(items), limits_(limits), index_(std::make_unique<Index>(Index{RangeSums(items, true), {}})) {
    CORE_ASSERT(limits_.valid());
    CORE_ASSERT(sorted_unique(items_));
}

Initiator::~Initiator() = default;
Initiator::Initiator(Initiator&&) noexcept = default;
Initiator& Initiator::operator=(Initiator&&) noexcept = default;

core::Bytes Initiator::start(Opening opening) {
    Output out(limits_);
    if (opening == Opening::whole_fingerprint) {
        out.fingerprint(Bound::infinity(), index_->sums.fingerprint(0, items_.size()));
    } else {
        Side const side{items_, index_->sums, limits_, Role::initiator};
        split(side, 0, items_.size(), Bound::infinity(), out);
    }
    return out.finish();
}

core::Result<std::optional<core::Bytes>, Error> Initiator::step(core::ByteView reply, std::vector<MessageId>& have,
                                                                std::vector<MessageId>& need) {
    auto ranges = parse(reply, limits_);
    if (!ranges) return core::Err(ranges.error());
    std::vector<MessageId> new_have, new_need;
    Side const side{items_, index_->sums, limits_, Role::initiator, &new_have, &new_need};
    auto out = answer_message(side, ranges.value());
    if (!out) return core::Err(out.error());
    ++rounds_;
    for (auto const& id : new_have)
        if (index_->reported.insert(id).second) have.push_back(id);
    for (auto const& id : new_need)
        if (index_->reported.insert(id).second) need.push_back(id);
    if (out.value().ranges() == 0) return std::optional<core::Bytes>{};
    return std::optional<core::Bytes>{out.value().finish()};
}

core::Result<core::Bytes, Error> respond(std::span<Item const> items, core::ByteView message, Limits const& limits) {
    CORE_ASSERT(limits.valid());
    auto ranges = parse(message, limits);
    if (!ranges) return core::Err(ranges.error());
    CORE_ASSERT_EXPENSIVE(sorted_unique(items));
    RangeSums const sums(items, false);
    Side const side{items, sums, limits, Role::responder};
    auto out = answer_message(side, ranges.value());
    if (!out) return core::Err(out.error());
    return out.value().finish();
}

}  // namespace pubsub::reconcile
