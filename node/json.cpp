#include "node/json.hpp"

#include "node/encoding.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace node::json {

Value const* Value::find(std::string_view key) const {
    if (type != Type::object) return nullptr;
    for (auto const& [k, v] : members)
        if (k == key) return &v;
    return nullptr;
}

std::optional<std::uint64_t> Value::as_uint() const {
    if (type != Type::number) return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::optional<double> Value::as_double() const {
    if (type != Type::number) return std::nullopt;
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::optional<std::string_view> Value::as_string() const {
    if (type != Type::string) return std::nullopt;
    return text;
}

namespace {

class Parser {
public:
    Parser(std::string_view in, Limits const& limits) : in_(in), limits_(limits) {}

    core::Result<Value, std::string> run() {
        if (in_.size() > limits_.input_max)
            return core::Err("input of " + std::to_string(in_.size()) + " bytes exceeds the limit of " +
                             std::to_string(limits_.input_max));
        Value v;
        skip_ws();
        if (!value(v, 0)) return core::Err(std::move(error_));
        skip_ws();
        if (pos_ != in_.size()) {
            fail("unexpected data after the JSON value");
            return core::Err(std::move(error_));
        }
        return v;
    }

private:
    bool fail(std::string_view what) {
        if (error_.empty()) error_ = "at byte " + std::to_string(pos_) + ": " + std::string(what);
        return false;
    }
    bool at_end() const { return pos_ >= in_.size(); }
    char peek() const { return in_[pos_]; }
    void skip_ws() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
    }
    bool expect(char c) {
        if (at_end() || peek() != c) return fail(std::string("expected '") + c + "'");
        ++pos_;
        return true;
    }
    bool count_value() {
        if (++values_ > limits_.values_max) return fail("too many values");
        return true;
    }

    bool value(Value& out, std::size_t depth) {
        if (at_end()) return fail("unexpected end of input");
        if (!count_value()) return false;
        char const c = peek();
        if (c == '{') return object(out, depth + 1);
        if (c == '[') return array(out, depth + 1);
        if (c == '"') {
            out.type = Value::Type::string;
            return string(out.text);
        }
        if (c == '-' || (c >= '0' && c <= '9')) return number(out);
        if (literal("true")) {
            out.type = Value::Type::boolean;
            out.boolean = true;
            return true;
        }
        if (literal("false")) {
            out.type = Value::Type::boolean;
            return true;
        }
        if (literal("null")) {
            out.type = Value::Type::null;
            return true;
        }
        return fail("unexpected character");
    }

    bool literal(std::string_view word) {
        if (in_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    bool object(Value& out, std::size_t depth) {
        if (depth > limits_.depth_max) return fail("nesting too deep");
        out.type = Value::Type::object;
        ++pos_;  // '{'
        skip_ws();
        if (!at_end() && peek() == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (at_end() || peek() != '"') return fail("expected a string key");
            std::string key;
            if (!string(key)) return false;
            if (out.find(key) != nullptr) return fail("duplicate key \"" + key + "\"");
            skip_ws();
            if (!expect(':')) return false;
            skip_ws();
            Value v;
            if (!value(v, depth)) return false;
            out.members.emplace_back(std::move(key), std::move(v));
            skip_ws();
            if (at_end()) return fail("unexpected end of input in an object");
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }

    bool array(Value& out, std::size_t depth) {
        if (depth > limits_.depth_max) return fail("nesting too deep");
        out.type = Value::Type::array;
        ++pos_;  // '['
        skip_ws();
        if (!at_end() && peek() == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            Value v;
            if (!value(v, depth)) return false;
            out.items.push_back(std::move(v));
            skip_ws();
            if (at_end()) return fail("unexpected end of input in an array");
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == ']') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }

    // RFC 8259, section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    bool number(Value& out) {
        std::size_t const start = pos_;
        auto digits = [&] {
            std::size_t n = 0;
            while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_, ++n;
            return n;
        };
        if (peek() == '-') ++pos_;
        if (at_end()) return fail("bad number");
        if (peek() == '0') {
            ++pos_;
            if (!at_end() && peek() >= '0' && peek() <= '9') return fail("leading zero in a number");
        } else if (digits() == 0) {
            return fail("bad number");
        }
        if (!at_end() && peek() == '.') {
            ++pos_;
            if (digits() == 0) return fail("bad number: digits expected after '.'");
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            ++pos_;
            if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
            if (digits() == 0) return fail("bad number: digits expected in the exponent");
        }
        if (pos_ - start > 64) return fail("number literal too long");
        out.type = Value::Type::number;
        out.text.assign(in_.substr(start, pos_ - start));
        return true;
    }

    bool hex4(std::uint32_t& v) {
        if (in_.size() - pos_ < 4) return fail("truncated \\u escape");
        v = 0;
        for (int i = 0; i < 4; ++i) {
            char const c = in_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else return fail("bad hex digit in a \\u escape");
        }
        return true;
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | cp >> 6);
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | cp >> 12);
            out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | cp >> 18);
            out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
            out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool string(std::string& out) {
        ++pos_;  // '"'
        for (;;) {
            if (at_end()) return fail("unterminated string");
            if (out.size() > limits_.string_max) return fail("string too long");
            char const c = peek();
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
            if (c == '\\') {
                ++pos_;
                if (at_end()) return fail("unterminated escape");
                char const e = in_[pos_++];
                switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        std::uint32_t low = 0;
                        if (in_.substr(pos_, 2) != "\\u") return fail("lone high surrogate");
                        pos_ += 2;
                        if (!hex4(low)) return false;
                        if (low < 0xDC00 || low > 0xDFFF) return fail("bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: --pos_; return fail("unknown escape");
                }
                continue;
            }
            auto const n = utf8_sequence_length(in_.substr(pos_));
            if (n == 0) return fail("invalid UTF-8");
            out.append(in_.substr(pos_, n));
            pos_ += n;
        }
    }

    std::string_view in_;
    Limits const& limits_;
    std::size_t pos_ = 0;
    std::size_t values_ = 0;
    std::string error_;
};

}  // namespace

core::Result<Value, std::string> parse(std::string_view text, Limits const& limits) {
    return Parser(text, limits).run();
}

void write_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    while (!s.empty()) {
        auto const c = static_cast<unsigned char>(s[0]);
        if (c < 0x80) {
            switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
            }
            s.remove_prefix(1);
            continue;
        }
        auto const n = utf8_sequence_length(s);
        if (n == 0) {
            out += "\\ufffd";  // one replacement character per invalid byte
            s.remove_prefix(1);
        } else {
            out.append(s.substr(0, n));
            s.remove_prefix(n);
        }
    }
    out += '"';
}

void Writer::before_value() {
    if (first_.empty()) {
        CORE_ASSERT(out_.empty());  // one top-level value only
        return;
    }
    if (is_object_.back()) {
        CORE_ASSERT(after_key_);
        after_key_ = false;
        return;
    }
    if (!first_.back()) out_ += ',';
    first_.back() = false;
}

Writer& Writer::begin_object() {
    before_value();
    out_ += '{';
    first_.push_back(true);
    is_object_.push_back(true);
    return *this;
}

Writer& Writer::end_object() {
    CORE_ASSERT(!first_.empty() && is_object_.back() && !after_key_);
    out_ += '}';
    first_.pop_back();
    is_object_.pop_back();
    return *this;
}

Writer& Writer::begin_array() {
    before_value();
    out_ += '[';
    first_.push_back(true);
    is_object_.push_back(false);
    return *this;
}

Writer& Writer::end_array() {
    CORE_ASSERT(!first_.empty() && !is_object_.back());
    out_ += ']';
    first_.pop_back();
    is_object_.pop_back();
    return *this;
}

Writer& Writer::key(std::string_view k) {
    CORE_ASSERT(!first_.empty() && is_object_.back() && !after_key_);
    if (!first_.back()) out_ += ',';
    first_.back() = false;
    write_string(out_, k);
    out_ += ':';
    after_key_ = true;
    return *this;
}

Writer& Writer::string(std::string_view s) {
    before_value();
    write_string(out_, s);
    return *this;
}

Writer& Writer::number(std::uint64_t v) {
    before_value();
    out_ += std::to_string(v);
    return *this;
}

Writer& Writer::number(std::int64_t v) {
    before_value();
    out_ += std::to_string(v);
    return *this;
}

Writer& Writer::number(double v) {
    before_value();
    if (!std::isfinite(v)) {
        out_ += "null";
        return *this;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    CORE_ASSERT(ec == std::errc{});
    out_.append(buf, end);
    return *this;
}

Writer& Writer::boolean(bool v) {
    before_value();
    out_ += v ? "true" : "false";
    return *this;
}

Writer& Writer::null() {
    before_value();
    out_ += "null";
    return *this;
}

}  // namespace node::json
