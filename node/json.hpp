// A small, strict JSON reader and writer for the HTTP API and the CLI (Boost 1.74 has no
// Boost.JSON). It is not a general JSON library: the reader is bounded by the caller's
// Limits (input size, nesting depth, value count, string length), accepts exactly RFC 8259
// (no comments, no trailing commas, no duplicate object keys, UTF-8 only, no lone
// surrogates), and keeps numbers as their literal text so integers convert exactly.
// The writer always produces valid JSON: strings are escaped and invalid UTF-8 becomes
// U+FFFD.
#pragma once

#include "core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace node::json {

struct Value {
    enum class Type : std::uint8_t { null, boolean, number, string, array, object };
    Type type = Type::null;
    bool boolean = false;
    std::string text;  // a string's contents (unescaped UTF-8), or a number's literal
    std::vector<Value> items;                            // array
    std::vector<std::pair<std::string, Value>> members;  // object, in input order

    bool is_null() const { return type == Type::null; }
    bool is_string() const { return type == Type::string; }
    bool is_number() const { return type == Type::number; }
    bool is_array() const { return type == Type::array; }
    bool is_object() const { return type == Type::object; }

    // The member named `key` of an object; nullptr when absent or not an object.
    Value const* find(std::string_view key) const;
    // A number without fraction or exponent that fits in uint64_t; else nullopt.
    std::optional<std::uint64_t> as_uint() const;
    // Any number, as a double; else nullopt.
    std::optional<double> as_double() const;
    // A string's contents; else nullopt.
    std::optional<std::string_view> as_string() const;
};

// Bounds for one parse. Every limit turns into an error message, never a crash or an
// unbounded allocation. The parser recurses once per nesting level, so depth_max also
// bounds its stack use.
struct Limits {
    std::size_t input_max = 1024 * 1024;
    std::size_t depth_max = 16;
    std::size_t values_max = 100'000;     // strings, numbers, literals, arrays and objects
    std::size_t string_max = 256 * 1024;  // bytes after unescaping
};

// Parses one JSON text (surrounding whitespace allowed). The error says what and where
// ("at byte 17: expected ':'").
core::Result<Value, std::string> parse(std::string_view text, Limits const& limits = {});

// Appends `s` to `out` as a quoted JSON string.
void write_string(std::string& out, std::string_view s);

// Builds one JSON text. Calls must nest properly (asserted); commas and colons are placed
// automatically.
class Writer {
public:
    Writer& begin_object();
    Writer& end_object();
    Writer& begin_array();
    Writer& end_array();
    // Inside an object, before each value.
    Writer& key(std::string_view k);
    Writer& string(std::string_view s);
    Writer& number(std::uint64_t v);
    Writer& number(std::int64_t v);
    Writer& number(int v) { return number(static_cast<std::int64_t>(v)); }
    Writer& number(unsigned v) { return number(static_cast<std::uint64_t>(v)); }
    // Shortest round-trip form; NaN and infinities become null (JSON has no such numbers).
    Writer& number(double v);
    Writer& boolean(bool v);
    Writer& null();

    // The text so far; complete once every object and array is closed.
    std::string const& str() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void before_value();
    std::string out_;
    std::vector<bool> first_;  // per open container: no element written yet
    std::vector<bool> is_object_;
    bool after_key_ = false;
};

}  // namespace node::json
