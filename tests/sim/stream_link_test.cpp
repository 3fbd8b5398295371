// sim::SimStreamLinks, alone and through the Simulator: frames arrive in order, a crash or
// partition breaks a link and both ends hear of it, an orderly close delivers what was sent.
#include "sim/simulator.hpp"
#include "sim/stream_link.hpp"

#include <catch2/catch.hpp>

using namespace sim;
using core::Duration;
using Kind = StreamEvent::Kind;

namespace {
Duration ms(std::int64_t v) { return Duration{v * 1000}; }
core::Instant at_ms(std::int64_t v) { return core::Instant{ms(v)}; }
core::Bytes frame(std::size_t n, std::uint8_t fill) { return core::Bytes(n, std::byte{fill}); }
}  // namespace

TEST_CASE("stream links: open reaches both ends, frames keep their order", "[sim]") {
    SimNetwork net({.latency = LatencyModel::uniform(ms(5), ms(50)), .reorder_window = ms(100)}, 1);
    SimStreamLinks links(net, {});
    std::vector<SimStreamLinks::Delivery> out;
    auto id = links.open(at_ms(0), 1, 2, out);
    REQUIRE(id);
    REQUIRE(out.size() == 2);
    auto one_way = net.base_latency(1, 2);
    CHECK(out[0].to == 2);
    CHECK(out[0].event.kind == Kind::opened);
    CHECK(out[0].at == at_ms(0) + one_way);
    CHECK(out[1].to == 1);
    CHECK(out[1].at >= out[0].at);
    out.clear();
    // Frames sent at decreasing sizes and increasing times never overtake each other,
    // whatever the datagram reorder window says (streams do not use it).
    for (int i = 0; i < 20; ++i) REQUIRE(links.send(at_ms(i), *id, 1, frame(20 - i, std::uint8_t(i)), out));
    for (std::size_t i = 1; i < out.size(); ++i) CHECK(out[i].at >= out[i - 1].at);
    CHECK(out.back().event.frame.size() == 1);
    CHECK(links.open_count() == 1);
}

TEST_CASE("stream links: bandwidth serialises frames", "[sim]") {
    SimNetwork net({.latency = LatencyModel::constant(ms(10))}, 1);
    SimStreamLinks links(net, {.bytes_per_s = 1000.0});
    std::vector<SimStreamLinks::Delivery> out;
    auto id = links.open(at_ms(0), 1, 2, out);
    out.clear();
    links.send(at_ms(100), *id, 1, frame(500, 1), out);  // 0.5 s on the wire
    REQUIRE(out.size() == 1);
    CHECK(out[0].at == at_ms(100 + 10 + 500));
}

TEST_CASE("stream links: close, crash and partition", "[sim]") {
    SimNetwork net({.latency = LatencyModel::constant(ms(10))}, 1);
    SimStreamLinks links(net, {.break_timeout = ms(3000)});
    std::vector<SimStreamLinks::Delivery> out;

    auto a = links.open(at_ms(0), 1, 2, out);
    out.clear();
    links.send(at_ms(50), *a, 1, frame(8, 1), out);
    links.close(at_ms(50), *a, 1, out);
    REQUIRE(out.size() == 2);
    CHECK(out[1].event.kind == Kind::closed);
    CHECK(out[1].at >= out[0].at);
    CHECK(links.deliverable(out[0]));  // sent before the close: still delivered
    CHECK_FALSE(links.send(at_ms(60), *a, 2, frame(1, 1), out));
    out.clear();

    auto b = links.open(at_ms(0), 3, 4, out);
    out.clear();
    links.send(at_ms(100), *b, 3, frame(8, 1), out);
    auto in_flight = out.front();
    out.clear();
    links.node_down(at_ms(105), 3, out);
    CHECK_FALSE(links.deliverable(in_flight));  // lost with the crash
    REQUIRE(out.size() == 2);
    for (auto const& d : out) {
        CHECK(d.event.kind == Kind::closed);
        CHECK(d.at == at_ms(3105));
        CHECK(links.deliverable(d));
    }
    out.clear();

    auto c = links.open(at_ms(0), 5, 6, out);
    out.clear();
    net.partition(10, 0.5, false);
    links.check_partition(at_ms(200), out);
    bool cut = net.side_of(5) != net.side_of(6);
    CHECK(links.is_open(*c) == !cut);
    CHECK(out.size() == (cut ? 2u : 0u));
}

TEST_CASE("stream links: the simulator delivers frames to the hook in order", "[sim]") {
    Simulator s(SimOptions{.seed = 3, .network = {.latency = LatencyModel::uniform(ms(5), ms(40))}});
    for (int i = 0; i < 3; ++i) s.add_node();
    std::vector<std::pair<NodeIndex, StreamEvent>> seen;
    s.on_stream = [&](NodeIndex to, StreamEvent& e) { seen.emplace_back(to, e); };
    // Stream delivery needs no engine, but the simulator drops events for nodes that are
    // not up: start them alone (no bootstrap peers).
    for (NodeIndex i = 0; i < 3; ++i) s.start_node(i, {});
    auto link = s.open_link(0, 2);
    REQUIRE(link);
    for (std::uint8_t i = 0; i < 10; ++i) REQUIRE(s.send_on_link(*link, 0, frame(1, i)));
    s.close_link(*link, 0);
    s.run_until(at_ms(1000));
    REQUIRE(seen.size() == 1 + 1 + 10 + 1);
    std::vector<int> order;
    for (auto const& [to, e] : seen)
        if (e.kind == Kind::frame) {
            CHECK(to == 2);
            order.push_back(std::to_integer<int>(e.frame[0]));
        }
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    // Node 2 hears: opened, the ten frames, closed, in that order.
    std::vector<Kind> at_2;
    for (auto const& [to, e] : seen)
        if (to == 2) at_2.push_back(e.kind);
    REQUIRE(at_2.size() == 12);
    CHECK(at_2.front() == Kind::opened);
    CHECK(at_2.back() == Kind::closed);
}
