// sim::EventQueue: the simulator's one discrete-event queue, ordered by (time, sequence).
// The sequence number is assigned at push, so events due at the same instant pop in the
// order they were scheduled: ties never depend on pointers, hash order or heap layout.
// It is not a timer wheel and not thread-safe. Invariant: pop() returns events in
// non-decreasing (at, seq) order, and every pushed event pops exactly once.
//
// The heap holds small fixed-size entries (time, sequence, slot); payloads sit in a slab
// indexed by slot and recycled through a free list, so sifting never moves a payload.
#pragma once

#include "core/assert.hpp"
#include "core/time.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace sim {

template <class Payload>
class EventQueue {
public:
    struct Popped {
        core::Instant at;
        std::uint64_t seq = 0;
        Payload payload;
    };

    // Schedules `payload` at `at`; returns its sequence number. Amortised O(log n).
    std::uint64_t push(core::Instant at, Payload payload) {
        std::uint32_t slot;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
            slab_[slot] = std::move(payload);
        } else {
            CORE_ASSERT(slab_.size() < slot_max);
            slot = static_cast<std::uint32_t>(slab_.size());
            slab_.push_back(std::move(payload));
        }
        std::uint64_t const seq = next_seq_++;
        heap_.push_back(Entry{at.since_origin.count(), seq, slot});
        sift_up(heap_.size() - 1);
        return seq;
    }

    // Removes and returns the earliest event; nullopt when empty. O(log n).
    std::optional<Popped> pop() {
        if (heap_.empty()) return std::nullopt;
        Entry const top = heap_.front();
        heap_.front() = heap_.back();
        heap_.pop_back();
        if (!heap_.empty()) sift_down(0);
        Popped out{core::Instant{core::Duration{top.at_us}}, top.seq, std::move(slab_[top.slot])};
        slab_[top.slot] = Payload{};  // release what the payload owns now, not at reuse
        free_.push_back(top.slot);
        return out;
    }

    // Time of the earliest event, if any.
    std::optional<core::Instant> peek_time() const {
        if (heap_.empty()) return std::nullopt;
        return core::Instant{core::Duration{heap_.front().at_us}};
    }

    std::size_t size() const { return heap_.size(); }
    bool empty() const { return heap_.empty(); }
    // Sequence numbers handed out so far (= events ever pushed).
    std::uint64_t pushed() const { return next_seq_; }

private:
    // 2^32 - 1 slots: far above any run's concurrent events (a 100,000-node run peaks
    // near a million); the assert turns a runaway scenario into a clear failure.
    static constexpr std::size_t slot_max = 0xffff'fffe;

    struct Entry {
        std::int64_t at_us;
        std::uint64_t seq;
        std::uint32_t slot;
        bool before(Entry const& o) const { return at_us != o.at_us ? at_us < o.at_us : seq < o.seq; }
    };

    void sift_up(std::size_t i) {
        Entry const e = heap_[i];
        while (i > 0) {
            std::size_t const parent = (i - 1) / 2;
            if (!e.before(heap_[parent])) break;
            heap_[i] = heap_[parent];
            i = parent;
        }
        heap_[i] = e;
    }

    void sift_down(std::size_t i) {
        Entry const e = heap_[i];
        std::size_t const n = heap_.size();
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && heap_[child + 1].before(heap_[child])) ++child;
            if (!heap_[child].before(e)) break;
            heap_[i] = heap_[child];
            i = child;
        }
        heap_[i] = e;
    }

    std::vector<Entry> heap_;
    std::vector<Payload> slab_;
    std::vector<std::uint32_t> free_;
    std::uint64_t next_seq_ = 0;
};

}  // namespace sim
