// Unit tests of topic rendezvous: the topic key, provider record signing and every check
// (forged, altered, expired, too far ahead), the wire messages, the storer's caps and its
// random reply subset, persistence through a RecordStore, and DhtNodes announcing and
// finding providers over a small in-memory network (re-announce timing, withdraw,
// early stop, the 64/n announce probability, determinism). LmdbStore persistence is in
// store_providers_test.cpp.
#include "dht/provider_table.hpp"
#include "dht/wire.hpp"
#include "store/mem_store.hpp"
#include "tests/support/test_net.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace dht;
using test::TestNet;

namespace {

constexpr std::uint64_t now_ms = 1'700'000'000'000;
constexpr std::uint64_t hour_ms = 3'600'000;
constexpr std::uint64_t lifetime_ms = 2 * hour_ms + 60'000;

core::Identity identity(std::uint8_t n) {
    core::crypto_init();
    std::array<std::byte, 32> seed{};
    seed[0] = std::byte{n};
    seed[1] = std::byte{0x5a};
    return core::Identity::from_seed(seed);
}

// A record for `topic` signed by identity `n`, at 10.x.y.1:4000 (x.y from `subnet`).
ProviderRecord record_of(core::Identity const& id, Key const& topic, std::uint16_t subnet = 1,
                         std::uint64_t expires = now_ms + hour_ms) {
    core::IdentitySigner signer(id);
    auto addr = core::Endpoint::v4(10, static_cast<std::uint8_t>(subnet >> 8), static_cast<std::uint8_t>(subnet), 1, 4000);
    return make_provider_record(signer, topic, {addr}, expires);
}

ProviderLimits limits(std::size_t per_topic = 256, std::size_t per_subnet = 4, std::size_t total = 10'000) {
    return {per_topic, per_subnet, total, false, lifetime_ms};
}

std::uint64_t rejected(Stats const& s, ProviderReject r) { return s.providers_rejected[static_cast<std::size_t>(r)]; }

std::vector<LookupDone> done_of_kind(test::TestNode const& n, LookupKind kind) {
    std::vector<LookupDone> out;
    for (auto const& e : n.events)
        if (auto d = std::get_if<LookupDone>(&e); d && d->kind == kind) out.push_back(*d);
    return out;
}

std::set<NodeId> ids_of(std::vector<ProviderRecord> const& records) {
    std::set<NodeId> out;
    for (auto const& r : records) out.insert(r.node_id);
    return out;
}

}  // namespace

TEST_CASE("providers: topic key is BLAKE2b-256 of the domain tag and the name", "[unit]") {
    core::crypto_init();
    CHECK(topic_key("chat") == core::blake2b_256(core::as_bytes("kadmium-topic-v1chat")));
    CHECK(topic_key("chat") != core::key_of("chat"));
    CHECK(topic_key("chat") != topic_key("chat2"));
    CHECK(topic_key("") == core::blake2b_256(core::as_bytes("kadmium-topic-v1")));
}

TEST_CASE("providers: a signed record verifies; forged, altered and expired ones do not", "[unit]") {
    auto alice = identity(1);
    auto mallory = identity(2);
    auto topic = topic_key("chat");
    auto good = record_of(alice, topic);
    CHECK(good.node_id == alice.id);
    CHECK_FALSE(check_provider_record(good, now_ms, lifetime_ms));

    SECTION("a flipped signature bit") {
        auto r = good;
        r.signature.bytes[7] ^= std::byte{1};
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_signature);
    }
    SECTION("altered fields: topic, address, expiry") {
        auto r = good;
        r.topic = topic_key("other");
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_signature);
        r = good;
        r.addrs[0].port = 4001;
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_signature);
        r = good;
        r.expires_ms += 1;
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_signature);
    }
    SECTION("a record claiming alice's key, signed by mallory") {
        core::IdentitySigner signer(mallory);
        auto r = good;
        r.signature = signer.sign(provider_signed_bytes(r));
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_signature);
    }
    SECTION("mallory's key with alice's id") {
        auto r = record_of(mallory, topic);
        r.node_id = alice.id;
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::id_mismatch);
    }
    SECTION("the signature is domain-separated") {
        // The same bytes without the tag (e.g. a message signed for another purpose) fail.
        auto bytes = provider_signed_bytes(good);
        CHECK(std::equal(provider_signature_domain.begin(), provider_signature_domain.end(),
                         reinterpret_cast<char const*>(bytes.data())));
        auto r = good;
        r.signature = core::sign(alice.secret_key, core::ByteView(bytes).subspan(provider_signature_domain.size()));
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_signature);
    }
    SECTION("expiry: past, now, too far ahead, at the limit") {
        CHECK(check_provider_record(record_of(alice, topic, 1, now_ms - 1), now_ms, lifetime_ms) ==
              ProviderReject::expired);
        CHECK(check_provider_record(record_of(alice, topic, 1, now_ms), now_ms, lifetime_ms) == ProviderReject::expired);
        CHECK(check_provider_record(record_of(alice, topic, 1, now_ms + lifetime_ms + 1), now_ms, lifetime_ms) ==
              ProviderReject::expiry_too_far);
        CHECK_FALSE(check_provider_record(record_of(alice, topic, 1, now_ms + lifetime_ms), now_ms, lifetime_ms));
    }
    SECTION("addresses: none, too many, port 0, unspecified") {
        auto r = good;
        r.addrs.clear();
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_addrs);
        r.addrs.assign(provider_addrs_max + 1, good.addrs[0]);
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_addrs);
        r.addrs = {core::Endpoint::v4(10, 0, 0, 1, 0)};
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_addrs);
        r.addrs = {core::Endpoint::v4(0, 0, 0, 0, 4000)};
        CHECK(check_provider_record(r, now_ms, lifetime_ms) == ProviderReject::bad_addrs);
    }
}

TEST_CASE("providers: the four messages round-trip; bounds are enforced on decode", "[unit]") {
    auto topic = topic_key("chat");
    auto a = record_of(identity(1), topic, 1);
    core::IdentitySigner signer(identity(2));
    auto b = make_provider_record(signer, topic,
                                  {core::Endpoint::v4(10, 0, 2, 1, 4000), *core::Endpoint::parse("[2001:db8::1]:4000")},
                                  now_ms + hour_ms);
    auto roundtrip = [](wire::Message const& m) {
        core::DecodeError error{};
        auto bytes = wire::encode(m);
        auto back = wire::decode(bytes, error);
        REQUIRE(back);
        CHECK(wire::encode(*back) == bytes);
        return *back;
    };
    // The sizes docs/protocol.md gives: 153 bytes with one IPv4 address, 225 with four IPv6.
    auto size_of = [](ProviderRecord const& r) {
        core::Bytes out;
        core::Writer w(out);
        encode_provider_record(w, r);
        return out.size();
    };
    CHECK(size_of(a) == 153);
    auto wide = a;
    wide.addrs.assign(provider_addrs_max, *core::Endpoint::parse("[2001:db8::1]:4000"));
    CHECK(size_of(wide) == 225);

    wire::Message announce;
    announce.type = wire::MsgType::announce;
    announce.txid = 7;
    announce.providers = {b};
    auto m = roundtrip(announce);
    REQUIRE(m.providers.size() == 1);
    CHECK(m.providers[0] == b);
    CHECK_FALSE(check_provider_record(m.providers[0], now_ms, lifetime_ms));

    wire::Message announced;
    announced.type = wire::MsgType::announced;
    announced.accepted = true;
    CHECK(roundtrip(announced).accepted);

    wire::Message find;
    find.type = wire::MsgType::find_providers;
    find.target = topic;
    CHECK(roundtrip(find).target == topic);

    wire::Message reply;
    reply.type = wire::MsgType::providers;
    reply.providers = {a, b};
    reply.providers_held = 123;
    reply.nodes = {Contact::make(identity(3).public_key, core::Endpoint::v4(10, 0, 3, 1, 4000))};
    auto r = roundtrip(reply);
    CHECK(r.providers == reply.providers);
    CHECK(r.providers_held == 123);
    CHECK(r.nodes == reply.nodes);

    SECTION("more records than providers_max") {
        reply.providers.assign(wire::providers_max, a);
        auto bytes = wire::encode(reply);
        core::DecodeError error{};
        CHECK(wire::decode(bytes, error));
        // Patch the array header (0xdc 0x00 0x20 for 32) to claim 33.
        std::array<std::byte, 3> const header{std::byte{0xdc}, std::byte{0x00}, std::byte{0x20}};
        auto it = std::search(bytes.begin(), bytes.end(), header.begin(), header.end());
        REQUIRE(it != bytes.end());
        it[2] = std::byte{0x21};
        CHECK_FALSE(wire::decode(bytes, error));
        CHECK(error == core::DecodeError::too_many);
    }
    SECTION("a record with more than provider_addrs_max addresses") {
        core::Bytes bytes;
        core::Writer w(bytes);
        w.array(3);
        w.uint(9);
        w.uint(1);
        w.array(5);
        w.bin(topic.bytes);
        w.bin(a.public_key.bytes);
        w.array(static_cast<std::uint32_t>(provider_addrs_max + 1));
        for (std::size_t i = 0; i <= provider_addrs_max; ++i) wire::encode_endpoint(w, a.addrs[0]);
        w.uint(a.expires_ms);
        w.bin(a.signature.bytes);
        core::DecodeError error{};
        CHECK_FALSE(wire::decode(bytes, error));
        CHECK(error == core::DecodeError::too_many);
    }
}

TEST_CASE("providers: storer caps — per node (newer replaces), per topic, per subnet, in all", "[unit]") {
    store::MemStore st;
    Stats stats;
    auto topic = topic_key("chat");
    auto const observed = [](std::uint16_t subnet) {
        return core::Endpoint::v4(10, static_cast<std::uint8_t>(subnet >> 8), static_cast<std::uint8_t>(subnet), 1, 4000);
    };

    SECTION("one record per node: newer replaces older, older and equal-expiry are refused") {
        ProviderTable table(limits(), st, stats);
        auto alice = identity(1);
        auto first = record_of(alice, topic, 1, now_ms + hour_ms);
        REQUIRE(table.accept(first, observed(1), now_ms));
        CHECK(table.accept(first, observed(1), now_ms));  // the same record again: accepted, no change
        CHECK(stats.providers_accepted == 1);
        auto newer = record_of(alice, topic, 1, now_ms + hour_ms + 1000);
        REQUIRE(table.accept(newer, observed(1), now_ms));
        CHECK(table.size() == 1);
        CHECK(st.count() == 1);  // the old row was erased, not left to expire
        core::Rng rng(1);
        auto sample = table.sample(topic, now_ms, 10, rng);
        REQUIRE(sample.size() == 1);
        CHECK(sample[0] == newer);
        CHECK_FALSE(table.accept(first, observed(1), now_ms));
        CHECK(rejected(stats, ProviderReject::not_newer) == 1);
        // A record that is not valid never reaches the caps.
        auto forged = newer;
        forged.expires_ms += hour_ms / 2;
        CHECK_FALSE(table.accept(forged, observed(1), now_ms));
        CHECK(rejected(stats, ProviderReject::bad_signature) == 1);
        CHECK(table.size() == 1);
    }
    SECTION("at most per_topic_max per topic; other topics unaffected") {
        ProviderTable table(limits(8), st, stats);
        for (std::uint8_t i = 0; i < 8; ++i) REQUIRE(table.accept(record_of(identity(i), topic, i), observed(i), now_ms));
        CHECK_FALSE(table.accept(record_of(identity(8), topic, 8), observed(8), now_ms));
        CHECK(rejected(stats, ProviderReject::topic_full) == 1);
        // A node already held may still refresh its record.
        CHECK(table.accept(record_of(identity(3), topic, 3, now_ms + hour_ms + 1), observed(3), now_ms));
        CHECK(table.accept(record_of(identity(8), topic_key("other"), 8), observed(8), now_ms));
        CHECK(table.size() == 9);
        CHECK(table.fresh_count(topic, now_ms) == 8);
    }
    SECTION("at most per_subnet_max per topic from one /24; loopback only when allowed") {
        ProviderTable table(limits(256, 4), st, stats);
        for (std::uint8_t i = 0; i < 4; ++i) {
            auto from = core::Endpoint::v4(10, 0, 7, static_cast<std::uint8_t>(i + 1), 4000);
            REQUIRE(table.accept(record_of(identity(i), topic, 7), from, now_ms));
        }
        CHECK_FALSE(table.accept(record_of(identity(4), topic, 7), core::Endpoint::v4(10, 0, 7, 99, 4000), now_ms));
        CHECK(rejected(stats, ProviderReject::subnet_full) == 1);
        CHECK(table.accept(record_of(identity(4), topic, 8), core::Endpoint::v4(10, 0, 8, 1, 4000), now_ms));
        CHECK(table.accept(record_of(identity(4), topic_key("b"), 7), core::Endpoint::v4(10, 0, 7, 99, 4000), now_ms));

        auto loop = core::Endpoint::v4(127, 0, 0, 1, 4000);
        for (std::uint8_t i = 10; i < 14; ++i) REQUIRE(table.accept(record_of(identity(i), topic, 9), loop, now_ms));
        CHECK_FALSE(table.accept(record_of(identity(14), topic, 9), loop, now_ms));

        store::MemStore st2;
        auto l = limits(256, 4);
        l.allow_loopback_subnet = true;
        ProviderTable exempt(l, st2, stats);
        for (std::uint8_t i = 10; i < 20; ++i) CHECK(exempt.accept(record_of(identity(i), topic, 9), loop, now_ms));
    }
    SECTION("a total cap over all topics") {
        ProviderTable table(limits(256, 4, 5), st, stats);
        for (std::uint8_t i = 0; i < 5; ++i)
            REQUIRE(table.accept(record_of(identity(i), topic_key(std::string(1, char('a' + i))), i), observed(i), now_ms));
        CHECK_FALSE(table.accept(record_of(identity(9), topic, 9), observed(9), now_ms));
        CHECK(rejected(stats, ProviderReject::table_full) == 1);
        table.prune(now_ms + 2 * hour_ms);
        CHECK(table.size() == 0);
        CHECK(table.topic_count() == 0);
        CHECK(table.accept(record_of(identity(9), topic, 9, now_ms + 3 * hour_ms), observed(9), now_ms + 2 * hour_ms));
    }
    SECTION("a store that fails the write: refused and counted, the table unchanged") {
        ProviderTable table(limits(), st, stats);
        st.fail_nth_put(1);
        CHECK_FALSE(table.accept(record_of(identity(1), topic), observed(1), now_ms));
        CHECK(rejected(stats, ProviderReject::store_failed) == 1);
        CHECK(stats.store_errors == 1);
        CHECK(table.size() == 0);
    }
}

TEST_CASE("providers: a reply is a bounded, uniformly random subset of the fresh records", "[unit]") {
    store::MemStore st;
    Stats stats;
    ProviderTable table(limits(), st, stats);
    auto topic = topic_key("chat");
    std::set<NodeId> all, expiring;
    for (std::uint16_t i = 0; i < 60; ++i) {
        auto id = identity(static_cast<std::uint8_t>(i));
        bool const soon = i % 6 == 0;  // 10 records expire early
        auto expires = soon ? now_ms + 1000 : now_ms + hour_ms;
        REQUIRE(table.accept(record_of(id, topic, i, expires), core::Endpoint::v4(10, 0, static_cast<std::uint8_t>(i), 1, 4000),
                             now_ms));
        (soon ? expiring : all).insert(id.id);
    }
    core::Rng rng(42);
    auto later = now_ms + 2000;
    CHECK(table.fresh_count(topic, later) == 50);
    std::map<NodeId, int> seen;
    std::set<std::set<NodeId>> distinct_draws;
    for (int draw = 0; draw < 200; ++draw) {
        auto s = table.sample(topic, later, 20, rng);
        REQUIRE(s.size() == 20);
        auto ids = ids_of(s);
        CHECK(ids.size() == 20);  // no repeats
        for (auto const& id : ids) {
            CHECK(all.contains(id));  // never an expired one
            ++seen[id];
        }
        distinct_draws.insert(ids);
    }
    CHECK(distinct_draws.size() > 190);
    // Each record is drawn with probability 20/50: expect 80 of 200; a uniform sampler
    // stays well within [40, 120] for every one of the 50.
    CHECK(seen.size() == 50);
    for (auto const& [id, n] : seen) {
        CHECK(n > 40);
        CHECK(n < 120);
    }
    CHECK(table.sample(topic, later, 100, rng).size() == 50);
    CHECK(table.sample(topic_key("none"), later, 20, rng).empty());
}

TEST_CASE("providers: the table reloads from its store; foreign and bad rows are skipped", "[unit]") {
    store::MemStore st;
    Stats stats;
    auto topic = topic_key("chat");
    {
        ProviderTable table(limits(), st, stats);
        for (std::uint8_t i = 0; i < 5; ++i)
            REQUIRE(table.accept(record_of(identity(i), topic, i), core::Endpoint::v4(10, 0, i, 1, 4000), now_ms));
        REQUIRE(table.accept(record_of(identity(0), topic, 0, now_ms + hour_ms + 5), core::Endpoint::v4(10, 0, 0, 1, 4000),
                             now_ms));
    }
    // An ordinary value under the same key, and a provider row under the wrong key.
    auto skey = ProviderTable::store_key(topic);
    REQUIRE(st.put({skey, core::to_bytes("not a record"), NodeId{}, {0}, {2'000'000'000}}));
    auto stray = record_of(identity(9), topic, 9);
    REQUIRE(st.put({core::key_of("elsewhere"), encode_provider_row(stray, stray.addrs[0]), NodeId{}, {0}, {2'000'000'000}}));
    // A tampered row under the right key: its signature fails at load.
    auto bad = record_of(identity(8), topic, 8);
    bad.expires_ms += 1;
    REQUIRE(st.put({skey, encode_provider_row(bad, bad.addrs[0]), NodeId{}, {0}, {2'000'000'000}}));

    Stats stats2;
    ProviderTable again(limits(), st, stats2);
    again.load(now_ms + 1000);
    CHECK(again.size() == 5);
    CHECK(again.is_store_key(skey));
    CHECK_FALSE(again.is_store_key(topic));
    CHECK(rejected(stats2, ProviderReject::bad_signature) == 1);
    core::Rng rng(1);
    auto s = again.sample(topic, now_ms + 1000, 20, rng);
    auto zero = std::find_if(s.begin(), s.end(), [&](auto const& r) { return r.node_id == identity(0).id; });
    REQUIRE(zero != s.end());
    CHECK(zero->expires_ms == now_ms + hour_ms + 5);
    // Loaded after their expiry: nothing, and nothing counted (expiry is normal).
    Stats stats3;
    ProviderTable late(limits(), st, stats3);
    late.load(now_ms + 2 * hour_ms);
    CHECK(late.size() == 0);
    CHECK(rejected(stats3, ProviderReject::expired) == 0);
}

// ---- DhtNodes over the in-memory network. ----

namespace {

Config small_config() {
    Config c;
    c.k = 8;
    return c;
}

std::vector<core::Endpoint> addrs_of(test::TestNode const& n) { return {n.address}; }

}  // namespace

TEST_CASE("providers: nodes announce; another node finds every one of them, verified", "[unit]") {
    TestNet net(small_config(), 3);
    for (int i = 0; i < 16; ++i) net.add_node();
    net.bootstrap_all();
    auto topic = topic_key("chat");
    std::vector<std::size_t> announcers{2, 5, 7, 11, 13};
    for (auto i : announcers) {
        auto lid = net[i].node->announce(net.now(), topic, addrs_of(net[i]));
        REQUIRE(lid != 0);
        net.drain(i);
        auto d = net.wait_done(i, lid);
        CHECK(d.kind == LookupKind::announce);
        CHECK(d.stores_tried >= 8);
        CHECK(d.stores_accepted >= 8);
        CHECK_FALSE(d.announce_skipped);
    }
    std::size_t held = 0;
    for (std::size_t i = 0; i < net.size(); ++i) held += net[i].node->provider_record_count();
    CHECK(held >= 5 * 8);

    auto lid = net[0].node->find_providers(net.now(), topic);
    net.drain(0);
    auto d = net.wait_done(0, lid);
    CHECK(d.kind == LookupKind::find_providers);
    std::set<NodeId> expected;
    for (auto i : announcers) expected.insert(net[i].node->id());
    CHECK(ids_of(d.providers) == expected);
    for (auto const& r : d.providers) {
        CHECK_FALSE(check_provider_record(r, TestNet::wall.to_unix(net.now()).seconds * 1000, lifetime_ms));
        CHECK(r.topic == topic);
        auto who = std::find_if(announcers.begin(), announcers.end(), [&](auto i) { return net[i].node->id() == r.node_id; });
        REQUIRE(who != announcers.end());
        CHECK(r.addrs == addrs_of(net[*who]));
    }
    // ProvidersFound events came first, together naming each provider once.
    std::vector<ProviderRecord> early;
    bool done_seen = false;
    for (auto const& e : net[0].events) {
        if (auto f = std::get_if<ProvidersFound>(&e); f && f->id == lid) {
            CHECK_FALSE(done_seen);
            CHECK(f->topic == topic);
            early.insert(early.end(), f->providers.begin(), f->providers.end());
        }
        if (auto l = std::get_if<LookupDone>(&e); l && l->id == lid) done_seen = true;
    }
    CHECK(early.size() == expected.size());
    CHECK(ids_of(early) == expected);
    // A topic nobody announced: done, empty.
    auto none = net.wait_done(0, net[0].node->find_providers(net.now(), topic_key("quiet")));
    CHECK(none.providers.empty());
    CHECK(net[0].node->stats().rpc[static_cast<std::size_t>(RpcType::find_providers)]
                                  [static_cast<std::size_t>(RpcOutcome::ok)] > 0);
}

TEST_CASE("providers: a lookup stops once it holds providers_enough", "[unit]") {
    auto config = small_config();
    config.providers_enough = 2;
    config.providers_alpha = config.alpha;  // as wide as the node lookup it is compared with
    TestNet net(config, 5);
    for (int i = 0; i < 16; ++i) net.add_node();
    net.bootstrap_all();
    auto topic = topic_key("busy");
    for (std::size_t i = 1; i <= 6; ++i) net.wait_done(i, net[i].node->announce(net.now(), topic, addrs_of(net[i])));
    auto full = net.wait_done(0, net[0].node->find_node(net.now(), topic));
    auto d = net.wait_done(0, net[0].node->find_providers(net.now(), topic));
    CHECK(d.providers.size() >= 2);
    CHECK(d.queried < full.queried);
}

TEST_CASE("providers: a provider lookup asks providers_alpha nodes at once, other lookups alpha", "[unit]") {
    auto config = small_config();
    config.alpha = 3;
    config.providers_alpha = 6;
    config.providers_nearby = 0;  // only the alpha window here (the near probes: below)
    TestNet net(config, 9);
    for (int i = 0; i < 16; ++i) net.add_node();
    net.bootstrap_all();
    net.drain(0);
    // The queries a lookup sends before any answer: taken straight from node 0.
    auto first_round = [&] {
        std::size_t sent = 0;
        while (net[0].node->poll_transmit()) ++sent;
        return sent;
    };
    net[0].node->find_providers(net.now(), topic_key("wide"));
    CHECK(first_round() == 6);
    net[0].node->find_node(net.now(), topic_key("narrow"));
    CHECK(first_round() == 3);
    net[0].node->announce(net.now(), topic_key("announced"), addrs_of(net[0]));
    CHECK(first_round() == 3);
}

// Node 0 is 5 ms from one provider and 100 ms from everyone else. The provider is not
// among the storers, and the lookup's alpha window is one node: its record can reach node
// 0 within a short round trip only through the near probe, and only because a provider
// answers with its own record.
TEST_CASE("providers: a provider lookup probes the nearest contacts; a provider names itself", "[unit]") {
    auto run = [](std::size_t nearby) {
        auto config = small_config();
        config.alpha = 1;
        config.providers_alpha = 1;
        config.providers_nearby = nearby;
        TestNet net(config, 21);
        for (int i = 0; i < 12; ++i) net.add_node();  // few enough that node 0's table holds every one
        auto topic = topic_key("near");
        // The near provider: not among the k closest of all nodes to the topic.
        std::vector<std::size_t> by_distance;
        for (std::size_t i = 1; i < net.size(); ++i) by_distance.push_back(i);
        std::sort(by_distance.begin(), by_distance.end(),
                  [&](auto a, auto b) { return topic.closer(net[a].node->id(), net[b].node->id()); });
        std::size_t const near = by_distance.back();
        net.set_latency([near](std::size_t from, std::size_t to) {
            bool const short_path = (from == 0 && to == near) || (from == near && to == 0);
            return short_path ? core::Duration{5ms} : core::Duration{100ms};
        });
        net.bootstrap_all();
        net.wait_done(near, net[near].node->announce(net.now(), topic, addrs_of(net[near])));
        CHECK(net[near].node->provider_record_count() == 0);  // not a storer of its own record
        // Node 0 has measured its round trip to the near node.
        net[0].node->add_known_contact(net.now(), Contact::make(net[near].identity.public_key, net[near].address));
        net.drain(0);
        net.run_for(1s);
        REQUIRE(net[0].node->measured_rtt(net[near].node->id()).has_value());
        CHECK(*net[0].node->measured_rtt(net[near].node->id()) < 20ms);
        net[0].events.clear();
        auto lid = net[0].node->find_providers(net.now(), topic);
        net.drain(0);
        net.run_for(30ms);
        bool found_near = false;
        for (auto const& e : net[0].events)
            if (auto f = std::get_if<ProvidersFound>(&e); f && f->id == lid)
                for (auto const& r : f->providers) found_near |= r.node_id == net[near].node->id();
        auto const probes = net[0].node->stats().provider_probes;
        // The lookup still ends, with the storers' records too.
        auto d = net.wait_done(0, lid);
        CHECK(ids_of(d.providers).contains(net[near].node->id()));
        return std::make_pair(found_near, probes);
    };
    auto [found, probes] = run(4);
    CHECK(found);
    CHECK(probes >= 1);
    CHECK(probes <= 4);
    auto [found_off, probes_off] = run(0);
    CHECK_FALSE(found_off);
    CHECK(probes_off == 0);
}

TEST_CASE("providers: re-announced every 30 min with jitter until withdrawn, then they expire", "[unit]") {
    TestNet net(small_config(), 7);
    for (int i = 0; i < 10; ++i) net.add_node();
    net.bootstrap_all();
    auto topic = topic_key("chat");
    auto start = net.now();
    REQUIRE(net[4].node->announce(net.now(), topic, addrs_of(net[4])) != 0);
    net.drain(4);
    CHECK(net[4].node->announcing(topic));
    std::vector<core::Instant> rounds;
    std::size_t count = 0;
    while (net.now() - start < std::chrono::hours(3)) {
        net.run_for(std::chrono::seconds(10));
        auto n = done_of_kind(net[4], LookupKind::announce).size();
        if (n != count) rounds.push_back(net.now());
        count = n;
    }
    // First at once, then every 30 min ± 1/8 (26:15 to 33:45), measured at 10 s steps.
    REQUIRE(rounds.size() >= 6);
    CHECK(rounds.size() <= 8);
    CHECK(rounds[0] - start < std::chrono::seconds(20));
    std::set<core::Duration> gaps;
    for (std::size_t i = 1; i < rounds.size(); ++i) {
        auto gap = rounds[i] - rounds[i - 1];
        CHECK(gap >= std::chrono::minutes(26));
        CHECK(gap <= std::chrono::minutes(34));
        gaps.insert(gap);
    }
    CHECK(gaps.size() > 1);  // jittered, not a fixed period
    auto internal = done_of_kind(net[4], LookupKind::announce);
    CHECK_FALSE(internal.front().internal);
    CHECK(internal.back().internal);
    // After 3 h of re-announcing the record is still found.
    CHECK(net.wait_done(0, net[0].node->find_providers(net.now(), topic)).providers.size() == 1);

    net[4].node->withdraw(net.now(), topic);
    CHECK_FALSE(net[4].node->announcing(topic));
    net.run_for(std::chrono::hours(2) + std::chrono::minutes(5));
    CHECK(done_of_kind(net[4], LookupKind::announce).size() == count);
    CHECK(net.wait_done(0, net[0].node->find_providers(net.now(), topic)).providers.empty());
    std::size_t held = 0;
    for (std::size_t i = 0; i < net.size(); ++i) held += net[i].node->provider_record_count();
    CHECK(held == 0);  // the sweep forgot them
}

TEST_CASE("providers: commands refused without a signer, with bad addresses, beyond announcements_max", "[unit]") {
    auto config = small_config();
    config.announcements_max = 2;
    TestNet net(config, 9);
    net.add_node();
    auto& n = net[0];
    CHECK(n.node->announce(net.now(), topic_key("a"), {}) == 0);
    CHECK(n.node->announce(net.now(), topic_key("a"), {core::Endpoint::v4(10, 0, 0, 1, 0)}) == 0);
    CHECK(n.node->announce(net.now(), topic_key("a"), std::vector<core::Endpoint>(5, n.address)) == 0);
    CHECK(n.node->announce(net.now(), topic_key("a"), addrs_of(n)) != 0);
    CHECK(n.node->announce(net.now(), topic_key("b"), addrs_of(n)) != 0);
    CHECK(n.node->announce(net.now(), topic_key("c"), addrs_of(n)) == 0);
    CHECK(n.node->announce(net.now(), topic_key("a"), addrs_of(n)) != 0);  // again: allowed
    // Alone, the node holds its own record (it is among the k closest of every key).
    CHECK(n.node->provider_record_count() == 2);

    store::MemStore st;
    core::StandInCrypto crypto(n.identity.public_key);
    DhtNode unsigned_node(config, n.identity.public_key, crypto, st, core::Rng(1), net.now(), TestNet::wall);
    CHECK(unsigned_node.announce(net.now(), topic_key("a"), addrs_of(n)) == 0);
}

TEST_CASE("providers: a storer refuses a record announced by another node", "[unit]") {
    TestNet net(small_config(), 11);
    for (int i = 0; i < 3; ++i) net.add_node();
    net.bootstrap_all();
    // Node 0 sends node 1 an ANNOUNCE carrying node 2's (valid) record.
    auto expires = static_cast<std::uint64_t>(TestNet::wall.to_unix(net.now()).seconds) * 1000 + 3'600'000;
    auto theirs = make_provider_record(*net[2].signer, topic_key("chat"), addrs_of(net[2]), expires);
    wire::Message m;
    m.type = wire::MsgType::announce;
    m.txid = 77;
    m.providers = {theirs};
    auto plain = wire::encode_fragment(0, 0, 1, wire::encode(m));
    auto key = net[0].crypto->shared_key(net[1].identity.public_key);
    std::array<std::byte, 12> random{};
    auto now_s = static_cast<std::uint32_t>(TestNet::wall.to_unix(net.now()).seconds);
    auto nonce = wire::make_nonce(std::uint64_t{1} << 62, now_s, random);
    auto before = net[1].node->provider_record_count();
    net.inject(1, net[0].address, wire::encode_sealed(*net[0].crypto, *key, net[0].identity.public_key, nonce, plain));
    CHECK(rejected(net[1].node->stats(), ProviderReject::not_owner) == 1);
    CHECK(net[1].node->provider_record_count() == before);
    CHECK(net[1].node->stats().rpc[static_cast<std::size_t>(RpcType::announce)]
                                  [static_cast<std::size_t>(RpcOutcome::rejected)] == 1);
}

TEST_CASE("providers: above providers_announce_full known providers, a node announces with probability full/n",
          "[unit]") {
    auto config = small_config();
    config.providers_announce_full = 2;
    TestNet net(config, 13);
    for (int i = 0; i < 12; ++i) net.add_node();
    net.bootstrap_all();
    auto topic = topic_key("crowded");
    for (std::size_t i = 1; i <= 8; ++i) net.wait_done(i, net[i].node->announce(net.now(), topic, addrs_of(net[i])));
    // Node 0 announces over and over: with 8 known (median) it should skip about 3 in 4.
    int skipped = 0, announced = 0;
    for (int round = 0; round < 24; ++round) {
        auto d = net.wait_done(0, net[0].node->announce(net.now(), topic, addrs_of(net[0])));
        CHECK(d.providers_held > config.providers_announce_full);
        (d.announce_skipped ? skipped : announced) += 1;
        if (d.announce_skipped) CHECK(d.stores_tried == 0);
    }
    CHECK(skipped > 8);
    CHECK(announced > 1);
}

TEST_CASE("providers: a restarted node serves the records it stored", "[unit]") {
    TestNet net(small_config(), 17);
    for (int i = 0; i < 10; ++i) net.add_node();
    net.bootstrap_all();
    auto topic = topic_key("chat");
    for (std::size_t i = 1; i <= 3; ++i) net.wait_done(i, net[i].node->announce(net.now(), topic, addrs_of(net[i])));
    // A storer that is not an announcer and holds all three.
    std::size_t storer = 4;
    while (storer < net.size() && net[storer].node->provider_record_count() != 3) ++storer;
    REQUIRE(storer < net.size());
    auto records_before = net[storer].node->record_count();
    net.restart(storer);
    CHECK(net[storer].node->provider_record_count() == 3);
    CHECK(net[storer].node->record_count() == records_before);
    net[storer].node->bootstrap(net.now(), net[0].address);
    net.drain(storer);
    net.run_for(std::chrono::minutes(2));
    // Lookups still find all three.
    CHECK(net.wait_done(0, net[0].node->find_providers(net.now(), topic)).providers.size() == 3);
    // Holder replication ran on every node meanwhile: provider rows were not copied as values.
    for (std::size_t i = 0; i < net.size(); ++i)
        CHECK(net[i].node->record_count() == net[i].node->provider_record_count());
}

TEST_CASE("providers: the same seed gives the same announcements and answers", "[unit]") {
    auto run = [](std::uint64_t seed) {
        TestNet net(small_config(), seed);
        for (int i = 0; i < 12; ++i) net.add_node();
        net.bootstrap_all();
        auto topic = topic_key("chat");
        for (std::size_t i = 1; i <= 4; ++i) net[i].node->announce(net.now(), topic, addrs_of(net[i]));
        for (std::size_t i = 1; i <= 4; ++i) net.drain(i);
        net.run_for(std::chrono::minutes(40));
        auto d = net.wait_done(0, net[0].node->find_providers(net.now(), topic));
        std::vector<std::uint64_t> trace;
        for (auto const& r : d.providers) trace.push_back(r.expires_ms);
        for (std::size_t i = 0; i < net.size(); ++i) {
            trace.push_back(net[i].node->stats().packets_out);
            trace.push_back(net[i].node->provider_record_count());
        }
        trace.push_back(d.queried);
        return std::make_pair(ids_of(d.providers), trace);
    };
    auto a = run(21);
    auto b = run(21);
    CHECK(a == b);
    CHECK(a.first.size() == 4);
}
