#include "core/node_id.hpp"

#include "core/assert.hpp"

#include <bit>

namespace core {

int NodeId::leading_zeros() const {
    for (std::size_t i = 0; i < size; ++i) {
        auto v = std::to_integer<unsigned char>(bytes[i]);
        if (v != 0) return static_cast<int>(i * 8) + std::countl_zero(v);
    }
    return 256;
}

int NodeId::bucket_index(NodeId const& other) const {
    int lz = distance(other).leading_zeros();
    CORE_ASSERT(lz < 256);
    return 255 - lz;
}

std::optional<NodeId> NodeId::from_hex(std::string_view hex) {
    NodeId id;
    if (!core::from_hex(hex, id.bytes)) return std::nullopt;
    return id;
}

NodeId NodeId::from_span(ByteView b) {
    CORE_ASSERT(b.size() == size);
    NodeId id;
    std::memcpy(id.bytes.data(), b.data(), size);
    return id;
}

}  // namespace core
