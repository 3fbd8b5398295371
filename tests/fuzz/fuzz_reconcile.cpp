// libFuzzer target: set reconciliation (pubsub/reconcile.hpp) on hostile messages. The
// first byte picks the side: the responder (respond()) or the initiator (step()), each with
// a fixed set of 600 items sharing some timestamps. Neither crashes, reads out of bounds
// or allocates past its bounds; every message either produces stays within the frame and
// range limits, and what the initiator sends next is accepted by a responder.
#include "core/rng.hpp"
#include "pubsub/reconcile.hpp"

#include <algorithm>
#include <cstdlib>

namespace {

namespace rc = pubsub::reconcile;

std::vector<rc::Item> make_items(std::uint64_t seed) {
    core::Rng rng(seed);
    std::vector<rc::Item> items;
    for (int i = 0; i < 600; ++i) {
        rc::Item item{1'700'000'000'000 + static_cast<std::int64_t>(rng.uniform(i % 3 == 0 ? 4 : 100'000)), {}};
        rng.fill(item.id.bytes);
        items.push_back(item);
    }
    std::sort(items.begin(), items.end());
    return items;
}

// Small limits, so frame and range limits are reached often.
rc::Limits const limits{.frame_bytes_max = 2048, .id_list_max = 16, .buckets = 4, .ranges_max = 64};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    static auto const ours = make_items(1);
    static auto const theirs = make_items(2);
    if (size == 0) return 0;
    core::ByteView message(reinterpret_cast<std::byte const*>(data) + 1, size - 1);
    if (data[0] & 1) {
        auto reply = rc::respond(theirs, message, limits);
        if (reply && reply.value().size() > limits.frame_bytes_max) std::abort();
        return 0;
    }
    rc::Initiator initiator(ours, limits);
    std::vector<pubsub::MessageId> have, need;
    auto next = initiator.step(message, have, need);
    if (!next) {
        if (!have.empty() || !need.empty() || initiator.rounds() != 0) std::abort();
        return 0;
    }
    if (!next.value()) return 0;
    if (next.value()->size() > limits.frame_bytes_max) std::abort();
    if (!rc::respond(theirs, *next.value(), limits)) std::abort();
    return 0;
}
