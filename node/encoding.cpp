#include "node/encoding.hpp"

#include <array>
#include <cstdint>

namespace node {

std::size_t utf8_sequence_length(std::string_view text) {
    if (text.empty()) return 0;
    auto const b0 = static_cast<unsigned char>(text[0]);
    if (b0 < 0x80) return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (RFC 3629, section 4)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 == 0xE0) {
        len = 3, lo = 0xA0;
    } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
        len = 3;
    } else if (b0 == 0xED) {
        len = 3, hi = 0x9F;  // excludes the UTF-16 surrogates
    } else if (b0 == 0xF0) {
        len = 4, lo = 0x90;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
        len = 4;
    } else if (b0 == 0xF4) {
        len = 4, hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (text.size() < len) return 0;
    auto const b1 = static_cast<unsigned char>(text[1]);
    if (b1 < lo || b1 > hi) return 0;
    for (std::size_t i = 2; i < len; ++i) {
        auto const b = static_cast<unsigned char>(text[i]);
        if (b < 0x80 || b > 0xBF) return 0;
    }
    return len;
}

bool is_valid_utf8(std::string_view text) {
    while (!text.empty()) {
        auto n = utf8_sequence_length(text);
        if (n == 0) return false;
        text.remove_prefix(n);
    }
    return true;
}

namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
}  // namespace

std::string base64_encode(core::ByteView bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t v = std::to_integer<std::uint32_t>(bytes[i]) << 16 |
                          std::to_integer<std::uint32_t>(bytes[i + 1]) << 8 | std::to_integer<std::uint32_t>(bytes[i + 2]);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    std::size_t const rest = bytes.size() - i;
    if (rest == 1) {
        std::uint32_t v = std::to_integer<std::uint32_t>(bytes[i]) << 16;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += "==";
    } else if (rest == 2) {
        std::uint32_t v = std::to_integer<std::uint32_t>(bytes[i]) << 16 | std::to_integer<std::uint32_t>(bytes[i + 1]) << 8;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += '=';
    }
    return out;
}

std::optional<core::Bytes> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    core::Bytes out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        bool const last = i + 4 == text.size();
        std::size_t pad = 0;
        if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
        std::array<int, 4> s{};
        for (std::size_t j = 0; j < 4 - pad; ++j) {
            s[j] = sextet(text[i + j]);
            if (s[j] < 0) return std::nullopt;
        }
        std::uint32_t v = static_cast<std::uint32_t>(s[0]) << 18 | static_cast<std::uint32_t>(s[1]) << 12 |
                          static_cast<std::uint32_t>(s[2]) << 6 | static_cast<std::uint32_t>(s[3]);
        // Canonical form only: the bits a padded group does not carry must be zero.
        if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) return std::nullopt;
        out.push_back(static_cast<std::byte>(v >> 16));
        if (pad < 2) out.push_back(static_cast<std::byte>(v >> 8 & 0xFF));
        if (pad < 1) out.push_back(static_cast<std::byte>(v & 0xFF));
    }
    return out;
}

}  // namespace node
