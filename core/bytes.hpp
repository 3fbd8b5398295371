// Byte buffers and the few helpers every module needs: hex, conversion between
// std::byte and char views. Nothing here allocates unless it returns a container.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace core {

using Bytes = std::vector<std::byte>;
using ByteView = std::span<std::byte const>;

inline ByteView as_bytes(std::string_view s) {
    return {reinterpret_cast<std::byte const*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
    return {reinterpret_cast<char const*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) {
    auto v = as_bytes(s);
    return {v.begin(), v.end()};
}

std::string to_hex(ByteView bytes);
// Parses exactly out.size() bytes of hex (upper or lower case); false on any other input.
bool from_hex(std::string_view hex, std::span<std::byte> out);

}  // namespace core
