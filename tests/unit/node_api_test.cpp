// node/api_routes: cookie check, query decoding, routing, validation and JSON answers,
// driven by hand through a fake backend (no sockets).
#include "node/api_routes.hpp"
#include "node/encoding.hpp"
#include "node/json.hpp"

#include "core/crypto.hpp"

#include <catch2/catch.hpp>

using namespace node;
using namespace std::chrono_literals;

namespace {

constexpr char cookie[] = "0123456789abcdef";

struct FakeBackend final : ApiBackend {
    StatusInfo status() const override {
        StatusInfo s;
        s.node_id.bytes[0] = std::byte{0xab};
        s.listen = {"127.0.0.1:4000", "[::1]:4000"};
        s.api = "127.0.0.1:5000";
        s.peers = 3;
        s.active_peers = 2;
        s.records = 7;
        s.uptime_s = 1.5;
        s.version = "9.9.9";
        return s;
    }
    std::vector<PeerRow> peers() const override { return {PeerRow{core::NodeId{}, "10.0.0.1:4000", 12, 1}}; }
    std::size_t value_size_max() const override { return 16; }
    core::Duration ttl_default() const override { return 1h; }
    core::Duration ttl_max() const override { return 24h; }
    void put(core::Key const& key, core::Bytes value, core::Duration ttl, Done done) override {
        put_key = key;
        put_value = std::move(value);
        put_ttl = ttl;
        pending = std::move(done);
    }
    void get(core::Key const& key, Done done) override {
        get_key = key;
        pending = std::move(done);
    }
    void get_streaming(core::Key const& key, Found f, Done done, bool first) override {
        get_key = key;
        until_first = first;
        found = std::move(f);
        pending = std::move(done);
    }
    void lookup(core::NodeId const& target, Done done) override {
        lookup_target = target;
        pending = std::move(done);
    }

    std::size_t payload_size_max() const override { return 32; }
    core::Result<PublishInfo, ApiError> publish(std::string const& topic, core::Bytes payload) override {
        published.emplace_back(topic, std::move(payload));
        if (topic == "full") return core::Err(ApiError{507, "too many topics"});
        if (core::as_chars(published.back().second) == "refuse") return core::Err(ApiError{507, "the store is full"});
        PublishInfo p;
        p.id.bytes[0] = std::byte{0x11};
        p.id.bytes[1] = static_cast<std::byte>(published.size());
        p.seq = 42;
        p.ts_ms = 1'700'000'000'123;
        p.peers = 6;
        return p;
    }
    void publish_durable(std::string const& topic, core::Bytes payload, bool wait_durable, PublishDone done) override {
        waits.push_back(wait_durable);
        auto r = publish(topic, std::move(payload));
        if (defer_answers && r) {
            deferred.emplace_back(std::move(done), r);
            return;
        }
        done(std::move(r));
    }
    core::Result<void, ApiError> subscribe(std::string const& topic) override {
        subscribed.push_back(topic);
        return {};
    }
    void unsubscribe(std::string const& topic) override { unsubscribed.push_back(topic); }
    std::vector<TopicRow> topics() const override { return {TopicRow{"chat", true, 6, 9, 12}}; }
    core::Result<std::shared_ptr<EventStream>, ApiError> open_stream(std::string const& topic) override {
        subscribed.push_back(topic);
        return std::make_shared<EventStream>(topic, 64);
    }

    std::vector<std::pair<std::string, core::Bytes>> published;
    std::vector<bool> waits;  // publish_durable's wait_durable, per publish
    void later(std::function<void()> work) override {
        if (queue_later) return queued.push_back(std::move(work));
        work();
    }
    bool queue_later = false;  // later() work waits in `queued` until the test runs it
    std::vector<std::function<void()>> queued;
    bool defer_answers = false;  // accepted publishes answer when the test says (their commit)
    std::vector<std::pair<PublishDone, core::Result<PublishInfo, ApiError>>> deferred;  // done, result
    std::vector<std::string> subscribed, unsubscribed;
    core::Key put_key, get_key, lookup_target;
    bool until_first = false;
    core::Bytes put_value;
    core::Duration put_ttl{};
    Done pending;
    Found found;
};

ApiRequest request(std::string method, std::string target, std::string body = {}) {
    return {std::move(method), std::move(target), std::string("Bearer ") + cookie, std::move(body), std::nullopt};
}

struct Answer {
    std::optional<ApiResponse> response;
    int calls = 0;
    json::Value json() const { return json::parse(response->body).value(); }
};

Answer call(FakeBackend& backend, ApiRequest const& r, Answer* answer_out = nullptr) {
    Answer local;
    Answer& a = answer_out ? *answer_out : local;
    handle_api_request(backend, cookie, r, [&a](ApiResponse res) {
        a.response = std::move(res);
        ++a.calls;
    });
    return a;
}

std::string error_of(Answer const& a) { return a.json().find("error")->text; }

}  // namespace

TEST_CASE("api: cookie check", "[unit]") {
    CHECK(cookie_matches(std::string_view("Bearer abc"), "abc"));
    CHECK_FALSE(cookie_matches(std::nullopt, "abc"));
    CHECK_FALSE(cookie_matches(std::string_view("Bearer abd"), "abc"));
    CHECK_FALSE(cookie_matches(std::string_view("Bearer abcd"), "abc"));
    CHECK_FALSE(cookie_matches(std::string_view("Bearer ab"), "abc"));
    CHECK_FALSE(cookie_matches(std::string_view("bearer abc"), "abc"));
    CHECK_FALSE(cookie_matches(std::string_view("Basic abc"), "abc"));
    CHECK_FALSE(cookie_matches(std::string_view("abc"), "abc"));
    CHECK_FALSE(cookie_matches(std::string_view("Bearer "), ""));  // an empty cookie never matches
}

TEST_CASE("api: every request needs the cookie, checked before routing", "[unit]") {
    FakeBackend b;
    for (auto target : {"/v1/status", "/v1/nope"}) {
        auto r = request("GET", target);
        r.authorization.reset();
        auto a = call(b, r);
        CHECK(a.response->status == 401);
        r.authorization = "Bearer wrong-cookie-of-16b";
        CHECK(call(b, r).response->status == 401);
    }
}

TEST_CASE("api: percent decoding, encoding and query parameters", "[unit]") {
    CHECK(percent_decode("a%20b+c%2F%e2%82%ac") == "a b c/\xe2\x82\xac");
    CHECK_FALSE(percent_decode("%"));
    CHECK_FALSE(percent_decode("%2"));
    CHECK_FALSE(percent_decode("%zz"));
    CHECK(percent_encode("a b/é~") == "a%20b%2F%C3%A9~");
    CHECK(percent_decode(percent_encode("k &=?%+")) == "k &=?%+");
    CHECK(query_param("/v1/get?x=1&key=a%26b&key=2", "key") == "a&b");
    CHECK(query_param("/v1/get?key", "key") == "");
    CHECK_FALSE(query_param("/v1/get", "key"));
    CHECK_FALSE(query_param("/v1/get?keys=1", "key"));
}

TEST_CASE("api: id, status and peers answer at once", "[unit]") {
    FakeBackend b;
    auto id = call(b, request("GET", "/v1/id"));
    REQUIRE(id.calls == 1);
    CHECK(id.json().find("node_id")->text.substr(0, 4) == "ab00");

    auto st = call(b, request("GET", "/v1/status"));
    REQUIRE(st.response->status == 200);
    auto s = st.json();
    CHECK(s.find("listen")->items.size() == 2);
    CHECK(s.find("peers")->as_uint() == 3u);
    CHECK(s.find("active_peers")->as_uint() == 2u);
    CHECK(s.find("records")->as_uint() == 7u);
    CHECK(s.find("uptime_s")->as_double() == 1.5);
    CHECK(s.find("metrics")->is_null());
    CHECK(s.find("version")->text == "9.9.9");
    CHECK(s.find("api")->text == "127.0.0.1:5000");

    auto p = call(b, request("GET", "/v1/peers")).json();
    REQUIRE(p.items.size() == 1);
    CHECK(p.items[0].find("address")->text == "10.0.0.1:4000");
    CHECK(p.items[0].find("last_seen_s_ago")->as_uint() == 12u);
    CHECK(p.items[0].find("failures")->as_uint() == 1u);
}

TEST_CASE("api: unknown paths 404, wrong methods 405", "[unit]") {
    FakeBackend b;
    CHECK(call(b, request("GET", "/v2/status")).response->status == 404);
    CHECK(call(b, request("GET", "/")).response->status == 404);
    CHECK(call(b, request("POST", "/v1/status")).response->status == 405);
    CHECK(call(b, request("GET", "/v1/put")).response->status == 405);
}

TEST_CASE("api: put hashes the key, answers when the lookup is done", "[unit]") {
    FakeBackend b;
    Answer a;
    call(b, request("POST", "/v1/put", R"({"key":"greeting","value":"hi","ttl_s":60})"), &a);
    CHECK(a.calls == 0);
    CHECK(b.put_key == core::key_of("greeting"));
    CHECK(b.put_value == core::to_bytes("hi"));
    CHECK(b.put_ttl == 60s);
    REQUIRE(b.pending);
    dht::LookupDone done;
    done.kind = dht::LookupKind::put;
    done.stores_tried = 5;
    done.stores_accepted = 4;
    done.elapsed = 1500ms;
    b.pending(done);
    REQUIRE(a.calls == 1);
    auto j = a.json();
    CHECK(j.find("accepted")->as_uint() == 4u);
    CHECK(j.find("tried")->as_uint() == 5u);
    CHECK(j.find("elapsed_ms")->as_uint() == 1500u);
    CHECK(j.find("key_hash")->text == core::key_of("greeting").hex());

    call(b, request("POST", "/v1/put", R"({"key":"k","value_b64":"/wA="})"));
    CHECK(b.put_value == core::Bytes{std::byte{0xff}, std::byte{0}});
    CHECK(b.put_ttl == 1h);  // the default
}

TEST_CASE("api: put rejects bad bodies with 400 or 413 and an error message", "[unit]") {
    FakeBackend b;
    struct Case {
        std::string body;
        unsigned status;
        std::string error;
    };
    Case const cases[] = {
        {"", 400, "malformed JSON"},
        {"{\"key\":", 400, "malformed JSON"},
        {"[1]", 400, "JSON object"},
        {R"({"key":"k"})", 400, "exactly one"},
        {R"({"key":"k","value":"v","value_b64":"dg=="})", 400, "exactly one"},
        {R"({"value":"v"})", 400, "\"key\""},
        {R"({"key":"","value":"v"})", 400, "\"key\""},
        {R"({"key":7,"value":"v"})", 400, "\"key\""},
        {R"({"key":"k","value":7})", 400, "\"value\" must be a string"},
        {R"({"key":"k","value_b64":"!!"})", 400, "base64"},
        {R"({"key":"k","value":"v","ttl_s":0})", 400, "ttl_s"},
        {R"({"key":"k","value":"v","ttl_s":86401})", 400, "ttl_s"},
        {R"({"key":"k","value":"v","ttl_s":1.5})", 400, "ttl_s"},
        {R"({"key":"k","value":"v","ttl_s":"60"})", 400, "ttl_s"},
        {R"({"key":"k","value":"v","extra":1})", 400, "unknown field"},
        {R"({"key":"k","value":"0123456789abcdefX"})", 413, "at most 16"},
        {R"({"key":"k","value":{"a":{"b":1}}})", 400, "malformed JSON"},  // deeper than a flat body
    };
    for (auto const& c : cases) {
        INFO(c.body);
        b.pending = nullptr;
        auto a = call(b, request("POST", "/v1/put", c.body));
        REQUIRE(a.calls == 1);
        CHECK(a.response->status == c.status);
        CHECK(error_of(a).find(c.error) != std::string::npos);
        CHECK_FALSE(b.pending);
    }
    auto long_key = std::string(R"({"key":")") + std::string(api_key_max + 1, 'k') + R"(","value":"v"})";
    CHECK(call(b, request("POST", "/v1/put", long_key)).response->status == 400);
}

TEST_CASE("api: get splits UTF-8 and binary values", "[unit]") {
    FakeBackend b;
    Answer a;
    call(b, request("GET", "/v1/get?key=a%20b"), &a);
    CHECK(b.get_key == core::key_of("a b"));
    dht::LookupDone done;
    done.values = {core::to_bytes("text"), core::Bytes{std::byte{0xff}}, core::to_bytes("")};
    done.hops = 2;
    b.pending(done);
    auto j = a.json();
    REQUIRE(j.find("values")->items.size() == 2);
    CHECK(j.find("values")->items[0].text == "text");
    CHECK(j.find("values")->items[1].text == "");
    REQUIRE(j.find("values_b64")->items.size() == 1);
    CHECK(j.find("values_b64")->items[0].text == "/w==");
    CHECK(j.find("hops")->as_uint() == 2u);

    CHECK(call(b, request("GET", "/v1/get")).response->status == 400);
    CHECK(call(b, request("GET", "/v1/get?key=")).response->status == 400);
    CHECK(call(b, request("GET", "/v1/get?key=%zz")).response->status == 400);
}

TEST_CASE("api: get with first=1 answers at the first value; stream=1 streams every value, then a summary", "[unit]") {
    FakeBackend b;
    Answer a;
    call(b, request("GET", "/v1/get?key=k&first=1"), &a);
    CHECK(b.get_key == core::key_of("k"));
    CHECK(b.until_first);  // the node's lookup ends at the first value too
    CHECK(a.calls == 0);
    REQUIRE(b.found);
    b.found(dht::ValuesFound{1, b.get_key, {core::to_bytes("early")}});
    REQUIRE(a.calls == 1);
    CHECK(a.json().find("value")->text == "early");
    b.found(dht::ValuesFound{1, b.get_key, {core::Bytes{std::byte{0xff}}}});
    dht::LookupDone done;
    done.values = {core::to_bytes("early"), core::Bytes{std::byte{0xff}}};
    b.pending(done);
    CHECK(a.calls == 1);  // answered once
    // Nothing found: the usual answer, with no values.
    Answer none;
    call(b, request("GET", "/v1/get?key=k&first=1"), &none);
    b.pending(dht::LookupDone{});
    REQUIRE(none.calls == 1);
    CHECK(none.json().find("values")->items.empty());
    CHECK(none.json().find("value") == nullptr);

    Answer st;
    call(b, request("GET", "/v1/get?key=k&stream=1"), &st);
    CHECK_FALSE(b.until_first);
    REQUIRE(st.calls == 1);
    REQUIRE(st.response->stream);
    b.found(dht::ValuesFound{2, b.get_key, {core::to_bytes("one"), core::Bytes{std::byte{0xff}}}});
    auto text = st.response->stream->take();
    CHECK(text.find("\"value\":\"one\"") != std::string::npos);
    CHECK(text.find("\"value_b64\":\"/w==\"") != std::string::npos);
    CHECK_FALSE(st.response->stream->cut());
    dht::LookupDone two;
    two.values = {core::to_bytes("one"), core::Bytes{std::byte{0xff}}};
    b.pending(two);
    text = st.response->stream->take();
    CHECK(text.find("\"done\":true") != std::string::npos);
    CHECK(text.find("\"values\":2") != std::string::npos);
    CHECK(st.response->stream->cut());  // the transport closes after the summary

    CHECK(call(b, request("GET", "/v1/get?key=k&first=1&stream=1")).response->status == 400);
    CHECK(call(b, request("GET", "/v1/get?key=k&first=maybe")).response->status == 400);
}

TEST_CASE("api: lookup takes a 64-digit hex id", "[unit]") {
    FakeBackend b;
    auto const target = core::key_of("x");
    Answer a;
    call(b, request("GET", "/v1/lookup?id=" + target.hex()), &a);
    CHECK(b.lookup_target == target);
    dht::LookupDone done;
    done.target = target;
    done.closest = {dht::Contact{core::key_of("n"), {}, core::Endpoint::v4(10, 0, 0, 1, 4000)}};
    done.hops = 3;
    b.pending(done);
    auto j = a.json();
    REQUIRE(j.find("closest")->items.size() == 1);
    CHECK(j.find("closest")->items[0].find("id")->text == core::key_of("n").hex());
    CHECK(j.find("closest")->items[0].find("address")->text == "10.0.0.1:4000");
    CHECK(j.find("hops")->as_uint() == 3u);

    CHECK(call(b, request("GET", "/v1/lookup?id=abc")).response->status == 400);
    CHECK(call(b, request("GET", "/v1/lookup")).response->status == 400);
}

TEST_CASE("api: publish validates the topic and the payload, and answers id, seq, ts and peers", "[unit]") {
    FakeBackend b;
    auto ok = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": "hi"})"));
    REQUIRE(ok.response->status == 200);
    CHECK(ok.json().find("seq")->text == "42");
    CHECK(ok.json().find("peers")->text == "6");
    CHECK(ok.json().find("id")->text.substr(0, 2) == "11");
    REQUIRE(b.published.size() == 1);
    CHECK(core::as_chars(b.published[0].second) == "hi");

    auto b64 = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data_b64": "AAEC"})"));
    REQUIRE(b64.response->status == 200);
    CHECK(b.published[1].second.size() == 3);

    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "", "data": "x"})")).response->status == 400);
    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "chat"})")).response->status == 400);
    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": "x", "extra": 1})")).response->status == 400);
    CHECK(call(b, request("GET", "/v1/publish")).response->status == 405);
    auto big = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": ")" + std::string(33, 'x') + "\"}"));
    CHECK(big.response->status == 413);
    CHECK(error_of(big).find("at most 32") != std::string::npos);
    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "full", "data": "x"})")).response->status == 507);
    CHECK(b.published.size() == 3);  // the bad requests never reached the node
}

TEST_CASE("api: publish waits for the disk unless \"durable\": false, and says which", "[unit]") {
    FakeBackend b;
    auto durable = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": "a"})"));
    REQUIRE(durable.response->status == 200);
    CHECK(durable.json().find("durable")->boolean);
    auto accepted = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": "b", "durable": false})"));
    REQUIRE(accepted.response->status == 200);
    CHECK_FALSE(accepted.json().find("durable")->boolean);
    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": "c", "durable": true})")).response->status == 200);
    auto bad = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": "d", "durable": "no"})"));
    CHECK(bad.response->status == 400);
    CHECK(error_of(bad).find("durable") != std::string::npos);
    CHECK(b.waits == std::vector<bool>{true, false, true});
}

TEST_CASE("api: a batch publish publishes every message in order and answers their receipts", "[unit]") {
    FakeBackend b;
    auto ok = call(b, request("POST", "/v1/publish",
                              R"({"topic": "chat", "messages": [{"data": "a"}, {"data_b64": "AAEC"}, {"data": "c"}]})"));
    REQUIRE(ok.response->status == 200);
    auto const body = ok.json();
    auto const& receipts = body.find("messages")->items;
    REQUIRE(receipts.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(receipts[i].find("id")->text.substr(0, 4) == "110" + std::to_string(i + 1));
    CHECK(receipts[0].find("seq")->text == "42");
    CHECK(ok.json().find("durable")->boolean);
    REQUIRE(b.published.size() == 3);
    CHECK(core::as_chars(b.published[0].second) == "a");
    CHECK(b.published[1].second.size() == 3);
    CHECK(core::as_chars(b.published[2].second) == "c");
    CHECK(b.waits == std::vector<bool>{true, true, true});

    auto accepted = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": [{"data": "d"}], "durable": false})"));
    REQUIRE(accepted.response->status == 200);
    CHECK_FALSE(accepted.json().find("durable")->boolean);
    CHECK(b.waits.back() == false);
}

TEST_CASE("api: a batch publishes a slice a turn, the rest later, and answers once", "[unit]") {
    FakeBackend b;
    b.queue_later = true;
    std::string body = R"({"topic": "chat", "messages": [)";
    for (std::size_t i = 0; i < publish_batch_slice + 10; ++i) body += std::string(i ? "," : "") + R"({"data": "m"})";
    body += "]}";
    Answer a;
    call(b, request("POST", "/v1/publish", body), &a);
    CHECK(b.published.size() == publish_batch_slice);  // the first slice, in this turn
    CHECK(a.calls == 0);
    REQUIRE(b.queued.size() == 1);
    auto next = std::move(b.queued.front());
    b.queued.clear();
    next();
    CHECK(b.published.size() == publish_batch_slice + 10);
    CHECK(b.queued.empty());
    REQUIRE(a.calls == 1);
    CHECK(a.response->status == 200);
    CHECK(a.json().find("messages")->items.size() == publish_batch_slice + 10);
}

TEST_CASE("api: a batch is checked whole before any message is published", "[unit]") {
    FakeBackend b;
    auto big = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": [{"data": "a"}, {"data": ")" +
                                                          std::string(33, 'x') + R"("}]})"));
    CHECK(big.response->status == 413);
    CHECK(big.json().find("failed_index")->text == "1");
    CHECK(big.json().find("messages")->items.empty());
    CHECK(error_of(big).find("messages[1]: ") == 0);
    auto unknown = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": [{"data": "a", "x": 1}]})"));
    CHECK(unknown.response->status == 400);
    CHECK(unknown.json().find("failed_index")->text == "0");
    auto both = call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": [{"data": "a", "data_b64": "AA=="}]})"));
    CHECK(both.response->status == 400);
    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": []})")).response->status == 400);
    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": {"data": "a"}})")).response->status == 400);
    CHECK(call(b, request("POST", "/v1/publish", R"({"topic": "chat", "data": "a", "messages": [{"data": "b"}]})"))
              .response->status == 400);
    std::string many = R"({"topic": "chat", "messages": [)";
    for (std::size_t i = 0; i <= publish_batch_max; ++i) many += std::string(i ? "," : "") + R"({"data": "m"})";
    many += "]}";
    auto too_many = call(b, request("POST", "/v1/publish", many));
    CHECK(too_many.response->status == 400);
    CHECK(error_of(too_many).find("1 to 1000") != std::string::npos);
    CHECK(b.published.empty());
}

TEST_CASE("api: a batch stops at the first message the node refuses, with the receipts before it", "[unit]") {
    FakeBackend b;
    auto r = call(b, request("POST", "/v1/publish",
                             R"({"topic": "chat", "messages": [{"data": "a"}, {"data": "refuse"}, {"data": "c"}]})"));
    REQUIRE(r.response->status == 507);
    CHECK(r.json().find("failed_index")->text == "1");
    auto const body = r.json();
    auto const& entries = body.find("messages")->items;
    REQUIRE(entries.size() == 2);  // "a" and "refuse" tried; "c" was not
    CHECK(entries[0].find("id"));
    CHECK(entries[1].find("error")->text == "the store is full");
    CHECK(entries[1].find("status")->text == "507");
    CHECK(error_of(r) == "messages[1]: the store is full");
    CHECK(b.published.size() == 2);
}

TEST_CASE("api: a failed commit fails every message of the batch it held, each listed", "[unit]") {
    FakeBackend b;
    b.defer_answers = true;
    Answer a;
    call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": [{"data": "a"}, {"data": "b"}]})"), &a);
    REQUIRE(b.deferred.size() == 2);
    for (auto& [done, result] : b.deferred) done(core::Err(ApiError{503, "the message could not be written to disk"}));
    REQUIRE(a.calls == 1);
    CHECK(a.response->status == 503);
    auto const body = a.json();
    CHECK(body.find("failed_index")->text == "0");
    auto const& entries = body.find("messages")->items;
    REQUIRE(entries.size() == 2);
    CHECK(entries[1].find("status")->text == "503");
    CHECK_FALSE(entries[1].find("id"));
}

TEST_CASE("api: a durable batch answers once every message has its commit", "[unit]") {
    FakeBackend b;
    b.defer_answers = true;
    Answer a;
    call(b, request("POST", "/v1/publish", R"({"topic": "chat", "messages": [{"data": "a"}, {"data": "b"}, {"data": "c"}]})"),
         &a);
    REQUIRE(b.deferred.size() == 3);
    CHECK(a.calls == 0);
    auto answer = [&](std::size_t i) { b.deferred[i].first(b.deferred[i].second); };
    answer(2);
    answer(0);
    CHECK(a.calls == 0);
    answer(1);
    REQUIRE(a.calls == 1);
    REQUIRE(a.response->status == 200);
    auto const body = a.json();
    auto const& receipts = body.find("messages")->items;
    REQUIRE(receipts.size() == 3);
    CHECK(receipts[2].find("id")->text.substr(0, 4) == "1103");
}

TEST_CASE("api: subscribe answers with an event stream; topics lists; PUT and DELETE subscribe and leave", "[unit]") {
    FakeBackend b;
    auto s = call(b, request("GET", "/v1/subscribe?topic=a%20b"));
    REQUIRE(s.response);
    REQUIRE(s.response->stream);
    CHECK(s.response->stream->topic() == "a b");
    CHECK(call(b, request("GET", "/v1/subscribe")).response->status == 400);

    auto t = call(b, request("GET", "/v1/topics"));
    REQUIRE(t.response->status == 200);
    auto v = t.json();
    REQUIRE(v.items.size() == 1);
    CHECK(v.items[0].find("mesh_peers")->text == "6");

    CHECK(call(b, request("PUT", "/v1/topics/x%2Fy")).response->status == 200);
    CHECK(b.subscribed.back() == "x/y");
    CHECK(call(b, request("DELETE", "/v1/topics/x%2Fy")).response->status == 200);
    CHECK(b.unsubscribed.back() == "x/y");
    CHECK(call(b, request("POST", "/v1/topics/x")).response->status == 405);
}

TEST_CASE("api: an event stream is bounded and tells a slow client before cutting it", "[unit]") {
    EventStream s("t", 100);
    int wakes = 0;
    s.set_wake([&] { ++wakes; });
    CHECK(s.push("1", "{\"a\":1}"));
    CHECK(wakes == 1);
    auto text = s.take();
    CHECK(text == "id: 1\ndata: {\"a\":1}\n\n");
    CHECK(s.take().empty());
    // Nobody takes: the queue fills, the next push cuts the stream with a notice.
    int pushed = 0;
    while (s.push(std::to_string(pushed), "0123456789") && pushed < 100) ++pushed;
    CHECK(pushed < 10);
    CHECK(s.cut());
    auto rest = s.take();
    CHECK(rest.find("event: overflow") != std::string::npos);
    CHECK_FALSE(s.push("x", "y"));
    s.client_gone();
    CHECK(s.gone());
}
