// node::Backoff: exponential backoff with jitter for the runtime's retries (re-resolving
// bootstrap names while the routing table is thin, LAN announcements). Delays start at
// `initial` and double up to `max`; each is scaled by a random factor in
// [1 - jitter, 1 + jitter] so that nodes started together (a StatefulSet, a compose file)
// do not retry in lockstep. Pure: the caller passes the Rng; no clock.
#pragma once

#include "core/assert.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"

#include <algorithm>

namespace node {

class Backoff {
public:
    Backoff(core::Duration initial, core::Duration max, double jitter = 0.25)
        : initial_(initial), max_(max), jitter_(jitter), current_(initial) {
        CORE_ASSERT(initial.count() > 0 && initial <= max && jitter >= 0 && jitter < 1);
    }

    // The delay before the next attempt; the one after it is twice as long (up to max).
    core::Duration next(core::Rng& rng) {
        auto const base = current_;
        current_ = std::min(max_, current_ * 2);
        double const factor = 1.0 - jitter_ + 2.0 * jitter_ * rng.unit();
        return core::Duration(static_cast<core::Duration::rep>(static_cast<double>(base.count()) * factor));
    }

    // Back to `initial` (the condition that needed retries went away).
    void reset() { current_ = initial_; }

    core::Duration current() const { return current_; }

private:
    core::Duration initial_;
    core::Duration max_;
    double jitter_;
    core::Duration current_;
};

}  // namespace node
