// The pub/sub Rpc codec: every field round-trips, every bound exceeded by one is the
// right DecodeError, every truncation and trailing byte is rejected, and msgpack-c reads
// and writes exactly the same bytes (the layout is canonical msgpack).
#include "pubsub/rpc.hpp"

#include "core/rng.hpp"
#include "core/signer.hpp"

#include <catch2/catch.hpp>
#include <msgpack.hpp>

#include <algorithm>
#include <cstring>
#include <functional>

using core::Bytes;
using core::DecodeError;
using pubsub::Rpc;
using pubsub::RpcLimits;

namespace {

core::NodeId id_of(std::uint32_t n) {
    core::NodeId id;
    for (std::size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<std::byte>((n >> (8 * (i % 4))) + i);
    return id;
}

std::vector<core::NodeId> ids(std::uint32_t first, std::size_t count) {
    std::vector<core::NodeId> out;
    for (std::size_t i = 0; i < count; ++i) out.push_back(id_of(first + static_cast<std::uint32_t>(i)));
    return out;
}

// A record signed by identity `n` (the codec does not verify; the router tests do).
pubsub::PeerRecord record_of(std::uint8_t n, core::NodeId const& topic, std::vector<core::Endpoint> addrs) {
    core::crypto_init();
    std::array<std::byte, 32> seed{};
    seed[0] = std::byte{n};
    core::IdentitySigner signer(core::Identity::from_seed(seed));
    return dht::make_provider_record(signer, topic, std::move(addrs), 1'700'000'000'000 + n);
}

// One Rpc with every field and every variant of each field in use; messages of
// `message_size` bytes (and an empty one).
Rpc full_rpc(std::size_t message_size = 300) {
    Rpc rpc;
    rpc.subscriptions = {{id_of(1), true}, {id_of(2), false}};
    rpc.messages = {Bytes(message_size, std::byte{0xab}), Bytes{}, core::to_bytes("third")};
    rpc.graft = {{id_of(3)}, {id_of(4)}};
    auto v4_and_v6 = record_of(5, id_of(7), {core::Endpoint::v4(127, 0, 0, 1, 4000), *core::Endpoint::parse("[2001:db8::7]:65535")});
    auto no_address = record_of(6, id_of(7), {core::Endpoint::v4(127, 0, 0, 1, 4000)});
    no_address.addrs.clear();  // the codec carries it; the router refuses it (px_bad_addrs)
    rpc.prune = {{id_of(7), {v4_and_v6, no_address}, 60}, {id_of(8), {}, 0}, {id_of(9), {}, UINT32_MAX}};
    rpc.ihave = {{id_of(10), ids(100, 3)}, {id_of(11), {}}};
    rpc.iwant = {{ids(200, 2)}, {{}}};
    rpc.idontwant = {{ids(300, 4)}};
    rpc.sync = {{7, pubsub::SyncKind::request, id_of(12), 1'700'000'000'000, 1'700'000'060'000, Bytes(message_size / 2, std::byte{0x5a})},
                {UINT32_MAX, pubsub::SyncKind::refused, id_of(13), 0, 1, {}}};
    rpc.fetch = {{8, id_of(12), ids(400, 2), 0, 0, std::nullopt, 0},
                 {9, id_of(12), {}, 5, 1'700'000'000'000, pubsub::StoreCursor{6, id_of(14)}, 100}};
    rpc.fetched = {{8, {Bytes(message_size, std::byte{0xcd}), Bytes{}}, std::nullopt},
                   {9, {}, pubsub::StoreCursor{1'700'000'000'001, id_of(15)}}};
    rpc.records = {record_of(16, id_of(1), {core::Endpoint::v4(10, 0, 0, 2, 4001), *core::Endpoint::parse("[2001:db8::9]:4001")})};
    rpc.flooded = {{1'764'398'812'345'678, {0, 1, UINT64_MAX}}, {7, {}}};
    rpc.choke = {{id_of(17), true}, {id_of(18), false}};
    return rpc;
}

Bytes encoded(Rpc const& rpc) {
    Bytes out;
    pubsub::encode(rpc, out);
    return out;
}

DecodeError error_of(Bytes const& bytes, RpcLimits const& limits = {}) {
    auto r = pubsub::decode_rpc(bytes, limits);
    return r ? DecodeError::none : r.error();
}

// Writes the 14-element frame header and the given raw fields (an empty array for every
// field not given), for frames the encoder would never produce.
Bytes raw_frame(std::function<void(core::Writer&, int field)> const& write_field, std::uint32_t fields = 14,
                std::uint64_t version = 6) {
    Bytes out;
    core::Writer w(out);
    w.array(fields);
    w.uint(version);
    for (std::uint32_t f = 1; f < fields; ++f) write_field(w, static_cast<int>(f));
    return out;
}

}  // namespace

TEST_CASE("pubsub rpc: every field round-trips", "[unit]") {
    auto rpc = full_rpc();
    auto bytes = encoded(rpc);
    auto back = pubsub::decode_rpc(bytes, {});
    REQUIRE(back);
    auto const& d = back.value();
    CHECK(d == rpc);
    // Spot checks of what operator== covers, so a broken comparison cannot hide a bug.
    REQUIRE(d.subscriptions.size() == 2);
    CHECK(d.subscriptions[1].topic == id_of(2));
    CHECK_FALSE(d.subscriptions[1].subscribe);
    REQUIRE(d.messages.size() == 3);
    CHECK(d.messages[0] == Bytes(300, std::byte{0xab}));
    CHECK(d.messages[1].empty());
    REQUIRE(d.prune.size() == 3);
    REQUIRE(d.prune[0].px.size() == 2);
    CHECK(d.prune[0].px[0].node_id == record_of(5, id_of(7), {core::Endpoint::v4(1, 2, 3, 4, 5)}).node_id);
    CHECK(d.prune[0].px[0].expires_ms == 1'700'000'000'005);
    CHECK(d.prune[0].px[1].addrs.empty());
    REQUIRE(d.prune[0].px[0].addrs.size() == 2);
    CHECK(d.prune[0].px[0].addrs[0].to_string() == "127.0.0.1:4000");
    CHECK(d.prune[0].px[0].addrs[1].to_string() == "[2001:db8::7]:65535");
    CHECK(d.prune[2].backoff_s == UINT32_MAX);
    CHECK(d.ihave[0].ids == ids(100, 3));
    CHECK(d.iwant[1].ids.empty());
    CHECK(d.idontwant[0].ids == ids(300, 4));
    REQUIRE(d.sync.size() == 2);
    CHECK(d.sync[0].to_ms == 1'700'000'060'000);
    CHECK(d.sync[1].kind == pubsub::SyncKind::refused);
    REQUIRE(d.fetch.size() == 2);
    CHECK(d.fetch[1].after->id == id_of(14));
    CHECK(d.fetch[1].limit == 100);
    REQUIRE(d.fetched.size() == 2);
    CHECK(d.fetched[0].messages[0] == Bytes(300, std::byte{0xcd}));
    CHECK(d.fetched[1].next->ts_ms == 1'700'000'000'001);
    REQUIRE(d.records.size() == 1);
    CHECK(d.records[0].addrs[1].to_string() == "[2001:db8::9]:4001");
    REQUIRE(d.choke.size() == 2);
    CHECK(d.choke[0].choke);
    CHECK_FALSE(d.choke[1].choke);
    CHECK(d.choke[1].topic == id_of(18));
    // Canonical: the decoded Rpc encodes to the same bytes.
    CHECK(encoded(d) == bytes);
}

TEST_CASE("pubsub rpc: the empty Rpc is 15 bytes and empty() sees every field", "[unit]") {
    Rpc rpc;
    CHECK(rpc.empty());
    auto bytes = encoded(rpc);
    Bytes expected{std::byte{0x9e}, std::byte{0x06}};
    expected.resize(15, std::byte{0x90});
    CHECK(bytes == expected);
    auto back = pubsub::decode_rpc(bytes, {});
    REQUIRE(back);
    CHECK(back.value().empty());

    auto full = full_rpc();
    std::vector<std::function<void(Rpc&)>> const keep_one{
        [&](Rpc& r) { r.subscriptions = full.subscriptions; }, [&](Rpc& r) { r.messages = full.messages; },
        [&](Rpc& r) { r.graft = full.graft; },                 [&](Rpc& r) { r.prune = full.prune; },
        [&](Rpc& r) { r.ihave = full.ihave; },                 [&](Rpc& r) { r.iwant = full.iwant; },
        [&](Rpc& r) { r.idontwant = full.idontwant; },         [&](Rpc& r) { r.sync = full.sync; },
        [&](Rpc& r) { r.fetch = full.fetch; },                 [&](Rpc& r) { r.fetched = full.fetched; },
        [&](Rpc& r) { r.records = full.records; },           [&](Rpc& r) { r.flooded = full.flooded; },
        [&](Rpc& r) { r.choke = full.choke; },
    };
    for (auto const& set : keep_one) {
        Rpc one;
        set(one);
        CHECK_FALSE(one.empty());
        auto b = pubsub::decode_rpc(encoded(one), {});
        REQUIRE(b);
        CHECK(b.value() == one);
    }
}

TEST_CASE("pubsub rpc: every bound, at the limit and one over", "[unit]") {
    RpcLimits const limits;
    struct Case {
        char const* name;
        std::function<void(Rpc&, std::size_t)> fill;  // fills the Rpc with n of the bounded thing
        std::size_t limit;
        DecodeError over;
    };
    auto topic = id_of(42);
    auto const one = record_of(1, topic, {core::Endpoint::v4(10, 0, 0, 1, 1)});
    auto peer = [&](std::size_t addrs) {
        auto p = one;
        p.addrs.clear();
        for (std::size_t i = 0; i < addrs; ++i) p.addrs.push_back(core::Endpoint::v4(10, 0, 0, 1, static_cast<std::uint16_t>(i)));
        return p;
    };
    // Ids split over two entries: the bound is on the frame's total, not on one list.
    auto split = [](std::size_t n) { return std::pair{ids(0, n / 2), ids(1'000'000, n - n / 2)}; };
    std::vector<Case> const cases{
        {"payload", [](Rpc& r, std::size_t n) { r.messages = {Bytes(n + pubsub::envelope_overhead)}; },
         limits.payload_max, DecodeError::too_long},
        {"messages", [](Rpc& r, std::size_t n) { r.messages.assign(n, Bytes(10)); }, limits.messages_max,
         DecodeError::too_many},
        {"subscriptions", [&](Rpc& r, std::size_t n) { r.subscriptions.assign(n, {topic, true}); },
         limits.subscriptions_max, DecodeError::too_many},
        {"choke entries", [&](Rpc& r, std::size_t n) { r.choke.assign(n, {topic, true}); }, limits.topics_per_control_max,
         DecodeError::too_many},
        {"graft entries", [&](Rpc& r, std::size_t n) { r.graft.assign(n, {topic}); }, limits.topics_per_control_max,
         DecodeError::too_many},
        {"prune entries", [&](Rpc& r, std::size_t n) { r.prune.assign(n, {topic, {}, 1}); },
         limits.topics_per_control_max, DecodeError::too_many},
        {"ihave entries", [&](Rpc& r, std::size_t n) { r.ihave.assign(n, {topic, {}}); },
         limits.topics_per_control_max, DecodeError::too_many},
        {"iwant entries", [](Rpc& r, std::size_t n) { r.iwant.assign(n, {}); }, limits.topics_per_control_max,
         DecodeError::too_many},
        {"idontwant entries", [](Rpc& r, std::size_t n) { r.idontwant.assign(n, {}); },
         limits.topics_per_control_max, DecodeError::too_many},
        {"ihave ids", [&](Rpc& r, std::size_t n) { auto [a, b] = split(n); r.ihave = {{topic, a}, {topic, b}}; },
         limits.ihave_ids_max, DecodeError::too_many},
        {"iwant ids", [&](Rpc& r, std::size_t n) { auto [a, b] = split(n); r.iwant = {{a}, {b}}; },
         limits.iwant_ids_max, DecodeError::too_many},
        {"idontwant ids", [&](Rpc& r, std::size_t n) { auto [a, b] = split(n); r.idontwant = {{a}, {b}}; },
         limits.idontwant_ids_max, DecodeError::too_many},
        {"px", [&](Rpc& r, std::size_t n) { r.prune = {{topic, std::vector(n, peer(1)), 5}}; }, limits.px_max,
         DecodeError::too_many},
        {"records", [&](Rpc& r, std::size_t n) { r.records.assign(n, one); }, limits.records_max,
         DecodeError::too_many},
        {"flood hints", [](Rpc& r, std::size_t n) { r.flooded.assign(n, {5, {1}}); }, limits.flood_hints_max,
         DecodeError::too_many},
        {"flood hint peers", [](Rpc& r, std::size_t n) { r.flooded = {{5, std::vector<std::uint64_t>(n, 9)}}; },
         limits.flood_hint_peers_max, DecodeError::too_many},
        {"sync entries", [&](Rpc& r, std::size_t n) { r.sync.assign(n, {1, pubsub::SyncKind::reply, topic, 0, 1, {}}); },
         limits.sync_max, DecodeError::too_many},
        {"sync body", [&](Rpc& r, std::size_t n) { r.sync = {{1, pubsub::SyncKind::reply, topic, 0, 1, Bytes(n)}}; },
         limits.sync_body_max, DecodeError::too_long},
        {"fetch entries", [&](Rpc& r, std::size_t n) { r.fetch.assign(n, {1, topic, {}, 0, 1, std::nullopt, 5}); },
         limits.fetch_max, DecodeError::too_many},
        {"fetch ids", [&](Rpc& r, std::size_t n) { r.fetch = {{1, topic, ids(0, n), 0, 0, std::nullopt, 0}}; },
         limits.fetch_ids_max, DecodeError::too_many},
        {"fetched entries", [](Rpc& r, std::size_t n) { r.fetched.assign(n, {}); }, limits.fetched_max,
         DecodeError::too_many},
        {"fetched messages", [](Rpc& r, std::size_t n) { r.fetched = {{1, std::vector<Bytes>(n, Bytes(3)), std::nullopt}}; },
         limits.fetched_messages_max, DecodeError::too_many},
    };
    // Records with four addresses pass; five are refused (the encoder cannot even write them).
    Rpc four;
    four.prune = {{topic, {peer(4)}, 5}};
    four.records = {peer(4)};
    REQUIRE(pubsub::decode_rpc(encoded(four), limits));
    auto five = encoded(four);
    Bytes const four_v4{std::byte{0x94}, std::byte{0xc4}, std::byte{6}};  // fixarray(4), bin8 of 6
    auto const pos = std::search(five.begin(), five.end(), four_v4.begin(), four_v4.end());
    REQUIRE(pos != five.end());
    *pos = std::byte{0x95};  // the first record claims five addresses (and the frame breaks)
    CHECK(error_of(five, limits) == DecodeError::too_many);
    for (auto const& c : cases) {
        INFO(c.name);
        Rpc at, over;
        c.fill(at, c.limit);
        c.fill(over, c.limit + 1);
        auto ok = pubsub::decode_rpc(encoded(at), limits);
        REQUIRE(ok);
        CHECK(ok.value() == at);
        CHECK(error_of(encoded(over), limits) == c.over);
    }

    // The node's configured limits are the ones applied.
    RpcLimits small;
    small.payload_max = 10;
    Rpc rpc;
    rpc.messages = {Bytes(10 + pubsub::envelope_overhead)};
    CHECK(error_of(encoded(rpc), small) == DecodeError::none);
    rpc.messages = {Bytes(11 + pubsub::envelope_overhead)};
    CHECK(error_of(encoded(rpc), small) == DecodeError::too_long);
}

TEST_CASE("pubsub rpc: malformed frames are typed errors", "[unit]") {
    auto empty_fields = [](core::Writer& w, int) { w.array(0); };
    CHECK(error_of(raw_frame(empty_fields)) == DecodeError::none);
    CHECK(error_of(raw_frame(empty_fields, 13)) == DecodeError::bad_value);
    CHECK(error_of(raw_frame(empty_fields, 15)) == DecodeError::bad_value);
    CHECK(error_of(raw_frame(empty_fields, 8, 1)) == DecodeError::bad_value);   // version 1 (no catch-up)
    CHECK(error_of(raw_frame(empty_fields, 11, 2)) == DecodeError::bad_value);  // version 2 (no listen)
    CHECK(error_of(raw_frame(empty_fields, 12, 3)) == DecodeError::bad_value);  // version 3 (no flooded)
    CHECK(error_of(raw_frame(empty_fields, 13, 3)) == DecodeError::bad_value);
    CHECK(error_of(raw_frame(empty_fields, 13, 4)) == DecodeError::bad_value);  // version 4 (unsigned PX)
    CHECK(error_of(raw_frame(empty_fields, 13, 5)) == DecodeError::bad_value);  // version 5 (no choke)
    CHECK(error_of(raw_frame(empty_fields, 14, 5)) == DecodeError::bad_value);
    CHECK(error_of(raw_frame(empty_fields, 14, 256)) == DecodeError::out_of_range);

    // One malformed field, the others empty.
    auto with = [&](int field, std::function<void(core::Writer&)> const& write) {
        return error_of(raw_frame([&](core::Writer& w, int f) {
            if (f == field) write(w);
            else w.array(0);
        }));
    };
    Bytes const topic(32), short_topic(31), long_topic(33);
    // Field 1 subscriptions, 2 messages, 3 graft, 4 prune, 5 ihave, 6 iwant, 7 idontwant.
    CHECK(with(1, [&](auto& w) { w.array(1); w.array(2); w.bin(topic); w.uint(1); }) == DecodeError::wrong_type);
    CHECK(with(1, [&](auto& w) { w.array(1); w.array(3); w.bin(topic); w.boolean(true); w.nil(); }) == DecodeError::bad_value);
    CHECK(with(2, [&](auto& w) { w.array(1); w.str("text, not bin"); }) == DecodeError::wrong_type);
    CHECK(with(3, [&](auto& w) { w.array(1); w.bin(short_topic); }) == DecodeError::bad_value);
    CHECK(with(3, [&](auto& w) { w.array(1); w.bin(long_topic); }) == DecodeError::too_long);
    auto prune_with_peer = [&](std::function<void(core::Writer&)> const& write_peer, std::uint64_t backoff = 1) {
        return with(4, [&](auto& w) {
            w.array(1);
            w.array(3);
            w.bin(topic);
            w.array(1);
            write_peer(w);
            w.uint(backoff);
        });
    };
    // A PX record: [topic, public_key, [address], expires_ms, signature].
    auto record_with = [&](std::size_t addr_len, std::size_t key_len = 32, std::size_t sig_len = 64) {
        return [&, addr_len, key_len, sig_len](core::Writer& w) {
            w.array(5);
            w.bin(topic);
            w.bin(Bytes(key_len));
            w.array(1);
            w.bin(Bytes(addr_len));
            w.uint(1'700'000'000'000);
            w.bin(Bytes(sig_len));
        };
    };
    CHECK(prune_with_peer(record_with(6)) == DecodeError::none);
    CHECK(prune_with_peer(record_with(18)) == DecodeError::none);
    CHECK(prune_with_peer(record_with(7)) == DecodeError::bad_value);
    CHECK(prune_with_peer(record_with(19)) == DecodeError::too_long);
    CHECK(prune_with_peer(record_with(6, 31)) == DecodeError::bad_value);
    CHECK(prune_with_peer(record_with(6, 32, 63)) == DecodeError::bad_value);
    CHECK(prune_with_peer(record_with(6), 1ull << 32) == DecodeError::out_of_range);
    // Version 4's unsigned [id, [address]] entry is not a record.
    CHECK(prune_with_peer([&](auto& w) { w.array(2); w.bin(topic); w.array(1); w.bin(Bytes(6)); }) == DecodeError::bad_value);
    CHECK(prune_with_peer([&](auto& w) { w.array(3); w.bin(topic); w.array(0); w.nil(); }) == DecodeError::bad_value);
    // Field 11 records: the same record form.
    CHECK(with(11, [&](auto& w) { w.array(1); record_with(6)(w); }) == DecodeError::none);
    CHECK(with(11, [&](auto& w) { w.array(1); record_with(6, 33)(w); }) == DecodeError::too_long);
    CHECK(with(5, [&](auto& w) { w.array(1); w.array(1); w.bin(topic); }) == DecodeError::bad_value);
    CHECK(with(6, [&](auto& w) { w.array(1); w.bin(topic); }) == DecodeError::wrong_type);
    CHECK(with(7, [&](auto& w) { w.array(1); w.array(1); w.uint(5); }) == DecodeError::wrong_type);
    // Field 8 sync, 9 fetch, 10 fetched.
    CHECK(with(8, [&](auto& w) { w.array(1); w.array(6); w.uint(1); w.uint(4); w.bin(topic); w.uint(0); w.uint(1); w.bin(Bytes{}); }) ==
          DecodeError::out_of_range);  // no SyncKind 4
    CHECK(with(8, [&](auto& w) { w.array(1); w.array(6); w.uint(1ull << 32); w.uint(0); w.bin(topic); w.uint(0); w.uint(1); w.bin(Bytes{}); }) ==
          DecodeError::out_of_range);  // session beyond u32
    CHECK(with(9, [&](auto& w) { w.array(1); w.array(7); w.uint(1); w.bin(topic); w.array(0); w.uint(0); w.uint(1); w.array(1); w.uint(0); w.uint(5); }) ==
          DecodeError::bad_value);  // a cursor of one element
    CHECK(with(9, [&](auto& w) { w.array(1); w.array(7); w.uint(1); w.bin(topic); w.array(0); w.uint(1ull << 63); w.uint(1); w.array(0); w.uint(5); }) ==
          DecodeError::out_of_range);  // a timestamp beyond int64
    CHECK(with(10, [&](auto& w) { w.array(1); w.array(2); w.uint(1); w.array(0); }) == DecodeError::bad_value);
    // Field 12 flooded: [seqno, [prefix...]] pairs of unsigned integers.
    CHECK(with(12, [&](auto& w) { w.array(1); w.array(1); w.uint(1); }) == DecodeError::bad_value);
    CHECK(with(12, [&](auto& w) { w.array(1); w.array(2); w.bin(topic); w.array(0); }) == DecodeError::wrong_type);
    CHECK(with(12, [&](auto& w) { w.array(1); w.array(2); w.uint(1); w.array(1); w.bin(topic); }) == DecodeError::wrong_type);
    // Field 13 choke: [topic, bool] pairs.
    CHECK(with(13, [&](auto& w) { w.array(1); w.array(2); w.bin(topic); w.boolean(false); }) == DecodeError::none);
    CHECK(with(13, [&](auto& w) { w.array(1); w.array(2); w.bin(topic); w.uint(1); }) == DecodeError::wrong_type);
    CHECK(with(13, [&](auto& w) { w.array(1); w.array(2); w.bin(short_topic); w.boolean(true); }) == DecodeError::bad_value);
    CHECK(with(13, [&](auto& w) { w.array(1); w.array(1); w.bin(topic); }) == DecodeError::bad_value);

    // Not an array at all; a msgpack map (not on our wire).
    CHECK(error_of(Bytes{std::byte{0x01}}) == DecodeError::wrong_type);
    CHECK(error_of(Bytes{std::byte{0x80}}) == DecodeError::wrong_type);
    CHECK(error_of(Bytes{}) == DecodeError::truncated);
    // A count that claims 4 billion messages is refused before anything is reserved.
    Bytes lie = raw_frame([](core::Writer& w, int f) { w.array(f == 2 ? UINT32_MAX : 0); });
    CHECK(error_of(lie) == DecodeError::too_many);
    RpcLimits unbounded;
    unbounded.messages_max = SIZE_MAX;
    CHECK(error_of(lie, unbounded) == DecodeError::truncated);
}

TEST_CASE("pubsub rpc: every truncation is an error and trailing bytes are refused", "[unit]") {
    auto bytes = encoded(full_rpc(40));
    REQUIRE(bytes.size() > 500);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        auto error = error_of(Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)));
        if (error != DecodeError::truncated) FAIL_CHECK("prefix of " << n << " bytes: " << core::to_string(error));
    }
    auto longer = bytes;
    longer.push_back(std::byte{0});
    CHECK(error_of(longer) == DecodeError::trailing_bytes);
    auto two = bytes;
    two.insert(two.end(), bytes.begin(), bytes.end());
    CHECK(error_of(two) == DecodeError::trailing_bytes);
}

TEST_CASE("pubsub rpc: decoded messages own their bytes", "[unit]") {
    auto bytes = encoded(full_rpc(16));
    auto back = pubsub::decode_rpc(bytes, {});
    REQUIRE(back);
    std::fill(bytes.begin(), bytes.end(), std::byte{0});
    CHECK(back.value() == full_rpc(16));
}

TEST_CASE("pubsub rpc: msgpack-c reads our encoding and writes the same bytes", "[unit]") {
    auto rpc = full_rpc(300);
    auto bytes = encoded(rpc);

    // Read with msgpack-c and check the documented layout.
    auto handle = msgpack::unpack(reinterpret_cast<char const*>(bytes.data()), bytes.size());
    auto const& top = handle.get();
    REQUIRE(top.type == msgpack::type::ARRAY);
    REQUIRE(top.via.array.size == 14);
    auto field = [&](int i) { return top.via.array.ptr[i]; };
    CHECK(field(0).as<unsigned>() == 6);
    REQUIRE(field(13).via.array.size == 2);  // choke: [topic, bool] pairs
    CHECK(field(13).via.array.ptr[0].via.array.ptr[1].as<bool>() == true);
    REQUIRE(field(12).via.array.size == 2);  // flooded: two hints
    CHECK(field(12).via.array.ptr[0].via.array.ptr[0].as<std::uint64_t>() == 1'764'398'812'345'678);
    CHECK(field(12).via.array.ptr[0].via.array.ptr[1].via.array.size == 3);
    REQUIRE(field(11).via.array.size == 1);  // records: one, with two addresses
    REQUIRE(field(11).via.array.ptr[0].via.array.size == 5);
    CHECK(field(11).via.array.ptr[0].via.array.ptr[2].via.array.ptr[0].via.bin.size == 6);
    CHECK(field(11).via.array.ptr[0].via.array.ptr[2].via.array.ptr[1].via.bin.size == 18);
    auto sub = field(1).via.array.ptr[1];
    REQUIRE(sub.via.array.size == 2);
    CHECK(sub.via.array.ptr[0].type == msgpack::type::BIN);
    CHECK(sub.via.array.ptr[0].via.bin.size == 32);
    CHECK(sub.via.array.ptr[1].as<bool>() == false);
    REQUIRE(field(2).via.array.size == 3);
    CHECK(field(2).via.array.ptr[0].via.bin.size == 300);
    CHECK(field(3).via.array.ptr[1].via.bin.size == 32);  // graft: bare topics
    auto prune = field(4).via.array.ptr[0];
    REQUIRE(prune.via.array.size == 3);
    CHECK(prune.via.array.ptr[2].as<std::uint32_t>() == 60);
    auto addrs = prune.via.array.ptr[1].via.array.ptr[0].via.array.ptr[2];
    REQUIRE(addrs.via.array.size == 2);
    Bytes const v4{std::byte{127}, std::byte{0}, std::byte{0}, std::byte{1}, std::byte{0x0f}, std::byte{0xa0}};
    REQUIRE(addrs.via.array.ptr[0].via.bin.size == 6);
    CHECK(std::memcmp(addrs.via.array.ptr[0].via.bin.ptr, v4.data(), 6) == 0);
    CHECK(addrs.via.array.ptr[1].via.bin.size == 18);
    CHECK(field(5).via.array.ptr[0].via.array.ptr[1].via.array.size == 3);  // ihave ids
    CHECK(field(7).via.array.ptr[0].via.array.size == 4);                   // idontwant ids

    // Write the same Rpc with msgpack-c's packer: byte for byte our encoding.
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> p(buf);
    auto id = [&](core::NodeId const& x) { p.pack_bin(32); p.pack_bin_body(reinterpret_cast<char const*>(x.bytes.data()), 32); };
    auto bin = [&](Bytes const& b) { p.pack_bin(static_cast<std::uint32_t>(b.size())); p.pack_bin_body(reinterpret_cast<char const*>(b.data()), static_cast<std::uint32_t>(b.size())); };
    auto address = [&](core::Endpoint const& a) {
        Bytes e;
        for (std::size_t i = 0; i < (a.is_v4() ? 4u : 16u); ++i) e.push_back(static_cast<std::byte>(a.addr[i]));
        e.push_back(static_cast<std::byte>(a.port >> 8));
        e.push_back(static_cast<std::byte>(a.port & 0xff));
        bin(e);
    };
    auto id_list = [&](std::vector<core::NodeId> const& l) { p.pack_array(static_cast<std::uint32_t>(l.size())); for (auto const& x : l) id(x); };
    auto record = [&](pubsub::PeerRecord const& r) {
        p.pack_array(5);
        id(r.topic);
        p.pack_bin(32);
        p.pack_bin_body(reinterpret_cast<char const*>(r.public_key.bytes.data()), 32);
        p.pack_array(static_cast<std::uint32_t>(r.addrs.size()));
        for (auto const& a : r.addrs) address(a);
        p.pack_uint64(r.expires_ms);
        p.pack_bin(64);
        p.pack_bin_body(reinterpret_cast<char const*>(r.signature.bytes.data()), 64);
    };
    p.pack_array(14);
    p.pack_uint8(6);
    p.pack_array(2);
    for (auto const& s : rpc.subscriptions) { p.pack_array(2); id(s.topic); if (s.subscribe) p.pack_true(); else p.pack_false(); }
    p.pack_array(3);
    for (auto const& m : rpc.messages) bin(m);
    p.pack_array(2);
    for (auto const& g : rpc.graft) id(g.topic);
    p.pack_array(3);
    for (auto const& pr : rpc.prune) {
        p.pack_array(3);
        id(pr.topic);
        p.pack_array(static_cast<std::uint32_t>(pr.px.size()));
        for (auto const& r : pr.px) record(r);
        p.pack_uint32(pr.backoff_s);  // msgpack-c packs integers in their smallest form
    }
    p.pack_array(2);
    for (auto const& h : rpc.ihave) { p.pack_array(2); id(h.topic); id_list(h.ids); }
    p.pack_array(2);
    for (auto const& x : rpc.iwant) id_list(x.ids);
    p.pack_array(1);
    for (auto const& x : rpc.idontwant) id_list(x.ids);
    auto cursor = [&](std::optional<pubsub::StoreCursor> const& c) {
        if (!c) { p.pack_array(0); return; }
        p.pack_array(2);
        p.pack_uint64(static_cast<std::uint64_t>(c->ts_ms));
        id(c->id);
    };
    p.pack_array(2);
    for (auto const& x : rpc.sync) {
        p.pack_array(6);
        p.pack_uint32(x.session);
        p.pack_uint8(static_cast<std::uint8_t>(x.kind));
        id(x.topic);
        p.pack_uint64(static_cast<std::uint64_t>(x.from_ms));
        p.pack_uint64(static_cast<std::uint64_t>(x.to_ms));
        bin(x.body);
    }
    p.pack_array(2);
    for (auto const& x : rpc.fetch) {
        p.pack_array(7);
        p.pack_uint32(x.request);
        id(x.topic);
        id_list(x.ids);
        p.pack_uint64(static_cast<std::uint64_t>(x.from_ms));
        p.pack_uint64(static_cast<std::uint64_t>(x.to_ms));
        cursor(x.after);
        p.pack_uint32(x.limit);
    }
    p.pack_array(2);
    for (auto const& x : rpc.fetched) {
        p.pack_array(3);
        p.pack_uint32(x.request);
        p.pack_array(static_cast<std::uint32_t>(x.messages.size()));
        for (auto const& m : x.messages) bin(m);
        cursor(x.next);
    }
    p.pack_array(static_cast<std::uint32_t>(rpc.records.size()));
    for (auto const& r : rpc.records) record(r);
    p.pack_array(static_cast<std::uint32_t>(rpc.flooded.size()));
    for (auto const& h : rpc.flooded) {
        p.pack_array(2);
        p.pack_uint64(h.seqno);
        p.pack_array(static_cast<std::uint32_t>(h.peers.size()));
        for (auto const x : h.peers) p.pack_uint64(x);
    }
    p.pack_array(static_cast<std::uint32_t>(rpc.choke.size()));
    for (auto const& c : rpc.choke) {
        p.pack_array(2);
        id(c.topic);
        p.pack(c.choke);
    }

    Bytes theirs(reinterpret_cast<std::byte const*>(buf.data()), reinterpret_cast<std::byte const*>(buf.data()) + buf.size());
    CHECK(theirs == bytes);
    auto back = pubsub::decode_rpc(theirs, {});
    REQUIRE(back);
    CHECK(back.value() == rpc);
}

TEST_CASE("pubsub rpc: random junk and mutations never crash", "[unit]") {
    core::Rng rng(8);
    auto valid = encoded(full_rpc(20));
    for (int i = 0; i < 3000; ++i) {
        // Junk that starts like a frame, and single-byte mutations of a valid one.
        Bytes junk(1 + rng.uniform(96));
        rng.fill(junk);
        junk[0] = std::byte{0x98};
        (void)pubsub::decode_rpc(junk, {});
        auto mutated = valid;
        mutated[rng.uniform(mutated.size())] = static_cast<std::byte>(rng.next());
        auto r = pubsub::decode_rpc(mutated, {});
        // Whatever decodes re-encodes canonically to a frame that decodes to the same Rpc.
        if (r) {
            auto again = pubsub::decode_rpc(encoded(r.value()), {});
            REQUIRE(again);
            CHECK(again.value() == r.value());
        }
    }
}
