// DHT wire codec: every message type round-trips; malformed, truncated and oversized
// inputs are decode errors; ids are derived from keys, never taken from the wire.
#include "dht/wire.hpp"

#include "core/rng.hpp"

#include <catch2/catch.hpp>

using namespace dht;
using namespace dht::wire;

namespace {
Contact contact(std::uint8_t seed, core::Endpoint address) {
    core::PublicKey pk;
    pk.bytes.fill(std::byte{seed});
    return Contact::make(pk, address);
}

Message roundtrip(Message const& m) {
    auto bytes = encode(m);
    core::DecodeError err{};
    auto back = decode(bytes, err);
    REQUIRE(back);
    return *back;
}
}  // namespace

TEST_CASE("dht wire: every message type round-trips", "[unit]") {
    Message ping;
    ping.type = MsgType::ping;
    ping.txid = 77;
    CHECK(roundtrip(ping).txid == 77);

    Message pong;
    pong.type = MsgType::pong;
    pong.observed = core::Endpoint::parse("[2001:db8::1]:9");
    CHECK(roundtrip(pong).observed == pong.observed);

    Message nodes;
    nodes.type = MsgType::nodes;
    for (std::uint8_t i = 0; i < 20; ++i) nodes.nodes.push_back(contact(i, core::Endpoint::v4(1, 2, 3, i, 4000)));
    auto n2 = roundtrip(nodes);
    REQUIRE(n2.nodes.size() == 20);
    CHECK(n2.nodes[5] == nodes.nodes[5]);
    CHECK(n2.nodes[5].id == core::node_id_of(n2.nodes[5].public_key));
    // A full NODES reply fits one packet (no fragmentation on the common path).
    CHECK(encode(nodes).size() <= fragment_chunk_max);

    Message values;
    values.type = MsgType::values;
    values.values = {core::to_bytes("a"), core::Bytes(1000, std::byte{9})};
    values.nodes = {contact(1, core::Endpoint::v4(1, 1, 1, 1, 1))};
    auto v2 = roundtrip(values);
    CHECK(v2.values == values.values);
    CHECK(v2.nodes.size() == 1);

    Message store;
    store.type = MsgType::store;
    store.target.bytes[0] = std::byte{0xaa};
    store.value = std::make_shared<core::Bytes const>(core::Bytes(64 * 1024, std::byte{1}));
    store.ttl_s = 3600;
    auto s2 = roundtrip(store);
    CHECK(s2.target == store.target);
    CHECK(*s2.value == *store.value);
    CHECK(s2.ttl_s == 3600);
    CHECK(encode(store).size() <= message_size_max);

    Message stored;
    stored.type = MsgType::stored;
    stored.accepted = true;
    CHECK(roundtrip(stored).accepted);
    CHECK_FALSE(roundtrip(stored).want_nodes);
}

TEST_CASE("dht wire: a put's search STORE asks for nodes, and its STORED carries them", "[unit]") {
    Message store;
    store.type = MsgType::store;
    store.value = std::make_shared<core::Bytes const>(core::to_bytes("v"));
    store.ttl_s = 60;
    auto const plain = encode(store);
    store.want_nodes = true;
    auto const asking = encode(store);
    CHECK(asking.size() == plain.size() + 1);  // one more field: msgpack true
    auto s2 = roundtrip(store);
    CHECK(s2.want_nodes);
    CHECK(*s2.value == *store.value);

    Message stored;
    stored.type = MsgType::stored;
    stored.accepted = true;
    stored.want_nodes = true;
    for (std::uint8_t i = 0; i < 20; ++i) stored.nodes.push_back(contact(i, core::Endpoint::v4(1, 2, 3, i, 4000)));
    auto d2 = roundtrip(stored);
    CHECK(d2.accepted);
    CHECK(d2.want_nodes);
    REQUIRE(d2.nodes.size() == 20);
    CHECK(d2.nodes[7] == stored.nodes[7]);
    CHECK(encode(stored).size() <= fragment_chunk_max);  // one packet, like a NODES reply

    // Present means asked: a STORE whose optional field is false does not decode. (The
    // last byte of `asking` is msgpack true, 0xc3; false is 0xc2.)
    auto bad = asking;
    REQUIRE(bad.back() == std::byte{0xc3});
    bad.back() = std::byte{0xc2};
    core::DecodeError err{};
    CHECK_FALSE(decode(bad, err));
    CHECK(err == core::DecodeError::bad_value);
    // Nor does a message of another type with one field too many.
    Message ping;
    ping.type = MsgType::ping;
    auto extra = encode(ping);
    REQUIRE(extra[0] == std::byte{0x92});  // fixarray of 2
    extra[0] = std::byte{0x93};
    extra.push_back(std::byte{0xc3});
    CHECK_FALSE(decode(extra, err));
}

TEST_CASE("dht wire: truncations and garbage never decode", "[unit]") {
    Message m;
    m.type = MsgType::nodes;
    for (std::uint8_t i = 0; i < 8; ++i) m.nodes.push_back(contact(i, core::Endpoint::v4(9, 9, 9, i, 1)));
    auto bytes = encode(m);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        core::DecodeError err{};
        CHECK_FALSE(decode(core::ByteView(bytes).first(n), err));
        CHECK(err != core::DecodeError::none);
    }
    core::Rng rng(3);
    for (int i = 0; i < 5000; ++i) {
        core::Bytes junk(rng.uniform(64));
        rng.fill(junk);
        core::DecodeError err{};
        (void)decode(junk, err);  // must not crash or read out of bounds (ASan checks)
    }
}

TEST_CASE("dht wire: limits — too many contacts, oversized values, bad address lengths", "[unit]") {
    core::Bytes out;
    core::Writer w(out);
    w.array(3);
    w.uint(4);
    w.uint(1);
    w.array(contacts_max + 1);
    core::DecodeError err{};
    CHECK_FALSE(decode(out, err));
    CHECK(err == core::DecodeError::too_many);

    out.clear();
    core::Writer w2(out);
    w2.array(5);
    w2.uint(7);
    w2.uint(1);
    w2.bin(core::Bytes(32));
    w2.bin(core::Bytes(value_size_max + 1));
    w2.uint(10);
    CHECK_FALSE(decode(out, err));
    CHECK(err == core::DecodeError::too_long);

    out.clear();
    core::Writer w3(out);
    w3.array(3);
    w3.uint(2);
    w3.uint(1);
    w3.bin(core::Bytes(7));  // an endpoint is 6 or 18 bytes
    CHECK_FALSE(decode(out, err));
    CHECK(err == core::DecodeError::bad_value);

    // Unknown message type and wrong field count.
    out.clear();
    core::Writer w4(out);
    w4.array(2);
    w4.uint(99);
    w4.uint(1);
    CHECK_FALSE(decode(out, err));
    out.clear();
    core::Writer w5(out);
    w5.array(3);
    w5.uint(1);  // ping has no fields
    w5.uint(1);
    w5.nil();
    CHECK_FALSE(decode(out, err));
}

TEST_CASE("dht wire: hello and fragment framing", "[unit]") {
    core::PublicKey pk;
    pk.bytes.fill(std::byte{5});
    auto hello = encode_hello(pk, 0xdeadbeef);
    CHECK(hello.size() == hello_size);
    auto view = parse_hello(hello);
    REQUIRE(view);
    CHECK(view->sender == pk);
    CHECK(view->txid == 0xdeadbeef);
    CHECK_FALSE(parse_hello(core::ByteView(hello).first(100)));

    auto frag = encode_fragment(9, 2, 3, core::as_bytes("chunk"));
    core::DecodeError err{};
    auto f = decode_fragment(frag, err);
    REQUIRE(f);
    CHECK(f->seq == 9);
    CHECK(f->index == 2);
    CHECK(f->count == 3);
    CHECK(core::as_chars(f->chunk) == "chunk");
    // index >= count, or count beyond the maximum, is rejected.
    core::Bytes bad;
    core::Writer w(bad);
    w.array(4);
    w.uint(1);
    w.uint(3);
    w.uint(3);
    w.bin(core::as_bytes("x"));
    CHECK_FALSE(decode_fragment(bad, err));
    bad.clear();
    core::Writer w2(bad);
    w2.array(4);
    w2.uint(1);
    w2.uint(0);
    w2.uint(fragment_count_max + 1);
    w2.bin(core::as_bytes("x"));
    CHECK_FALSE(decode_fragment(bad, err));
}
