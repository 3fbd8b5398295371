#include "node/api_routes.hpp"

#include "core/crypto.hpp"
#include "node/api_history.hpp"
#include "node/api_pubsub.hpp"
#include "node/encoding.hpp"
#include "node/json.hpp"

#include <chrono>

namespace node {

bool cookie_matches(std::optional<std::string_view> authorization, std::string_view cookie) {
    if (!authorization || cookie.empty()) return false;
    constexpr std::string_view scheme = "Bearer ";
    std::string_view given = *authorization;
    if (given.substr(0, scheme.size()) != scheme) return false;
    given.remove_prefix(scheme.size());
    if (given.size() != cookie.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < cookie.size(); ++i)
        diff |= static_cast<unsigned char>(given[i] ^ cookie[i]);
    return diff == 0;
}

std::optional<std::string> percent_decode(std::string_view text) {
    auto hexval = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            int hi = hexval(text[i + 1]), lo = hexval(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi << 4 | lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        auto const u = static_cast<unsigned char>(c);
        bool const unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                                c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        auto eq = pair.find('=');
        auto k = pair.substr(0, eq);
        if (percent_decode(k) == std::string(name))
            return eq == std::string_view::npos ? std::optional<std::string>(std::string()) : percent_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::string error_body(std::string_view message) {
    json::Writer w;
    w.begin_object().key("error").string(message).end_object();
    return w.take();
}

namespace {

ApiResponse error(unsigned status, std::string_view message) { return {status, error_body(message), nullptr}; }

std::int64_t to_ms(core::Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }
template <typename D>
std::int64_t to_us(D d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

void write_contacts(json::Writer& w, std::vector<dht::Contact> const& contacts) {
    w.begin_array();
    for (auto const& c : contacts)
        w.begin_object().key("id").string(c.id.hex()).key("address").string(c.address.to_string()).end_object();
    w.end_array();
}

ApiResponse status_response(ApiBackend& backend) {
    auto s = backend.status();
    json::Writer w;
    w.begin_object();
    w.key("node_id").string(s.node_id.hex());
    w.key("listen").begin_array();
    for (auto const& l : s.listen) w.string(l);
    w.end_array();
    w.key("api").string(s.api);
    w.key("metrics");
    if (s.metrics) w.string(*s.metrics);
    else w.null();
    w.key("peers").number(std::uint64_t{s.peers});
    w.key("active_peers").number(std::uint64_t{s.active_peers});
    w.key("records").number(std::uint64_t{s.records});
    w.key("lookups_in_flight").number(std::uint64_t{s.lookups_in_flight});
    w.key("uptime_s").number(s.uptime_s);
    w.key("version").string(s.version);
    w.end_object();
    return {200, w.take(), nullptr};
}

ApiResponse peers_response(ApiBackend& backend) {
    json::Writer w;
    w.begin_array();
    for (auto const& p : backend.peers()) {
        w.begin_object();
        w.key("id").string(p.id.hex());
        w.key("address").string(p.address);
        w.key("last_seen_s_ago").number(p.last_seen_s_ago);
        w.key("failures").number(p.failures);
        w.end_object();
    }
    w.end_array();
    return {200, w.take(), nullptr};
}

void put_request(ApiBackend& backend, ApiRequest const& request, std::function<void(ApiResponse)>& respond) {
    json::Limits limits;
    limits.input_max = api_body_max;
    limits.depth_max = 2;
    limits.values_max = 16;
    auto parsed = json::parse(request.body, limits);
    if (!parsed) return respond(error(400, "malformed JSON: " + parsed.error()));
    auto const& body = parsed.value();
    if (!body.is_object()) return respond(error(400, "the body must be a JSON object"));
    for (auto const& [name, v] : body.members)
        if (name != "key" && name != "value" && name != "value_b64" && name != "ttl_s")
            return respond(error(400, "unknown field \"" + name + "\""));

    auto key = body.find("key") ? body.find("key")->as_string() : std::nullopt;
    if (!key || key->empty()) return respond(error(400, "\"key\" must be a non-empty string"));
    if (key->size() > api_key_max) return respond(error(400, "\"key\" is longer than 4096 bytes"));

    auto const* value_text = body.find("value");
    auto const* value_b64 = body.find("value_b64");
    if ((value_text != nullptr) == (value_b64 != nullptr))
        return respond(error(400, "give exactly one of \"value\" (a string) and \"value_b64\" (base64)"));
    core::Bytes value;
    if (value_text) {
        auto s = value_text->as_string();
        if (!s) return respond(error(400, "\"value\" must be a string"));
        value = core::to_bytes(*s);
    } else {
        auto s = value_b64->as_string();
        auto decoded = s ? base64_decode(*s) : std::nullopt;
        if (!decoded) return respond(error(400, "\"value_b64\" must be standard base64 with padding"));
        value = std::move(*decoded);
    }
    if (value.size() > backend.value_size_max())
        return respond(error(413, "the value is " + std::to_string(value.size()) + " bytes; at most " +
                                      std::to_string(backend.value_size_max()) + " are allowed"));

    core::Duration ttl = backend.ttl_default();
    if (auto const* t = body.find("ttl_s")) {
        auto s = t->as_uint();
        auto const max_s = std::chrono::duration_cast<std::chrono::seconds>(backend.ttl_max()).count();
        if (!s || *s == 0 || *s > static_cast<std::uint64_t>(max_s))
            return respond(error(400, "\"ttl_s\" must be an integer from 1 to " + std::to_string(max_s)));
        ttl = std::chrono::seconds(static_cast<std::int64_t>(*s));
    }

    auto const hashed = core::key_of(*key);
    backend.put(hashed, std::move(value), ttl, [respond = std::move(respond), hashed](dht::LookupDone const& done) {
        json::Writer w;
        w.begin_object();
        w.key("key_hash").string(hashed.hex());
        w.key("accepted").number(std::uint64_t{done.stores_accepted});
        w.key("tried").number(std::uint64_t{done.stores_tried});
        // Acknowledged at the write quorum: these had not answered yet (storing goes on).
        w.key("pending");
        write_contacts(w, done.stores_waiting);
        w.key("elapsed_ms").number(to_ms(done.elapsed));
        w.key("elapsed_us").number(to_us(done.elapsed));
        // Where the put's time went: its search phase, and the nodes it asked that had
        // not answered by then (slow, dead); the rest of elapsed is the STORE round.
        w.key("search_us").number(to_us(done.search_elapsed));
        w.key("search_not_answered").number(std::uint64_t{done.search_not_answered});
        w.end_object();
        respond({200, w.take(), nullptr});
    });
}

// {"value": text} or {"value_b64": base64}: one value as the streaming and first-value
// answers give it.
void write_value(json::Writer& w, core::Bytes const& v) {
    if (is_valid_utf8(core::as_chars(v))) w.key("value").string(core::as_chars(v));
    else w.key("value_b64").string(base64_encode(v));
}

std::string get_answer(core::Key const& hashed, dht::LookupDone const& done) {
    json::Writer w;
    w.begin_object();
    w.key("key_hash").string(hashed.hex());
    w.key("values").begin_array();
    for (auto const& v : done.values)
        if (is_valid_utf8(core::as_chars(v))) w.string(core::as_chars(v));
    w.end_array();
    w.key("values_b64").begin_array();
    for (auto const& v : done.values)
        if (!is_valid_utf8(core::as_chars(v))) w.string(base64_encode(v));
    w.end_array();
    w.key("hops").number(done.hops);
    w.key("elapsed_ms").number(to_ms(done.elapsed));
    w.key("elapsed_us").number(to_us(done.elapsed));
    w.end_object();
    return w.take();
}

// GET /v1/get?key=K&first=1: one JSON answer as soon as one value is found (the node's
// lookup ends there too), or the usual answer when the lookup finds none.
void get_first(ApiBackend& backend, core::Key const& hashed, std::function<void(ApiResponse)>& respond) {
    auto answered = std::make_shared<bool>(false);
    auto reply = std::make_shared<std::function<void(ApiResponse)>>(std::move(respond));
    auto started = std::chrono::steady_clock::now();
    backend.get_streaming(
        hashed,
        [answered, reply, hashed, started](dht::ValuesFound const& found) {
            if (*answered || found.values.empty()) return;
            *answered = true;
            json::Writer w;
            w.begin_object();
            w.key("key_hash").string(hashed.hex());
            w.key("first").boolean(true);
            write_value(w, found.values.front());
            auto const elapsed = std::chrono::steady_clock::now() - started;
            w.key("elapsed_ms").number(to_ms(std::chrono::duration_cast<core::Duration>(elapsed)));
            w.key("elapsed_us").number(to_us(elapsed));
            w.end_object();
            (*reply)({200, w.take(), nullptr});
        },
        [answered, reply, hashed](dht::LookupDone const& done) {
            if (*answered) return;
            *answered = true;
            (*reply)({200, get_answer(hashed, done), nullptr});
        },
        true);
}

// GET /v1/get?key=K&stream=1: server-sent events, one per value as it is found
// ({"value": ...} or {"value_b64": ...}), then {"done": true, ...} with the lookup's
// figures, then the stream ends.
void get_stream(ApiBackend& backend, core::Key const& hashed, std::function<void(ApiResponse)>& respond) {
    auto stream = std::make_shared<EventStream>(hashed.hex(), event_stream_bytes_max);
    auto sequence = std::make_shared<std::uint64_t>(0);
    auto started = std::chrono::steady_clock::now();
    respond({200, {}, stream});
    backend.get_streaming(
        hashed,
        [stream, sequence, started](dht::ValuesFound const& found) {
            for (auto const& v : found.values) {
                json::Writer w;
                w.begin_object();
                write_value(w, v);
                w.key("elapsed_us").number(to_us(std::chrono::steady_clock::now() - started));
                w.end_object();
                stream->push(std::to_string((*sequence)++), w.take());
            }
        },
        [stream, sequence](dht::LookupDone const& done) {
            json::Writer w;
            w.begin_object();
            w.key("done").boolean(true);
            w.key("values").number(std::uint64_t{done.values.size()});
            w.key("hops").number(done.hops);
            w.key("queried").number(std::uint64_t{done.queried});
            w.key("elapsed_us").number(to_us(done.elapsed));
            w.end_object();
            stream->push(std::to_string((*sequence)++), w.take());
            stream->end();
        },
        false);
}

void get_request(ApiBackend& backend, ApiRequest const& request, std::function<void(ApiResponse)>& respond) {
    auto key = query_param(request.target, "key");
    if (!key || key->empty()) return respond(error(400, "query parameter \"key\" is required (percent-encoded)"));
    if (key->size() > api_key_max) return respond(error(400, "\"key\" is longer than 4096 bytes"));
    auto flag = [&](std::string_view name) -> std::optional<bool> {
        auto v = query_param(request.target, name);
        if (!v) return false;
        if (*v == "1" || *v == "true" || v->empty()) return true;
        if (*v == "0" || *v == "false") return false;
        return std::nullopt;
    };
    auto first = flag("first");
    auto stream = flag("stream");
    if (!first || !stream) return respond(error(400, "\"first\" and \"stream\" take 1, true, 0 or false"));
    if (*first && *stream) return respond(error(400, "give at most one of \"first\" and \"stream\""));
    auto const hashed = core::key_of(*key);
    if (*first) return get_first(backend, hashed, respond);
    if (*stream) return get_stream(backend, hashed, respond);
    backend.get(hashed, [respond = std::move(respond), hashed](dht::LookupDone const& done) {
        respond({200, get_answer(hashed, done), nullptr});
    });
}

void lookup_request(ApiBackend& backend, ApiRequest const& request, std::function<void(ApiResponse)>& respond) {
    auto hex = query_param(request.target, "id");
    auto target = hex ? core::NodeId::from_hex(*hex) : std::nullopt;
    if (!target) return respond(error(400, "query parameter \"id\" must be 64 hex digits"));
    backend.lookup(*target, [respond = std::move(respond)](dht::LookupDone const& done) {
        json::Writer w;
        w.begin_object();
        w.key("target").string(done.target.hex());
        w.key("closest");
        write_contacts(w, done.closest);
        w.key("hops").number(done.hops);
        w.key("queried").number(std::uint64_t{done.queried});
        w.key("elapsed_ms").number(to_ms(done.elapsed));
        w.end_object();
        respond({200, w.take(), nullptr});
    });
}

}  // namespace

void handle_api_request(ApiBackend& backend, std::string_view cookie, ApiRequest const& request,
                        std::function<void(ApiResponse)> respond) {
    if (!cookie_matches(request.authorization, cookie))
        return respond(error(401, "missing or wrong cookie: send \"Authorization: Bearer <contents of api.cookie>\""));

    std::string_view path = request.target;
    path = path.substr(0, path.find('?'));
    struct Route {
        std::string_view path;
        std::string_view method;
    };
    static constexpr Route routes[] = {{"/v1/id", "GET"},  {"/v1/status", "GET"}, {"/v1/peers", "GET"},
                                       {"/v1/put", "POST"}, {"/v1/get", "GET"},   {"/v1/lookup", "GET"}};
    if (handle_pubsub_request(backend, path, request, respond)) return;
    auto const now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (handle_history_request(backend, path, request, respond, now_ms)) return;
    Route const* route = nullptr;
    for (auto const& r : routes)
        if (r.path == path) route = &r;
    if (route == nullptr) return respond(error(404, "no such endpoint: " + std::string(path)));
    if (request.method != route->method)
        return respond(error(405, std::string(path) + " takes " + std::string(route->method)));

    if (path == "/v1/id") {
        json::Writer w;
        w.begin_object().key("node_id").string(backend.status().node_id.hex()).end_object();
        return respond({200, w.take(), nullptr});
    }
    if (path == "/v1/status") return respond(status_response(backend));
    if (path == "/v1/peers") return respond(peers_response(backend));
    if (path == "/v1/put") return put_request(backend, request, respond);
    if (path == "/v1/get") return get_request(backend, request, respond);
    return lookup_request(backend, request, respond);
}

}  // namespace node
