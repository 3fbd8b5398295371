// 256-bit identifiers: node ids (BLAKE2b-256 of a node's ed25519 public key) and keys
// (BLAKE2b-256 of a user key or topic name) share one type, so XOR distance works between
// them. Comparison of distances is lexicographic over the big-endian bytes.
#pragma once

#include "core/bytes.hpp"

#include <array>
#include <compare>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace core {

struct NodeId {
    static constexpr std::size_t size = 32;
    std::array<std::byte, size> bytes{};

    friend auto operator<=>(NodeId const&, NodeId const&) = default;

    // The XOR metric of Kademlia (section 2.1 of the paper).
    NodeId distance(NodeId const& other) const {
        NodeId d;
        for (std::size_t i = 0; i < size; ++i) d.bytes[i] = bytes[i] ^ other.bytes[i];
        return d;
    }

    // Number of leading zero bits; 256 for the zero id.
    int leading_zeros() const;

    // Bucket index of `other` in a table owned by this id: 255 - (leading zeros of the
    // distance), so bucket 255 holds the far half of the space and bucket 0 the nearest
    // id. Undefined for other == *this (asserted).
    int bucket_index(NodeId const& other) const;

    // Is `a` closer to this id than `b`?
    bool closer(NodeId const& a, NodeId const& b) const {
        for (std::size_t i = 0; i < size; ++i) {
            auto da = bytes[i] ^ a.bytes[i];
            auto db = bytes[i] ^ b.bytes[i];
            if (da != db) return da < db;
        }
        return false;
    }

    bool is_zero() const { return *this == NodeId{}; }

    std::string hex() const { return to_hex(bytes); }
    std::string short_hex() const { return hex().substr(0, 8); }
    static std::optional<NodeId> from_hex(std::string_view hex);
    static NodeId from_span(ByteView b);  // b.size() must be 32 (asserted).

    // A random id whose distance to `base` has exactly `bucket` as its bucket index: used
    // for bucket refresh.
    template <class Rng>
    static NodeId random_in_bucket(NodeId const& base, int bucket, Rng& rng) {
        NodeId id;
        rng.fill(id.bytes);
        int const prefix = 255 - bucket;  // bits shared with base
        for (int bit = 0; bit < prefix; ++bit) set_bit(id, bit, get_bit(base, bit));
        set_bit(id, prefix, !get_bit(base, prefix));
        return id;
    }

    static bool get_bit(NodeId const& id, int bit) {
        return (std::to_integer<unsigned>(id.bytes[bit / 8]) >> (7 - bit % 8)) & 1u;
    }
    static void set_bit(NodeId& id, int bit, bool v) {
        auto mask = static_cast<std::byte>(1u << (7 - bit % 8));
        if (v) id.bytes[bit / 8] |= mask;
        else id.bytes[bit / 8] &= ~mask;
    }
};

using Key = NodeId;

struct NodeIdHash {
    std::size_t operator()(NodeId const& id) const {
        std::size_t h;
        std::memcpy(&h, id.bytes.data(), sizeof h);  // ids are uniform hashes already
        return h;
    }
};

}  // namespace core
