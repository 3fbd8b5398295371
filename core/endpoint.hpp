// A UDP/TCP endpoint as a plain value: IPv4 or IPv6 address and port. Conversion to and
// from Asio's endpoint types happens only in node/. The subnet key groups addresses by
// IPv4 /24 or IPv6 /64, for the routing table's per-subnet limit.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace core {

struct Endpoint {
    enum class Family : std::uint8_t { v4 = 4, v6 = 6 };
    Family family = Family::v4;
    std::array<std::uint8_t, 16> addr{};  // v4 uses the first 4 bytes
    std::uint16_t port = 0;

    friend auto operator<=>(Endpoint const&, Endpoint const&) = default;

    static Endpoint v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port);
    bool is_v4() const { return family == Family::v4; }
    bool is_loopback() const;
    bool is_unspecified() const;

    // 8 bytes that are equal exactly when two endpoints share an IPv4 /24 or IPv6 /64.
    std::uint64_t subnet_key() const;

    // "1.2.3.4:5" or "[::1]:5".
    std::string to_string() const;
    // Parses the forms to_string() prints; numeric addresses only (node/ resolves names).
    static std::optional<Endpoint> parse(std::string_view text);
};

struct EndpointHash {
    std::size_t operator()(Endpoint const& e) const;
};

}  // namespace core
