// node/json and node/encoding: strictness, bounds, escaping, UTF-8 and base64.
#include "node/encoding.hpp"
#include "node/json.hpp"

#include <catch2/catch.hpp>

using namespace node;

TEST_CASE("json: parses objects, arrays, strings, numbers, literals", "[unit]") {
    auto r = json::parse(R"( {"a": "x", "n": 42, "f": -1.5e3, "t": true, "z": null, "l": [1, [], {}]} )");
    REQUIRE(r.ok());
    auto const& v = r.value();
    REQUIRE(v.is_object());
    CHECK(v.find("a")->as_string() == "x");
    CHECK(v.find("n")->as_uint() == 42u);
    CHECK(v.find("f")->as_double() == -1500.0);
    CHECK_FALSE(v.find("f")->as_uint());
    CHECK(v.find("t")->boolean);
    CHECK(v.find("z")->is_null());
    CHECK(v.find("l")->items.size() == 3);
    CHECK(v.find("missing") == nullptr);
}

TEST_CASE("json: integers convert exactly, out-of-range ones do not", "[unit]") {
    CHECK(json::parse("18446744073709551615").value().as_uint() == UINT64_MAX);
    CHECK_FALSE(json::parse("18446744073709551616").value().as_uint());
    CHECK_FALSE(json::parse("-1").value().as_uint());
    CHECK_FALSE(json::parse("1.0").value().as_uint());
}

TEST_CASE("json: escapes and UTF-8 in strings", "[unit]") {
    auto v = json::parse(R"("q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00 é")").value();
    CHECK(v.text == "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xf0\x9f\x98\x80 \xc3\xa9");
}

TEST_CASE("json: rejects what RFC 8259 does not allow", "[unit]") {
    for (std::string bad : {"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "{'a':1}", "01", "1.", ".5", "+1", "1e", "-",
                            "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                            "\"\\ud800\\u0041\"", "{\"a\":1 \"b\":2}", "[1 2]", "1 2", "{\"a\":1}x", "NaN", "Infinity",
                            "// c\n1", "{\"a\":1,\"a\":2}"}) {
        INFO(bad);
        CHECK_FALSE(json::parse(bad).ok());
    }
    CHECK_FALSE(json::parse(std::string("\"a\x01\"")).ok());   // raw control character
    CHECK_FALSE(json::parse(std::string("\"\xff\"")).ok());    // invalid UTF-8
    CHECK_FALSE(json::parse(std::string("\"\xc0\xaf\"")).ok()); // overlong
    CHECK_FALSE(json::parse(std::string("\"\xed\xa0\x80\"")).ok()); // encoded surrogate
}

TEST_CASE("json: limits on input, depth, values and strings", "[unit]") {
    json::Limits small;
    small.input_max = 10;
    CHECK_FALSE(json::parse("[1,2,3,4,5,6]", small).ok());
    CHECK(json::parse("[1,2,3,4]", small).ok());

    json::Limits shallow;
    shallow.depth_max = 3;
    CHECK(json::parse("[[[1]]]", shallow).ok());
    auto deep = json::parse("[[[[1]]]]", shallow);
    REQUIRE_FALSE(deep.ok());
    CHECK(deep.error().find("too deep") != std::string::npos);
    // The default depth bound keeps a hostile nesting from exhausting the stack.
    CHECK_FALSE(json::parse(std::string(100000, '[')).ok());

    json::Limits few;
    few.values_max = 3;
    CHECK(json::parse("[1,2]", few).ok());
    CHECK_FALSE(json::parse("[1,2,3]", few).ok());

    json::Limits short_strings;
    short_strings.string_max = 4;
    CHECK(json::parse("\"abcd\"", short_strings).ok());
    CHECK_FALSE(json::parse("\"abcdef\"", short_strings).ok());
}

TEST_CASE("json: errors say where", "[unit]") {
    auto r = json::parse("{\"a\" 1}");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == "at byte 5: expected ':'");
}

TEST_CASE("json writer: nesting, commas, numbers", "[unit]") {
    json::Writer w;
    w.begin_object()
        .key("a").string("x")
        .key("n").number(std::uint64_t{18446744073709551615u})
        .key("i").number(std::int64_t{-3})
        .key("d").number(0.25)
        .key("nan").number(std::numeric_limits<double>::quiet_NaN())
        .key("b").boolean(false)
        .key("z").null()
        .key("l").begin_array().number(1).begin_object().end_object().begin_array().end_array().end_array()
        .end_object();
    CHECK(w.str() == R"({"a":"x","n":18446744073709551615,"i":-3,"d":0.25,"nan":null,"b":false,"z":null,"l":[1,{},[]]})");
    CHECK(json::parse(w.str()).ok());
}

TEST_CASE("json writer: escaping round-trips, invalid UTF-8 becomes U+FFFD", "[unit]") {
    std::string tricky = "quote\" backslash\\ nl\n tab\t ctl\x01 del\x7f é 😀";
    std::string out;
    json::write_string(out, tricky);
    CHECK(out == "\"quote\\\" backslash\\\\ nl\\n tab\\t ctl\\u0001 del\\u007f é 😀\"");
    CHECK(json::parse(out).value().text == tricky);

    out.clear();
    json::write_string(out, std::string("a\xff" "b\xc3"));
    CHECK(out == "\"a\\ufffdb\\ufffd\"");
    CHECK(json::parse(out).ok());
}

TEST_CASE("utf8: validation", "[unit]") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("plain"));
    CHECK(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"));
    for (std::string bad : {"\x80", "\xc3", "\xc0\x80", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                            "\xfe", "a\xe2\x82"})
        CHECK_FALSE(is_valid_utf8(bad));
}

TEST_CASE("base64: RFC 4648 vectors, strict decoding", "[unit]") {
    std::pair<std::string, std::string> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                     {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                     {"foobar", "Zm9vYmFy"}};
    for (auto const& [plain, encoded] : vectors) {
        CHECK(base64_encode(core::as_bytes(plain)) == encoded);
        auto d = base64_decode(encoded);
        REQUIRE(d);
        CHECK(std::string(core::as_chars(*d)) == plain);
    }
    core::Bytes all(256);
    for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::byte>(i);
    CHECK(base64_decode(base64_encode(all)) == all);
    for (auto bad : {"Zg", "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm 9v", "=Zm9"})
        CHECK_FALSE(base64_decode(bad));
}
