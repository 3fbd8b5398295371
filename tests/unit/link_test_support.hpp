// Helpers for the links::Session tests: two sessions joined by in-memory byte streams
// that can be cut at chosen offsets or in random chunks.
#pragma once

#include "core/crypto.hpp"
#include "core/rng.hpp"
#include "link/session.hpp"

#include <functional>
#include <set>
#include <vector>

namespace link_test {

using namespace std::chrono_literals;

inline core::Identity identity(std::uint8_t n) {
    std::array<std::byte, 32> seed{};
    seed.fill(std::byte{n});
    return core::Identity::from_seed(seed);
}
inline std::array<std::byte, 32> seed_of(std::uint8_t n) {
    std::array<std::byte, 32> s{};
    s.fill(std::byte{static_cast<unsigned char>(0x80 | n)});
    return s;
}
inline core::Instant t0() { return core::Instant{} + 1s; }

// Two sessions: a dials b.
struct Duo {
    core::Identity a_id = identity(1);
    core::Identity b_id = identity(2);
    links::Session a;
    links::Session b;
    // Everything each side wrote, in order (for tampering and cut tests).
    core::Bytes a_to_b;
    core::Bytes b_to_a;

    explicit Duo(links::Config const& config = {}, std::optional<core::NodeId> a_expects = std::nullopt,
                 std::optional<core::NodeId> b_expects = std::nullopt)
        : a(links::Role::initiator, a_id, a_expects ? a_expects : std::optional(b_id.id), seed_of(1), t0(), config),
          b(links::Role::responder, b_id, b_expects, seed_of(2), t0(), config) {}
};

// Splits one direction's stream into the chunks handle_bytes receives: `cut(offset)`
// says whether a chunk ends before the byte at absolute stream offset `offset`.
using CutRule = std::function<bool(std::size_t offset)>;
inline CutRule no_cuts() {
    return [](std::size_t) { return false; };
}

struct Pipe {
    CutRule cut = no_cuts();
    std::size_t write_max = std::size_t(1) << 30;
    std::size_t delivered = 0;  // stream offset of the next byte
    core::Bytes* record = nullptr;
    // Moves what `from` has to write into `to`, chunked; true if any byte moved.
    bool pump(links::Session& from, links::Session& to) {
        auto bytes = from.poll_write(write_max);
        if (record) record->insert(record->end(), bytes.begin(), bytes.end());
        std::size_t start = 0;
        for (std::size_t i = 1; i <= bytes.size(); ++i) {
            if (i == bytes.size() || cut(delivered + i)) {
                to.handle_bytes(t0(), core::ByteView(bytes).subspan(start, i - start));
                start = i;
            }
        }
        delivered += bytes.size();
        return !bytes.empty();
    }
};

// Pumps both ways until nothing moves (bounded).
inline void run(Duo& d, Pipe& ab, Pipe& ba) {
    ab.record = &d.a_to_b;
    ba.record = &d.b_to_a;
    for (int round = 0; round < 100000; ++round) {
        bool moved = ab.pump(d.a, d.b);
        moved = ba.pump(d.b, d.a) || moved;
        if (!moved) return;
    }
}
inline void run(Duo& d) {
    Pipe ab;
    Pipe ba;
    run(d, ab, ba);
}

inline std::vector<core::Bytes> drain(links::Session& s) {
    std::vector<core::Bytes> out;
    while (auto f = s.poll_frame()) out.push_back(std::move(*f));
    return out;
}

inline core::Bytes frame(std::size_t n, std::uint8_t tag) {
    core::Bytes f(n);
    for (std::size_t i = 0; i < n; ++i) f[i] = std::byte{static_cast<unsigned char>(tag + i * 31)};
    return f;
}

inline std::uint64_t dropped(links::Session const& s, links::DropReason r) {
    return s.stats().frames_dropped[static_cast<std::size_t>(r)];
}

}  // namespace link_test
