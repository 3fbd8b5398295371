#include "node/net.hpp"

#include <cstring>

namespace node {

asio::ip::address to_asio_address(core::Endpoint const& e) {
    if (e.is_v4()) {
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), e.addr.data(), 4);
        return asio::ip::address_v4(b);
    }
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), e.addr.data(), 16);
    return asio::ip::address_v6(b);
}

asio::ip::udp::endpoint to_udp(core::Endpoint const& e) { return {to_asio_address(e), e.port}; }
asio::ip::tcp::endpoint to_tcp(core::Endpoint const& e) { return {to_asio_address(e), e.port}; }

core::Endpoint from_asio(asio::ip::address const& address, std::uint16_t port) {
    core::Endpoint e;
    e.port = port;
    asio::ip::address_v4 v4;
    if (address.is_v4()) {
        v4 = address.to_v4();
    } else if (address.to_v6().is_v4_mapped()) {
        v4 = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    } else {
        e.family = core::Endpoint::Family::v6;
        auto b = address.to_v6().to_bytes();
        std::memcpy(e.addr.data(), b.data(), 16);
        return e;
    }
    e.family = core::Endpoint::Family::v4;
    auto b = v4.to_bytes();
    std::memcpy(e.addr.data(), b.data(), 4);
    return e;
}

}  // namespace node
