// Conversions between core::Endpoint (the protocol core's address value) and Asio's
// endpoint types. The only place they meet. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d,
// as a dual-stack socket reports IPv4 peers) become plain IPv4 endpoints, so one peer has
// one address in the routing table whichever socket heard it.
#pragma once

#include "core/endpoint.hpp"
#include "node/asio.hpp"

namespace node {

asio::ip::address to_asio_address(core::Endpoint const& e);
asio::ip::udp::endpoint to_udp(core::Endpoint const& e);
asio::ip::tcp::endpoint to_tcp(core::Endpoint const& e);

core::Endpoint from_asio(asio::ip::address const& address, std::uint16_t port);
inline core::Endpoint from_udp(asio::ip::udp::endpoint const& e) { return from_asio(e.address(), e.port()); }
inline core::Endpoint from_tcp(asio::ip::tcp::endpoint const& e) { return from_asio(e.address(), e.port()); }

}  // namespace node
