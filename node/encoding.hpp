// Text encodings the API and CLI need around the DHT's byte values: strict UTF-8
// validation (values that are valid UTF-8 travel as JSON strings) and standard base64 with
// padding (values that are not). Pure functions; nothing here allocates unless it returns
// a container.
#pragma once

#include "core/bytes.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace node {

// True when `text` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates,
// nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text);

// Length in bytes of the well-formed UTF-8 sequence starting at text[0], or 0 when it is
// not one (also 0 for empty input).
std::size_t utf8_sequence_length(std::string_view text);

// Standard alphabet (RFC 4648, section 4) with '=' padding.
std::string base64_encode(core::ByteView bytes);
// Strict: only the standard alphabet, length a multiple of 4, padding only at the end,
// and unused bits zero. nullopt on anything else.
std::optional<core::Bytes> base64_decode(std::string_view text);

}  // namespace node
