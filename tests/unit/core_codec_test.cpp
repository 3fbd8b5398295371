// The strict msgpack codec: canonical encodings that msgpack-c reads, and a reader that
// rejects every truncation, oversize and type confusion with a typed error.
#include "core/codec.hpp"

#include <catch2/catch.hpp>
#include <msgpack.hpp>

using core::Bytes;
using core::DecodeError;
using core::Reader;
using core::Writer;

TEST_CASE("codec: values round-trip and msgpack-c reads our encoding", "[unit]") {
    Bytes out;
    Writer w(out);
    w.array(6);
    w.uint(0);
    w.uint(300);
    w.uint(1ull << 40);
    w.bin(core::as_bytes("abc"));
    w.str("hello");
    w.boolean(true);

    auto handle = msgpack::unpack(reinterpret_cast<char const*>(out.data()), out.size());
    auto obj = handle.get();
    REQUIRE(obj.type == msgpack::type::ARRAY);
    REQUIRE(obj.via.array.size == 6);
    CHECK(obj.via.array.ptr[1].as<std::uint64_t>() == 300);
    CHECK(obj.via.array.ptr[2].as<std::uint64_t>() == (1ull << 40));
    CHECK(obj.via.array.ptr[4].as<std::string>() == "hello");

    Reader r(out);
    CHECK(r.array(6) == 6u);
    CHECK(r.uint() == 0u);
    CHECK(r.uint() == 300u);
    CHECK(r.uint() == (1ull << 40));
    auto b = r.bin(3);
    REQUIRE(b);
    CHECK(core::as_chars(*b) == "abc");
    CHECK(r.str(5) == std::optional<std::string_view>("hello"));
    CHECK(r.boolean() == true);
    r.finish();
    CHECK(r.ok());
}

TEST_CASE("codec: every truncation of a valid message is an error, never a read past the end", "[unit]") {
    Bytes out;
    Writer w(out);
    w.array(3);
    w.uint(70000);
    w.bin(Bytes(300, std::byte{7}));
    w.str("x");
    for (std::size_t n = 0; n < out.size(); ++n) {
        Reader r(core::ByteView(out).first(n));
        r.array(3);
        r.uint();
        r.bin(1000);
        r.str(10);
        r.finish();
        CHECK(r.error() == DecodeError::truncated);
    }
}

TEST_CASE("codec: limits and types are enforced", "[unit]") {
    Bytes out;
    Writer w(out);
    w.bin(Bytes(100, std::byte{1}));
    {
        Reader r(out);
        CHECK_FALSE(r.bin(99));
        CHECK(r.error() == DecodeError::too_long);
    }
    {
        Reader r(out);
        CHECK_FALSE(r.uint());
        CHECK(r.error() == DecodeError::wrong_type);
    }
    Bytes arr;
    Writer wa(arr);
    wa.array(20);
    for (int i = 0; i < 20; ++i) wa.nil();
    {
        Reader r(arr);
        CHECK_FALSE(r.array(19));
        CHECK(r.error() == DecodeError::too_many);
    }
    Bytes num;
    Writer wn(num);
    wn.uint(1000);
    {
        Reader r(num);
        CHECK_FALSE(r.uint(999));
        CHECK(r.error() == DecodeError::out_of_range);
    }
    {
        Reader r(num);
        r.uint();
        r.uint();  // past the end; the error is sticky
        CHECK(r.error() == DecodeError::truncated);
    }
}

TEST_CASE("codec: an array count larger than the bytes left is rejected before allocating", "[unit]") {
    // 0xdd: array32 claiming 4 billion elements in a 5-byte buffer.
    Bytes lie{std::byte{0xdd}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
    Reader r(lie);
    CHECK_FALSE(r.array(UINT32_MAX));
    CHECK(r.error() == DecodeError::truncated);
}

TEST_CASE("codec: trailing bytes are an error", "[unit]") {
    Bytes out;
    Writer w(out);
    w.uint(1);
    w.uint(2);
    Reader r(out);
    r.uint();
    r.finish();
    CHECK(r.error() == DecodeError::trailing_bytes);
}
