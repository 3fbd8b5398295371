// node/net: core::Endpoint <-> Asio endpoints, including IPv4-mapped IPv6 addresses.
#include "node/net.hpp"

#include <catch2/catch.hpp>

using namespace node;

TEST_CASE("net: IPv4 and IPv6 endpoints round-trip", "[unit]") {
    for (auto text : {"127.0.0.1:4000", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:4000", "[::]:1",
                      "[2001:db8::1]:443", "[fe80::1:2:3:4]:9"}) {
        auto e = core::Endpoint::parse(text);
        REQUIRE(e);
        auto udp = to_udp(*e);
        auto tcp = to_tcp(*e);
        CHECK(udp.port() == e->port);
        CHECK(udp.address().is_v4() == e->is_v4());
        CHECK(from_udp(udp) == *e);
        CHECK(from_tcp(tcp) == *e);
        CHECK(from_udp(udp).to_string() == text);
    }
    CHECK(to_udp(*core::Endpoint::parse("10.1.2.3:7")).address().to_string() == "10.1.2.3");
    CHECK(to_udp(*core::Endpoint::parse("[2001:db8::1]:7")).address().to_string() == "2001:db8::1");
}

TEST_CASE("net: v4-mapped IPv6 addresses become plain IPv4", "[unit]") {
    auto mapped = asio::ip::make_address("::ffff:192.0.2.7");
    REQUIRE(mapped.is_v6());
    auto e = from_asio(mapped, 4000);
    CHECK(e.is_v4());
    CHECK(e.to_string() == "192.0.2.7:4000");
    CHECK(e == core::Endpoint::v4(192, 0, 2, 7, 4000));
    // Only the ::ffff:0:0/96 prefix is mapped; other v6 addresses stay v6.
    CHECK_FALSE(from_asio(asio::ip::make_address("::192.0.2.7"), 1).is_v4());
    CHECK_FALSE(from_asio(asio::ip::make_address("64:ff9b::c000:207"), 1).is_v4());
}
