// node/lan_announce: the announcement datagram, LAN address classes, the inbox filter
// (self, malformed, public, repeats, floods: each dropped and counted) and the schedule.
#include "node/lan_announce.hpp"

#include <catch2/catch.hpp>

using namespace node;
using namespace node::lan;
using namespace std::chrono_literals;

namespace {

core::NodeId id_of(std::uint8_t b) {
    core::NodeId id;
    id.bytes.fill(std::byte{b});
    return id;
}

core::Endpoint ep(char const* text) { return *core::Endpoint::parse(text); }

core::Instant at(core::Duration d) { return core::Instant{d}; }

std::size_t count(Inbox const& inbox, Verdict v) { return inbox.counts()[static_cast<std::size_t>(v)]; }

}  // namespace

TEST_CASE("lan announce: encodes and decodes; rejects what is not one", "[unit]") {
    auto const bytes = encode({4000, id_of(7)});
    REQUIRE(bytes.size() == announcement_size);
    auto a = decode(bytes);
    REQUIRE(a);
    CHECK(a->port == 4000);
    CHECK(a->id == id_of(7));

    auto longer = bytes;
    longer.resize(100, std::byte{1});  // a later version's extra fields are ignored
    CHECK(decode(longer));
    CHECK_FALSE(decode(core::ByteView(bytes.data(), bytes.size() - 1)));
    auto bad_magic = bytes;
    bad_magic[0] = std::byte{'X'};
    CHECK_FALSE(decode(bad_magic));
    auto version0 = bytes;
    version0[4] = std::byte{0};
    CHECK_FALSE(decode(version0));
    core::Bytes huge(announcement_max + 1);
    std::copy(bytes.begin(), bytes.end(), huge.begin());
    CHECK_FALSE(decode(huge));
}

TEST_CASE("lan announce: private, loopback and link-local addresses only", "[unit]") {
    for (auto lan_address : {"127.0.0.1:1", "127.9.9.9:1", "10.1.2.3:1", "172.16.0.1:1", "172.31.255.1:1",
                             "192.168.1.1:1", "169.254.3.4:1", "[::1]:1", "[fd00::1]:1", "[fc12::1]:1", "[fe80::1]:1"})
        CHECK(is_lan_address(ep(lan_address)));
    for (auto public_address : {"8.8.8.8:1", "172.32.0.1:1", "172.15.0.1:1", "192.169.0.1:1", "192.0.2.2:1",
                                "100.64.0.1:1", "[2001:db8::1]:1", "[::]:1", "0.0.0.0:1"})
        CHECK_FALSE(is_lan_address(ep(public_address)));
}

TEST_CASE("lan inbox: accepts a neighbour once, drops self, junk, public and repeats", "[unit]") {
    Inbox inbox(id_of(1));
    core::Endpoint found;
    auto const from = ep("10.0.0.5:40000");  // the sender's ephemeral port: the payload's counts

    CHECK(inbox.receive(at(0s), from, encode({4000, id_of(2)}), {}, &found) == Verdict::accepted);
    CHECK(found == ep("10.0.0.5:4000"));
    CHECK(inbox.receive(at(1s), from, encode({4000, id_of(2)}), {}, &found) == Verdict::repeat);
    CHECK(inbox.receive(at(29s), from, encode({4000, id_of(2)}), {}, &found) == Verdict::repeat);
    // The window passed: worth another hello (it may have restarted with a new key).
    CHECK(inbox.receive(at(31s), from, encode({4000, id_of(2)}), {}, &found) == Verdict::accepted);

    CHECK(inbox.receive(at(31s), ep("10.0.0.9:1"), encode({4000, id_of(1)}), {}, &found) == Verdict::self);
    CHECK(inbox.receive(at(31s), ep("10.0.0.9:1"), core::as_bytes("hello"), {}, &found) == Verdict::malformed);
    CHECK(inbox.receive(at(31s), ep("8.8.8.8:1"), encode({4000, id_of(3)}), {}, &found) == Verdict::not_lan);
    CHECK(inbox.receive(at(31s), ep("10.0.0.9:1"), encode({0, id_of(3)}), {}, &found) == Verdict::not_lan);

    // Already in the routing table: no hello, and no token or memory used.
    auto const in_table = [](core::Endpoint const& e) { return e == ep("10.0.0.7:4000"); };
    CHECK(inbox.receive(at(31s), ep("10.0.0.7:5"), encode({4000, id_of(4)}), in_table, &found) == Verdict::known);
    CHECK(inbox.receive(at(31s), ep("10.0.0.8:5"), encode({4000, id_of(4)}), in_table, &found) == Verdict::accepted);
    CHECK(count(inbox, Verdict::known) == 1);

    CHECK(count(inbox, Verdict::accepted) == 3);
    CHECK(count(inbox, Verdict::repeat) == 2);
    CHECK(count(inbox, Verdict::self) == 1);
    CHECK(count(inbox, Verdict::malformed) == 1);
    CHECK(count(inbox, Verdict::not_lan) == 2);
}

TEST_CASE("lan inbox: a flood of made-up addresses is cut to the rate limit", "[unit]") {
    InboxConfig config;
    config.rate_per_s = 10;
    config.burst = 20;
    config.remembered_max = 64;
    Inbox inbox(id_of(1), config);
    core::Endpoint found;
    // 10,000 distinct addresses within one second: the burst, then 10/s.
    std::size_t accepted = 0;
    for (int i = 0; i < 10'000; ++i) {
        core::Endpoint from = core::Endpoint::v4(10, 1, static_cast<std::uint8_t>(i / 250), static_cast<std::uint8_t>(i % 250), 9);
        auto const t = at(std::chrono::microseconds(i * 100));  // 10,000 in 1 s
        if (inbox.receive(t, from, encode({static_cast<std::uint16_t>(1000 + i % 7), id_of(2)}), {}, &found) ==
            Verdict::accepted)
            ++accepted;
    }
    CHECK(accepted >= 20);
    CHECK(accepted <= 31);
    CHECK(count(inbox, Verdict::flood) == 10'000 - accepted);

    // Tokens come back with time.
    CHECK(inbox.receive(at(5s), ep("10.9.9.9:1"), encode({4000, id_of(5)}), {}, &found) == Verdict::accepted);
}

TEST_CASE("lan interfaces: those of the listen addresses, private or loopback, up and multicast", "[unit]") {
    std::vector<InterfaceAddress> ifs{
        {"lo", 1, ep("127.0.0.1:0"), true, true},
        {"lo", 1, ep("[::1]:0"), true, true},
        {"eth0", 2, ep("192.168.1.10:0"), true, true},
        {"eth0", 2, ep("[fe80::1]:0"), true, true},
        {"eth1", 3, ep("203.0.113.7:0"), true, true},  // public: never
        {"eth2", 4, ep("10.0.0.2:0"), false, true},    // down
        {"eth3", 5, ep("10.0.1.2:0"), true, false},    // no multicast
        {"wg0", 6, ep("[fd00::5]:0"), true, true},
    };
    auto loopback_only = choose_interfaces({ep("127.0.0.1:4000")}, ifs);
    REQUIRE(loopback_only.size() == 1);
    CHECK(loopback_only[0].interface == "lo");
    CHECK(loopback_only[0].local == ep("127.0.0.1:4000"));

    auto any_v4 = choose_interfaces({ep("0.0.0.0:4000")}, ifs);
    REQUIRE(any_v4.size() == 2);
    CHECK(any_v4[0].interface == "lo");
    CHECK(any_v4[1].local == ep("192.168.1.10:4000"));

    auto any_v6 = choose_interfaces({ep("[::]:4001")}, ifs);
    REQUIRE(any_v6.size() == 2);  // lo (::1) and wg0 (ULA); eth0 has only a link-local address
    CHECK(any_v6[1].local == ep("[fd00::5]:4001"));

    CHECK(choose_interfaces({ep("203.0.113.7:4000")}, ifs).empty());
    CHECK(choose_interfaces({ep("10.0.0.2:4000")}, ifs).empty());
}

TEST_CASE("lan schedule: fast while thin, bounded, slow once joined", "[unit]") {
    AnnounceSchedule schedule;
    core::Rng rng(3);
    core::Duration total{};
    int in_first_5s = 0;
    for (int i = 0; i < 20; ++i) {
        auto const d = schedule.next(0, rng);
        CHECK(d >= 375ms);
        CHECK(d <= 37500ms);
        total += d;
        if (total <= 5s) ++in_first_5s;
    }
    CHECK(in_first_5s >= 3);  // several chances to be heard while alone
    CHECK(in_first_5s <= 6);
    auto const settled = schedule.next(AnnounceSchedule::thin_peers, rng);
    CHECK(settled >= 45s);
    CHECK(settled <= 75s);
    // Thin again: fast again.
    CHECK(schedule.next(0, rng) <= 625ms);
}
