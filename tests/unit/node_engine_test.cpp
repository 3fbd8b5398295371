// node::Engine: the DHT, the pub/sub router and the link sessions wired together, driven
// through whole engines exchanging real bytes (tests/support/engine_net.hpp): topic peers
// found through provider records, links opened and authenticated, messages delivered once.
#include "tests/support/engine_net.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace std::chrono_literals;

namespace {

test::EngineNet joined_net(std::size_t n, node::EngineConfig config = {}) {
    test::EngineNet net(std::move(config));
    for (std::size_t i = 0; i < n; ++i) net.add();
    for (std::size_t i = 1; i < n; ++i) net.engine(i).bootstrap(net.now(), net.host(0).address);
    net.run_for(5s);
    return net;
}

std::size_t delivered_count(test::EngineHost const& h, core::NodeId const& id) {
    std::size_t n = 0;
    for (auto const& d : h.delivered) n += d.message.id == id;
    return n;
}

}  // namespace

TEST_CASE("engine: subscribers find each other through the DHT and get a message from a non-subscriber once",
          "[unit]") {
    auto net = joined_net(6);
    for (std::size_t i : {1, 2, 3}) REQUIRE(net.engine(i).subscribe(net.now(), "chat").ok());
    net.run_for(10s);
    for (std::size_t i : {1, 2, 3}) {
        auto topics = net.engine(i).pubsub().topics();
        REQUIRE(topics.size() == 1);
        CHECK(topics[0].mesh_peers >= 1);
        // Each gave its topic peers its own signed record (what PX passes on); none was refused.
        auto const& st = net.engine(i).pubsub().stats();
        CHECK(st.records_sent >= 1);
        for (auto r : {pubsub::DropReason::record_not_own, pubsub::DropReason::record_not_subscribed,
                       pubsub::DropReason::record_invalid})
            CHECK(st.drop(r) == 0);
    }
    // Node 5 is not subscribed: it publishes through fanout peers it finds in the DHT.
    auto r = net.engine(5).publish(net.now(), "chat", core::as_bytes("hello"));
    REQUIRE(r.ok());
    net.run_for(5s);
    for (std::size_t i : {1, 2, 3}) CHECK(delivered_count(net.host(i), r.value().id) == 1);
    for (std::size_t i : {0, 4, 5}) CHECK(net.host(i).delivered.empty());
    auto const& m = net.host(1).delivered.front().message;
    CHECK(core::as_chars(m.payload) == "hello");
    CHECK(core::node_id_of(m.author) == net.host(5).identity.id);
    CHECK(net.engine(1).stats().links_established >= 1);
}

TEST_CASE("engine: a message published right after subscribing is not lost", "[unit]") {
    auto net = joined_net(4);
    REQUIRE(net.engine(1).subscribe(net.now(), "t").ok());
    net.run_for(5s);
    // Node 2 subscribes and publishes at once, before any mesh of its own exists.
    REQUIRE(net.engine(2).subscribe(net.now(), "t").ok());
    auto r = net.engine(2).publish(net.now(), "t", core::as_bytes("first"));
    REQUIRE(r.ok());
    net.run_for(10s);
    CHECK(delivered_count(net.host(1), r.value().id) == 1);
    CHECK(delivered_count(net.host(2), r.value().id) == 1);  // its own application too
}

TEST_CASE("engine: the mesh repairs around a crashed subscriber", "[unit]") {
    auto net = joined_net(8);
    for (std::size_t i = 1; i < 8; ++i) REQUIRE(net.engine(i).subscribe(net.now(), "t").ok());
    net.run_for(15s);
    net.crash(3);
    net.run_for(5s);
    auto r = net.engine(1).publish(net.now(), "t", core::as_bytes("after the crash"));
    REQUIRE(r.ok());
    net.run_for(5s);
    for (std::size_t i = 1; i < 8; ++i) {
        if (i == 3) continue;
        CHECK(delivered_count(net.host(i), r.value().id) == 1);
    }
}

TEST_CASE("engine: accepted streams beyond links_max are refused and counted", "[unit]") {
    node::EngineConfig config;
    config.links_max = 1;
    test::EngineNet net(config);
    net.add();
    auto const from = core::Endpoint::v4(192, 0, 2, 1, 5000);
    auto first = net.engine(0).handle_stream_accepted(net.now(), from);
    CHECK(first.has_value());
    auto second = net.engine(0).handle_stream_accepted(net.now(), from);
    CHECK_FALSE(second.has_value());
    CHECK(net.engine(0).stats().link_ends[static_cast<std::size_t>(node::LinkEnd::too_many_links)] == 1);
}

TEST_CASE("engine: handshakes per source address are rate limited (not on loopback)", "[unit]") {
    node::EngineConfig config;
    config.handshake_burst = 3;
    config.handshakes_per_ip_per_s = 1;
    test::EngineNet net(config);
    net.add();
    auto const from = core::Endpoint::v4(192, 0, 2, 1, 5000);
    int accepted = 0;
    for (int k = 0; k < 10; ++k) accepted += net.engine(0).handle_stream_accepted(net.now(), from).has_value();
    CHECK(accepted == 3);
    CHECK(net.engine(0).stats().link_ends[static_cast<std::size_t>(node::LinkEnd::handshake_rate)] == 7);
    auto const loop = core::Endpoint::v4(127, 0, 0, 1, 5000);
    for (int k = 0; k < 10; ++k) CHECK(net.engine(0).handle_stream_accepted(net.now(), loop).has_value());
}

TEST_CASE("engine: garbage on a stream ends the link, counted, without harm to the node", "[unit]") {
    test::EngineNet net;
    net.add();
    auto const from = core::Endpoint::v4(192, 0, 2, 1, 5000);
    auto id = net.engine(0).handle_stream_accepted(net.now(), from);
    REQUIRE(id);
    core::Bytes junk(200, std::byte{0x41});
    net.engine(0).handle_stream_bytes(net.now(), *id, junk);
    std::optional<node::StreamClose> closed;
    while (auto e = net.engine(0).poll_event())
        if (auto* c = std::get_if<node::StreamClose>(&*e)) closed = *c;
    CHECK(closed.has_value());
    CHECK(net.engine(0).streams() == 0);
    auto const& ends = net.engine(0).stats().link_ends;
    CHECK(ends[static_cast<std::size_t>(node::LinkEnd::handshake_failed)] +
              ends[static_cast<std::size_t>(node::LinkEnd::frame_too_large)] ==
          1);
}

TEST_CASE("engine: a node with a smaller message limit drops larger messages alone, counted, and keeps its links",
          "[unit]") {
    test::EngineNet net;
    node::EngineConfig small;
    small.pubsub.limits.payload_max = 1024;  // kadmium node --max-message-kb 1
    for (std::size_t i = 0; i < 3; ++i) net.add();
    auto const s = net.add(small);
    for (std::size_t i = 1; i < net.size(); ++i) net.engine(i).bootstrap(net.now(), net.host(0).address);
    net.run_for(5s);
    for (std::size_t i = 0; i < net.size(); ++i) REQUIRE(net.engine(i).subscribe(net.now(), "t").ok());
    net.run_for(20s);
    REQUIRE(net.engine(s).pubsub().topics().at(0).mesh_peers >= 1);
    auto const links_before = net.engine(s).stats().links_established;

    // The small node itself refuses to publish above its limit, and publishes at it.
    CHECK(net.engine(s).publish(net.now(), "t", core::Bytes(2048, std::byte{'x'})).error() ==
          pubsub::PublishError::too_large);
    auto at_limit = net.engine(s).publish(net.now(), "t", core::Bytes(1024, std::byte{'y'}));
    REQUIRE(at_limit.ok());
    net.run_for(2s);
    for (std::size_t i = 0; i < 3; ++i) CHECK(delivered_count(net.host(i), at_limit.value().id) == 1);

    // A 2 KiB message from a default node: everyone else delivers it; the small node drops
    // it alone (not the frame, not the link) and counts it.
    auto big = net.engine(0).publish(net.now(), "t", core::Bytes(2048, std::byte{'z'}));
    REQUIRE(big.ok());
    net.run_for(2s);
    for (std::size_t i = 1; i < 3; ++i) CHECK(delivered_count(net.host(i), big.value().id) == 1);
    CHECK(delivered_count(net.host(s), big.value().id) == 0);
    auto const& st = net.engine(s).pubsub().stats();
    CHECK(st.invalid_count(pubsub::InvalidReason::too_large) >= 1);
    CHECK(st.drop(pubsub::DropReason::bad_frame) == 0);
    CHECK(net.engine(s).stats().links_established == links_before);
    // Not held against the peers that forwarded it (their limit allows it).
    for (std::size_t i = 0; i < 3; ++i)
        CHECK(net.engine(s).pubsub().peer_score(net.now(), net.host(i).identity.id) >= 0);

    // The links are intact: the next small message arrives.
    auto small_msg = net.engine(0).publish(net.now(), "t", core::as_bytes("after"));
    REQUIRE(small_msg.ok());
    net.run_for(2s);
    CHECK(delivered_count(net.host(s), small_msg.value().id) == 1);
}
