#include "core/endpoint.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace core {

Endpoint Endpoint::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
    Endpoint e;
    e.family = Family::v4;
    e.addr[0] = a;
    e.addr[1] = b;
    e.addr[2] = c;
    e.addr[3] = d;
    e.port = port;
    return e;
}

bool Endpoint::is_loopback() const {
    if (is_v4()) return addr[0] == 127;
    for (int i = 0; i < 15; ++i)
        if (addr[i] != 0) return false;
    return addr[15] == 1;
}

bool Endpoint::is_unspecified() const {
    int n = is_v4() ? 4 : 16;
    for (int i = 0; i < n; ++i)
        if (addr[i] != 0) return false;
    return true;
}

std::uint64_t Endpoint::subnet_key() const {
    std::uint64_t key = 0;
    if (is_v4()) {
        key = (std::uint64_t{4} << 56) | (std::uint64_t{addr[0]} << 16) | (std::uint64_t{addr[1]} << 8) | addr[2];
    } else {
        for (int i = 0; i < 8; ++i) key = (key << 8) | addr[i];
        key ^= std::uint64_t{6} << 56;  // keeps v6 keys apart from v4 keys in practice
    }
    return key;
}

std::string Endpoint::to_string() const {
    // Built by appending: g++ 12 at -O3 reports a false -Wrestrict inside
    // operator+(char const*, std::string&&) (GCC bug 105329).
    char buf[INET6_ADDRSTRLEN] = {};
    std::string out;
    out.reserve(sizeof buf + 8);
    if (is_v4()) {
        inet_ntop(AF_INET, addr.data(), buf, sizeof buf);
        out.append(buf);
    } else {
        inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
        out.append("[").append(buf).append("]");
    }
    out.append(":").append(std::to_string(port));
    return out;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    std::string host;
    std::string_view port_text;
    Endpoint e;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        e.family = Family::v6;
        if (inet_pton(AF_INET6, host.c_str(), e.addr.data()) != 1) return std::nullopt;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        e.family = Family::v4;
        if (inet_pton(AF_INET, host.c_str(), e.addr.data()) != 1) return std::nullopt;
    }
    if (port_text.empty() || port_text.size() > 5) return std::nullopt;
    unsigned port = 0;
    for (char c : port_text) {
        if (c < '0' || c > '9') return std::nullopt;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port > 65535) return std::nullopt;
    e.port = static_cast<std::uint16_t>(port);
    return e;
}

std::size_t EndpointHash::operator()(Endpoint const& e) const {
    std::uint64_t h = 1469598103934665603ULL;
    auto mix = [&](std::uint8_t b) { h = (h ^ b) * 1099511628211ULL; };
    mix(static_cast<std::uint8_t>(e.family));
    for (auto b : e.addr) mix(b);
    mix(static_cast<std::uint8_t>(e.port));
    mix(static_cast<std::uint8_t>(e.port >> 8));
    return static_cast<std::size_t>(h);
}

}  // namespace core
