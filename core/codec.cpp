#include "core/codec.hpp"

namespace core {

char const* to_string(DecodeError e) {
    switch (e) {
        case DecodeError::none: return "none";
        case DecodeError::truncated: return "truncated";
        case DecodeError::wrong_type: return "wrong_type";
        case DecodeError::too_long: return "too_long";
        case DecodeError::too_many: return "too_many";
        case DecodeError::out_of_range: return "out_of_range";
        case DecodeError::trailing_bytes: return "trailing_bytes";
        case DecodeError::bad_value: return "bad_value";
    }
    return "unknown";
}

void Writer::put_be(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) put(static_cast<std::uint8_t>(v >> (8 * i)));
}

void Writer::nil() { put(0xc0); }
void Writer::boolean(bool v) { put(v ? 0xc3 : 0xc2); }

void Writer::uint(std::uint64_t v) {
    if (v < 0x80) put(static_cast<std::uint8_t>(v));
    else if (v <= 0xff) { put(0xcc); put_be(v, 1); }
    else if (v <= 0xffff) { put(0xcd); put_be(v, 2); }
    else if (v <= 0xffffffffULL) { put(0xce); put_be(v, 4); }
    else { put(0xcf); put_be(v, 8); }
}

void Writer::bin(ByteView v) {
    auto n = v.size();
    if (n <= 0xff) { put(0xc4); put_be(n, 1); }
    else if (n <= 0xffff) { put(0xc5); put_be(n, 2); }
    else { put(0xc6); put_be(n, 4); }
    out_.insert(out_.end(), v.begin(), v.end());
}

void Writer::str(std::string_view v) {
    auto n = v.size();
    if (n < 32) put(static_cast<std::uint8_t>(0xa0 | n));
    else if (n <= 0xff) { put(0xd9); put_be(n, 1); }
    else if (n <= 0xffff) { put(0xda); put_be(n, 2); }
    else { put(0xdb); put_be(n, 4); }
    auto b = as_bytes(v);
    out_.insert(out_.end(), b.begin(), b.end());
}

void Writer::array(std::uint32_t count) {
    if (count < 16) put(static_cast<std::uint8_t>(0x90 | count));
    else if (count <= 0xffff) { put(0xdc); put_be(count, 2); }
    else { put(0xdd); put_be(count, 4); }
}

std::optional<std::uint8_t> Reader::byte() {
    if (!ok()) return std::nullopt;
    if (pos_ >= in_.size()) { fail(DecodeError::truncated); return std::nullopt; }
    return std::to_integer<std::uint8_t>(in_[pos_++]);
}

std::optional<std::uint64_t> Reader::be(int bytes) {
    if (!ok()) return std::nullopt;
    if (remaining() < static_cast<std::size_t>(bytes)) { fail(DecodeError::truncated); return std::nullopt; }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | std::to_integer<std::uint8_t>(in_[pos_++]);
    return v;
}

std::optional<ByteView> Reader::take(std::size_t n) {
    if (!ok()) return std::nullopt;
    if (remaining() < n) { fail(DecodeError::truncated); return std::nullopt; }
    auto v = in_.subspan(pos_, n);
    pos_ += n;
    return v;
}

std::optional<std::uint64_t> Reader::uint(std::uint64_t max) {
    auto tag = byte();
    if (!tag) return std::nullopt;
    std::optional<std::uint64_t> v;
    if (*tag < 0x80) v = *tag;
    else if (*tag == 0xcc) v = be(1);
    else if (*tag == 0xcd) v = be(2);
    else if (*tag == 0xce) v = be(4);
    else if (*tag == 0xcf) v = be(8);
    else { fail(DecodeError::wrong_type); return std::nullopt; }
    if (!v) return std::nullopt;
    if (*v > max) { fail(DecodeError::out_of_range); return std::nullopt; }
    return v;
}

std::optional<bool> Reader::boolean() {
    auto tag = byte();
    if (!tag) return std::nullopt;
    if (*tag == 0xc2) return false;
    if (*tag == 0xc3) return true;
    fail(DecodeError::wrong_type);
    return std::nullopt;
}

bool Reader::peek_nil() const {
    return ok() && pos_ < in_.size() && std::to_integer<std::uint8_t>(in_[pos_]) == 0xc0;
}

bool Reader::nil() {
    auto tag = byte();
    if (!tag) return false;
    if (*tag == 0xc0) return true;
    fail(DecodeError::wrong_type);
    return false;
}

std::optional<ByteView> Reader::bin(std::size_t max_len) {
    auto tag = byte();
    if (!tag) return std::nullopt;
    std::optional<std::uint64_t> n;
    if (*tag == 0xc4) n = be(1);
    else if (*tag == 0xc5) n = be(2);
    else if (*tag == 0xc6) n = be(4);
    else { fail(DecodeError::wrong_type); return std::nullopt; }
    if (!n) return std::nullopt;
    if (*n > max_len) { fail(DecodeError::too_long); return std::nullopt; }
    return take(static_cast<std::size_t>(*n));
}

std::optional<ByteView> Reader::bin_exact(std::size_t len) {
    auto v = bin(len);
    if (v && v->size() != len) { fail(DecodeError::bad_value); return std::nullopt; }
    return v;
}

std::optional<std::string_view> Reader::str(std::size_t max_len) {
    auto tag = byte();
    if (!tag) return std::nullopt;
    std::optional<std::uint64_t> n;
    if ((*tag & 0xe0) == 0xa0) n = *tag & 0x1f;
    else if (*tag == 0xd9) n = be(1);
    else if (*tag == 0xda) n = be(2);
    else if (*tag == 0xdb) n = be(4);
    else { fail(DecodeError::wrong_type); return std::nullopt; }
    if (!n) return std::nullopt;
    if (*n > max_len) { fail(DecodeError::too_long); return std::nullopt; }
    auto v = take(static_cast<std::size_t>(*n));
    if (!v) return std::nullopt;
    return as_chars(*v);
}

std::optional<std::uint32_t> Reader::array(std::uint32_t max_count) {
    auto tag = byte();
    if (!tag) return std::nullopt;
    std::optional<std::uint64_t> n;
    if ((*tag & 0xf0) == 0x90) n = *tag & 0x0f;
    else if (*tag == 0xdc) n = be(2);
    else if (*tag == 0xdd) n = be(4);
    else { fail(DecodeError::wrong_type); return std::nullopt; }
    if (!n) return std::nullopt;
    if (*n > max_count) { fail(DecodeError::too_many); return std::nullopt; }
    // Every element takes at least one byte: a count beyond the bytes left is a lie.
    if (*n > remaining()) { fail(DecodeError::truncated); return std::nullopt; }
    return static_cast<std::uint32_t>(*n);
}

void Reader::finish() {
    if (ok() && remaining() != 0) fail(DecodeError::trailing_bytes);
}

}  // namespace core
