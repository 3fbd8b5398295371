// The operator-facing parts of node/: backoff for bootstrap re-resolution, the JSON log
// line, and the --log-format / --lan-discovery options with their KADMIUM_* variables.
#include "node/backoff.hpp"
#include "node/json.hpp"
#include "node/log_format.hpp"
#include "node/node_config.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace node;
using namespace std::chrono_literals;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
    vars.emplace("HOME", "/home/u");
    return [vars = std::move(vars)](char const* name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end() || it->second.empty()) return std::nullopt;
        return it->second;
    };
}

}  // namespace

TEST_CASE("backoff: doubles to the cap with bounded jitter, and resets", "[unit]") {
    core::Rng rng(7);
    Backoff b(1s, 60s, 0.25);
    core::Duration expected = 1s;
    for (int i = 0; i < 12; ++i) {
        auto const d = b.next(rng);
        CHECK(d >= expected * 3 / 4);
        CHECK(d <= expected * 5 / 4);
        expected = std::min<core::Duration>(expected * 2, 60s);
    }
    CHECK(b.current() == 60s);
    b.reset();
    CHECK(b.current() == 1s);

    // Jitter really varies: two nodes with different seeds do not retry in lockstep.
    core::Rng other(8);
    Backoff b1(1s, 60s), b2(1s, 60s);
    core::Rng r1(1);
    bool differ = false;
    for (int i = 0; i < 5; ++i) differ = differ || b1.next(r1) != b2.next(other);
    CHECK(differ);
}

TEST_CASE("json log line: UTC time, level, escaped message, one line", "[unit]") {
    std::string line;
    append_json_log_line(line, 1'796'000'000'123, "warn", "a \"quoted\"\nline\twith \x01 and \xff bytes");
    REQUIRE(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    auto parsed = json::parse(line);
    REQUIRE(parsed.ok());
    CHECK(parsed.value().find("ts")->as_string() == "2026-11-30T00:53:20.123Z");
    CHECK(parsed.value().find("level")->as_string() == "warn");
    auto msg = parsed.value().find("msg")->as_string();
    REQUIRE(msg);
    CHECK(msg->find("a \"quoted\"\nline\twith \x01 and ") == 0);

    line.clear();
    append_json_log_line(line, 0, "info", "");
    CHECK(line == "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\",\"msg\":\"\"}\n");
}

TEST_CASE("config: --log-format and --lan-discovery, flags over KADMIUM_* variables", "[unit]") {
    RawNodeOptions raw;
    auto c = resolve_node_config(raw, env_of({}));
    REQUIRE(c.ok());
    CHECK(c.value().log_format == LogFormat::text);
    // auto: on without a bootstrap address...
    CHECK(c.value().lan_discovery);

    // ...and off with one.
    raw.bootstrap = {"boot.example:4000"};
    c = resolve_node_config(raw, env_of({}));
    REQUIRE(c.ok());
    CHECK_FALSE(c.value().lan_discovery);
    c = resolve_node_config(raw, env_of({{"KADMIUM_LAN_DISCOVERY", "on"}}));
    CHECK(c.value().lan_discovery);

    raw.bootstrap.clear();
    c = resolve_node_config(raw, env_of({{"KADMIUM_LAN_DISCOVERY", "off"}, {"KADMIUM_LOG_FORMAT", "json"}}));
    REQUIRE(c.ok());
    CHECK_FALSE(c.value().lan_discovery);
    CHECK(c.value().log_format == LogFormat::json);

    raw.lan_discovery = "on";
    raw.log_format = "text";
    c = resolve_node_config(raw, env_of({{"KADMIUM_LAN_DISCOVERY", "off"}, {"KADMIUM_LOG_FORMAT", "json"}}));
    REQUIRE(c.ok());
    CHECK(c.value().lan_discovery);
    CHECK(c.value().log_format == LogFormat::text);

    raw = {};
    raw.log_format = "xml";
    auto bad = resolve_node_config(raw, env_of({}));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error() == "--log-format xml: expected text or json");
    bad = resolve_node_config({}, env_of({{"KADMIUM_LAN_DISCOVERY", "maybe"}}));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error() == "KADMIUM_LAN_DISCOVERY maybe: expected auto, on or off");
}
