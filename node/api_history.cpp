// History API routes and helpers; see api_history.hpp.
#include "node/api_history.hpp"

#include "core/crypto.hpp"
#include "node/api_pubsub.hpp"
#include "node/json.hpp"
#include "node/node_config.hpp"
#include "pubsub/topic.hpp"
#include "store/message_db.hpp"

#include <charconv>
#include <ctime>

namespace node {

namespace {

ApiResponse error(unsigned status, std::string_view message) { return {status, error_body(message), nullptr}; }

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t v = 0;
    if (text.empty() || text.size() > 18) return std::nullopt;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size() || v < 0) return std::nullopt;
    return v;
}

bool all_digits(std::string_view t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RFC 3339: YYYY-MM-DDTHH:MM:SS[.fff…](Z|±hh:mm); 't' and ' ' also separate date and time.
std::optional<std::int64_t> parse_rfc3339(std::string_view t) {
    if (t.size() < 20) return std::nullopt;
    auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
        if (at + n > t.size() || !all_digits(t.substr(at, n))) return std::nullopt;
        return static_cast<int>(*parse_int(t.substr(at, n)));
    };
    auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
    if (!y || !mo || !d || !h || !mi || !s || t[4] != '-' || t[7] != '-' || t[13] != ':' || t[16] != ':') return std::nullopt;
    if (t[10] != 'T' && t[10] != 't' && t[10] != ' ') return std::nullopt;
    if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
    std::size_t at = 19;
    std::int64_t ms = 0;
    if (at < t.size() && t[at] == '.') {
        std::size_t digits = 0;
        ++at;
        while (at < t.size() && t[at] >= '0' && t[at] <= '9') {
            if (digits < 3) ms = ms * 10 + (t[at] - '0');
            ++digits;
            ++at;
        }
        if (digits == 0) return std::nullopt;
        for (; digits < 3; ++digits) ms *= 10;
    }
    std::int64_t offset_s = 0;
    if (at < t.size() && (t[at] == 'Z' || t[at] == 'z') && at + 1 == t.size()) {
        // UTC
    } else if (at + 6 == t.size() && (t[at] == '+' || t[at] == '-') && t[at + 3] == ':') {
        auto oh = num(at + 1, 2), om = num(at + 4, 2);
        if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
        offset_s = (*oh * 3600 + *om * 60) * (t[at] == '+' ? 1 : -1);
    } else {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = *y - 1900;
    tm.tm_mon = *mo - 1;
    tm.tm_mday = *d;
    tm.tm_hour = *h;
    tm.tm_min = *mi;
    tm.tm_sec = *s;
    auto const secs = static_cast<std::int64_t>(timegm(&tm)) - offset_s;
    if (secs < 0) return std::nullopt;
    return secs * 1000 + ms;
}

void history_request(ApiBackend& backend, ApiRequest const& request, std::function<void(ApiResponse)>& respond,
                     std::int64_t now_ms) {
    auto topic = query_param(request.target, "topic");
    if (!topic) return respond(error(400, "query parameter \"topic\" is required (percent-encoded)"));
    if (auto e = topic_name_error(*topic)) return respond(error(400, *e));
    HistoryQuery q;
    q.topic = *topic;
    if (auto since = query_param(request.target, "since")) {
        q.since_ms = parse_time_ms(*since, now_ms);
        if (!q.since_ms) return respond(error(400, "\"since\" must be unix ms, an RFC 3339 time or a duration like 10m"));
    }
    if (auto cursor = query_param(request.target, "cursor")) {
        q.cursor = parse_cursor(*cursor);
        if (!q.cursor) return respond(error(400, "\"cursor\" must be a cursor from an earlier page (TS-ID)"));
    }
    auto limit_text = query_param(request.target, "limit");
    if (!limit_text) limit_text = query_param(request.target, "last");
    if (limit_text) {
        auto n = parse_int(*limit_text);
        if (!n || *n < 1) return respond(error(400, "\"limit\" and \"last\" must be positive integers"));
        q.limit = static_cast<std::size_t>(std::min<std::int64_t>(*n, history_page_max));
    }
    // Waku Store v3: without a direction, a query with a start time goes forward from it;
    // one without goes backward from the end (the last page first).
    q.forward = q.since_ms.has_value() && !query_param(request.target, "last");
    if (auto dir = query_param(request.target, "direction")) {
        if (*dir != "forward" && *dir != "backward")
            return respond(error(400, "\"direction\" must be forward or backward"));
        q.forward = *dir == "forward";
    }
    auto page = backend.history(q);
    if (!page) return respond(error(page.error().status, page.error().message));
    respond({200, history_json(*topic, page.value()), nullptr});
}

}  // namespace

std::string cursor_text(pubsub::StoreCursor const& c) { return std::to_string(c.ts_ms) + "-" + c.id.hex(); }

std::optional<pubsub::StoreCursor> parse_cursor(std::string_view text) {
    auto dash = text.find('-');
    if (dash == std::string_view::npos || !all_digits(text.substr(0, dash))) return std::nullopt;
    auto ts = parse_int(text.substr(0, dash));
    auto id = core::NodeId::from_hex(text.substr(dash + 1));
    if (!ts || !id) return std::nullopt;
    return pubsub::StoreCursor{*ts, *id};
}

std::optional<std::int64_t> parse_time_ms(std::string_view text, std::int64_t now_ms) {
    if (all_digits(text)) return parse_int(text);
    if (auto back = text.empty() ? '\0' : text.back(); back == 's' || back == 'm' || back == 'h' || back == 'd') {
        if (all_digits(text.substr(0, text.size() - 1))) {
            auto d = parse_duration(text);
            if (!d) return std::nullopt;
            return std::max<std::int64_t>(0, now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(*d).count());
        }
    }
    return parse_rfc3339(text);
}

HistoryPage query_history(store::LmdbMessageStore const& store, HistoryQuery const& q) {
    auto const key = pubsub::topic_key(q.topic);
    auto const limit = std::clamp<std::size_t>(q.limit, 1, history_page_max);
    HistoryPage page;
    if (q.forward) {
        // Inclusive `since`: start after (since - 1, the largest id), which no stored id
        // equals (ids are BLAKE2b hashes).
        auto after = q.cursor;
        if (q.since_ms && (!after || after->ts_ms < *q.since_ms)) {
            core::NodeId max_id;
            max_id.bytes.fill(std::byte{0xff});
            after = pubsub::StoreCursor{*q.since_ms - 1, max_id};
        }
        page.messages = store.range(key, after, limit + 1);
        if (page.messages.size() > limit) {
            page.messages.resize(limit);
            page.next = pubsub::StoreCursor{page.messages.back().ts_ms, page.messages.back().id};
        }
    } else {
        page.messages = store.before(key, q.cursor, limit + 1);
        bool more = page.messages.size() > limit;
        if (more) page.messages.erase(page.messages.begin());
        if (q.since_ms) {
            auto const before = page.messages.size();
            std::erase_if(page.messages, [&](auto const& m) { return m.ts_ms < *q.since_ms; });
            if (page.messages.size() != before) more = false;
        }
        if (more) page.next = pubsub::StoreCursor{page.messages.front().ts_ms, page.messages.front().id};
    }
    return page;
}

std::string history_json(std::string_view topic, HistoryPage const& page) {
    std::string out = "{\"topic\":";
    json::write_string(out, topic);
    out += ",\"messages\":[";
    bool first = true;
    for (auto const& m : page.messages) {
        if (!first) out += ',';
        first = false;
        auto one = message_json(topic, m);
        // message_json is one object: add the cursor as its last member.
        one.pop_back();
        one += ",\"cursor\":\"" + cursor_text({m.ts_ms, m.id}) + "\"}";
        out += one;
    }
    out += "],\"next\":";
    out += page.next ? "\"" + cursor_text(*page.next) + "\"" : std::string("null");
    out += "}";
    return out;
}

bool handle_history_request(ApiBackend& backend, std::string_view path, ApiRequest const& request,
                            std::function<void(ApiResponse)>& respond, std::int64_t now_ms) {
    if (path != "/v1/history") return false;
    if (request.method != "GET") {
        respond(error(405, "/v1/history takes GET"));
        return true;
    }
    history_request(backend, request, respond, now_ms);
    return true;
}

}  // namespace node
