// A strict, bounded subset of MessagePack for the wire: unsigned integers, booleans, nil,
// bin, str and arrays. Writer appends to a byte vector; Reader is a checked view that
// never reads out of bounds, never recurses, bounds every length and count by a limit the
// caller gives, and keeps the first error (sticky) so a decoder reads a whole message and
// checks once. Maps, floats, ext and negative integers are not accepted on our wire.
// Encodings are canonical msgpack (smallest form), so any msgpack library reads them.
#pragma once

#include "core/bytes.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace core {

enum class DecodeError : std::uint8_t {
    none = 0,
    truncated,      // a length or header runs past the end
    wrong_type,     // a different msgpack type than the schema expects
    too_long,       // a bin/str longer than the caller's limit
    too_many,       // an array with more elements than the caller's limit
    out_of_range,   // an integer larger than the caller's limit
    trailing_bytes, // bytes left after the message
    bad_value,      // decoded fine but the value is not allowed (checked by the caller)
};

char const* to_string(DecodeError e);

class Writer {
public:
    explicit Writer(Bytes& out) : out_(out) {}
    void nil();
    void boolean(bool v);
    void uint(std::uint64_t v);
    void bin(ByteView v);
    void str(std::string_view v);
    void array(std::uint32_t count);

private:
    void put(std::uint8_t b) { out_.push_back(static_cast<std::byte>(b)); }
    void put_be(std::uint64_t v, int bytes);
    Bytes& out_;
};

class Reader {
public:
    explicit Reader(ByteView in) : in_(in) {}

    // Each returns nullopt (or false) on error and records the first error.
    std::optional<std::uint64_t> uint(std::uint64_t max = UINT64_MAX);
    std::optional<bool> boolean();
    bool nil();
    std::optional<ByteView> bin(std::size_t max_len);
    std::optional<ByteView> bin_exact(std::size_t len);
    std::optional<std::string_view> str(std::size_t max_len);
    std::optional<std::uint32_t> array(std::uint32_t max_count);
    bool peek_nil() const;

    // Marks the message as done: an error unless every byte was consumed.
    void finish();
    void fail(DecodeError e) {
        if (error_ == DecodeError::none) error_ = e;
    }

    bool ok() const { return error_ == DecodeError::none; }
    DecodeError error() const { return error_; }
    std::size_t remaining() const { return in_.size() - pos_; }

private:
    std::optional<std::uint8_t> byte();
    std::optional<std::uint64_t> be(int bytes);
    std::optional<ByteView> take(std::size_t n);

    ByteView in_;
    std::size_t pos_ = 0;
    DecodeError error_ = DecodeError::none;
};

}  // namespace core
