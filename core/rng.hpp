// The one random number generator of the protocol core: xoshiro256** seeded through
// splitmix64. The host seeds it (from the OS in node/, from the run's seed in sim/), so a
// seed replays the same choices on every toolchain; std distributions are not used
// because their output differs between standard libraries.
#pragma once

#include "core/assert.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace core {

class Rng {
public:
    explicit Rng(std::uint64_t seed) {
        for (auto& word : s_) word = splitmix64(seed);
    }

    std::uint64_t next() {
        std::uint64_t const result = rotl(s_[1] * 5, 7) * 9;
        std::uint64_t const t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, bound). Lemire's multiply-shift with rejection: unbiased.
    std::uint64_t uniform(std::uint64_t bound) {
        CORE_ASSERT(bound > 0);
        __uint128_t m = static_cast<__uint128_t>(next()) * bound;
        auto low = static_cast<std::uint64_t>(m);
        if (low < bound) {
            std::uint64_t const threshold = -bound % bound;
            while (low < threshold) {
                m = static_cast<__uint128_t>(next()) * bound;
                low = static_cast<std::uint64_t>(m);
            }
        }
        return static_cast<std::uint64_t>(m >> 64);
    }

    // Uniform in [lo, hi], inclusive.
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) {
        CORE_ASSERT(lo <= hi);
        return lo + uniform(hi - lo + 1);
    }

    // Uniform in [0, 1).
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    bool chance(double p) { return unit() < p; }

    void fill(std::span<std::byte> out) {
        for (auto& b : out) b = static_cast<std::byte>(next() >> 56);
    }

    // A new generator whose stream is independent of this one's (for per-node streams).
    Rng split() { return Rng(next()); }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix64(std::uint64_t& x) {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    std::uint64_t s_[4];
};

}  // namespace core
