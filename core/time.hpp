// Time for the protocol core. Instant is monotonic with an arbitrary origin (0 in the
// simulator); no clock inside the core can produce one: only node/ (from steady_clock)
// and sim/ (virtual time) create Instants. UnixTime is wall time, passed in where records
// need an absolute expiry.
#pragma once

#include <chrono>
#include <cstdint>

namespace core {

using Duration = std::chrono::microseconds;

struct Instant {
    Duration since_origin{};
    friend auto operator<=>(Instant, Instant) = default;
    friend Instant operator+(Instant t, Duration d) { return {t.since_origin + d}; }
    friend Instant operator-(Instant t, Duration d) { return {t.since_origin - d}; }
    friend Duration operator-(Instant a, Instant b) { return a.since_origin - b.since_origin; }
    static constexpr Instant max() { return {Duration::max()}; }
};

// Seconds since the Unix epoch; what goes on the wire and into the store.
struct UnixTime {
    std::int64_t seconds = 0;
    friend auto operator<=>(UnixTime, UnixTime) = default;
};

// Converts between a host's Instant and wall time, given one pair observed together.
// The core keeps one of these so that it never reads a wall clock itself.
struct WallClockAnchor {
    Instant instant{};
    UnixTime unix{};
    // The same moment in microseconds, when the host knows it that precisely (message
    // timestamps and delivery latency need milliseconds); 0 = derive from `unix`.
    std::int64_t unix_us = 0;
    UnixTime to_unix(Instant now) const {
        return {unix.seconds + std::chrono::duration_cast<std::chrono::seconds>(now - instant).count()};
    }
    // Unix time in microseconds at `now`.
    std::int64_t to_unix_us(Instant now) const {
        std::int64_t const base_us = unix_us != 0 ? unix_us : unix.seconds * 1'000'000;
        return base_us + (now - instant).count();
    }
    // Unix time in milliseconds at `now`.
    std::int64_t to_unix_ms(Instant now) const { return to_unix_us(now) / 1000; }
};

inline double to_seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace core
