// node/node_config and node/cli: flags, KADMIUM_* environment, defaults, errors, durations.
#include "node/cli.hpp"
#include "node/node_config.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace node;
using namespace std::chrono_literals;

namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](char const* name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end() || it->second.empty()) return std::nullopt;
        return it->second;
    };
}

EnvLookup home_only() { return fake_env({{"HOME", "/home/u"}}); }

}  // namespace

TEST_CASE("durations: units, plain seconds, and rejects", "[unit]") {
    CHECK(parse_duration("30s") == 30s);
    CHECK(parse_duration("10m") == 600s);
    CHECK(parse_duration("2h") == 7200s);
    CHECK(parse_duration("1d") == 86400s);
    CHECK(parse_duration("45") == 45s);
    for (auto bad : {"", "0", "0s", "-1", "1.5h", "1h30m", "h", "10x", " 10s", "10s ", "99999999999999999999d", "3700d"})
        CHECK_FALSE(parse_duration(bad));
    CHECK(parse_duration("3660d") == std::chrono::seconds(3660LL * 86400));
}

TEST_CASE("host:port: names, IPv4, bracketed IPv6", "[unit]") {
    CHECK(parse_host_port("boot.example.org:4000") == HostPort{"boot.example.org", 4000});
    CHECK(parse_host_port("10.0.0.1:1") == HostPort{"10.0.0.1", 1});
    CHECK(parse_host_port("[::1]:65535") == HostPort{"::1", 65535});
    CHECK(parse_host_port("[::1]:65535")->to_string() == "[::1]:65535");
    for (auto bad : {"", "host", "host:", ":4000", "host:0", "host:65536", "host:4x", "[::1]", "[nothost]:1", "::1:4000",
                     "ho st:1", "host/x:1"})
        CHECK_FALSE(parse_host_port(bad));
}

TEST_CASE("node config: defaults", "[unit]") {
    auto r = resolve_node_config({}, home_only());
    REQUIRE(r.ok());
    auto const& c = r.value();
    REQUIRE(c.listen.size() == 1);
    CHECK(c.listen[0].to_string() == "0.0.0.0:4000");
    CHECK(c.data_dir == "/home/u/.local/share/kadmium");
    CHECK(c.api.to_string() == "127.0.0.1:0");
    REQUIRE(c.metrics);
    CHECK(c.metrics->to_string() == "127.0.0.1:0");
    CHECK(c.bootstrap.empty());
    CHECK(c.log_level == "info");
    CHECK(c.map_size_bytes == 1024u * 1024 * 1024);
    CHECK_FALSE(c.allow_loopback_subnet);
}

TEST_CASE("node config: XDG_DATA_HOME only when absolute; no HOME is an error", "[unit]") {
    CHECK(resolve_node_config({}, fake_env({{"HOME", "/h"}, {"XDG_DATA_HOME", "/x"}})).value().data_dir == "/x/kadmium");
    CHECK(resolve_node_config({}, fake_env({{"HOME", "/h"}, {"XDG_DATA_HOME", "rel"}})).value().data_dir ==
          "/h/.local/share/kadmium");
    auto r = resolve_node_config({}, fake_env({}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("--data") != std::string::npos);
}

TEST_CASE("node config: the environment fills what flags leave out, flags win", "[unit]") {
    auto env = fake_env({{"HOME", "/h"},
                         {"KADMIUM_LISTEN", "127.0.0.1:4001, [::1]:4001"},
                         {"KADMIUM_DATA", "/env/data"},
                         {"KADMIUM_API", "127.0.0.1:9000"},
                         {"KADMIUM_METRICS", "off"},
                         {"KADMIUM_BOOTSTRAP", "a.example:1,10.0.0.2:2"},
                         {"KADMIUM_LOG_LEVEL", "debug"},
                         {"KADMIUM_MAP_SIZE_MB", "64"}});
    auto from_env = resolve_node_config({}, env).value();
    REQUIRE(from_env.listen.size() == 2);
    CHECK(from_env.listen[1].to_string() == "[::1]:4001");
    CHECK(from_env.data_dir == "/env/data");
    CHECK(from_env.api.to_string() == "127.0.0.1:9000");
    CHECK_FALSE(from_env.metrics);
    REQUIRE(from_env.bootstrap.size() == 2);
    CHECK(from_env.bootstrap[0] == HostPort{"a.example", 1});
    CHECK(from_env.log_level == "debug");
    CHECK(from_env.map_size_bytes == 64u * 1024 * 1024);
    CHECK(from_env.allow_loopback_subnet);  // every listen address is loopback

    RawNodeOptions raw;
    raw.listen = {"0.0.0.0:5000"};
    raw.data = "/flag/data";
    raw.api = "127.0.0.1:9001";
    raw.metrics = "127.0.0.1:9100";
    raw.bootstrap = {"b.example:3"};
    raw.log_level = "warn";
    raw.map_size_mb = "1";
    auto flags = resolve_node_config(raw, env).value();
    REQUIRE(flags.listen.size() == 1);
    CHECK(flags.listen[0].to_string() == "0.0.0.0:5000");
    CHECK(flags.data_dir == "/flag/data");
    CHECK(flags.api.to_string() == "127.0.0.1:9001");
    REQUIRE(flags.metrics);
    CHECK(flags.metrics->to_string() == "127.0.0.1:9100");
    REQUIRE(flags.bootstrap.size() == 1);
    CHECK(flags.bootstrap[0].host == "b.example");
    CHECK(flags.log_level == "warn");
    CHECK(flags.map_size_bytes == 1024u * 1024);
    CHECK_FALSE(flags.allow_loopback_subnet);
}

TEST_CASE("node config: loopback subnets by flag, by env, or automatically", "[unit]") {
    RawNodeOptions raw;
    raw.listen = {"0.0.0.0:0"};
    CHECK_FALSE(resolve_node_config(raw, home_only()).value().allow_loopback_subnet);
    raw.loopback_subnets = true;
    CHECK(resolve_node_config(raw, home_only()).value().allow_loopback_subnet);
    raw.loopback_subnets = false;
    CHECK(resolve_node_config(raw, fake_env({{"HOME", "/h"}, {"KADMIUM_LOOPBACK_SUBNETS", "1"}})).value().allow_loopback_subnet);
    CHECK_FALSE(resolve_node_config(raw, fake_env({{"HOME", "/h"}, {"KADMIUM_LOOPBACK_SUBNETS", "maybe"}})).ok());
    raw.listen = {"127.0.0.1:0", "[::1]:0"};
    CHECK(resolve_node_config(raw, home_only()).value().allow_loopback_subnet);
}

TEST_CASE("node config: bad values name the option and the value", "[unit]") {
    struct Case {
        RawNodeOptions raw;
        std::string expect;
    };
    std::vector<Case> cases;
    auto add = [&](auto set, std::string expect) {
        RawNodeOptions r;
        set(r);
        cases.push_back({r, expect});
    };
    add([](RawNodeOptions& r) { r.listen = {"1.2.3:4"}; }, "--listen 1.2.3:4:");
    add([](RawNodeOptions& r) { r.listen = {"localhost:4000"}; }, "--listen localhost:4000:");
    add([](RawNodeOptions& r) { r.listen = {"0.0.0.0:4000", "0.0.0.0:4000"}; }, "listed twice");
    add([](RawNodeOptions& r) { r.bootstrap = {"nope"}; }, "--bootstrap nope:");
    add([](RawNodeOptions& r) { r.api = "127.0.0.1:99999"; }, "--api 127.0.0.1:99999:");
    add([](RawNodeOptions& r) { r.metrics = "on"; }, "--metrics on:");
    add([](RawNodeOptions& r) { r.log_level = "loud"; }, "--log-level loud:");
    add([](RawNodeOptions& r) { r.map_size_mb = "0"; }, "--map-size-mb 0:");
    add([](RawNodeOptions& r) { r.map_size_mb = "12abc"; }, "--map-size-mb 12abc:");
    add([](RawNodeOptions& r) { r.data = ""; }, "--data");
    for (auto const& c : cases) {
        auto r = resolve_node_config(c.raw, home_only());
        REQUIRE_FALSE(r.ok());
        INFO(r.error());
        CHECK(r.error().find(c.expect) != std::string::npos);
    }
    auto r = resolve_node_config({}, fake_env({{"HOME", "/h"}, {"KADMIUM_LISTEN", "bad"}}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("KADMIUM_LISTEN bad:") == 0);
}

TEST_CASE("node config: --choke-keep, 0 (off) to 8, by flag or env", "[unit]") {
    auto r = resolve_node_config({}, home_only());
    REQUIRE(r.ok());
    CHECK_FALSE(r.value().choke_keep.has_value());  // the protocol's default
    RawNodeOptions raw;
    for (auto [text, keep] : {std::pair{"0", 0}, {"3", 3}, {"8", 8}}) {
        raw.choke_keep = text;
        auto ok = resolve_node_config(raw, home_only());
        REQUIRE(ok.ok());
        CHECK(ok.value().choke_keep == std::optional<std::size_t>(keep));
    }
    for (auto bad : {"9", "-1", "3.5", "on", ""}) {
        raw.choke_keep = bad;
        auto e = resolve_node_config(raw, home_only());
        REQUIRE_FALSE(e.ok());
        INFO(e.error());
        CHECK(e.error().find("--choke-keep") == 0);
        CHECK(e.error().find("expected 0 (choking off) to 8") != std::string::npos);
    }
    auto env = resolve_node_config({}, fake_env({{"HOME", "/h"}, {"KADMIUM_CHOKE_KEEP", "0"}}));
    REQUIRE(env.ok());
    CHECK(env.value().choke_keep == std::optional<std::size_t>(0));
    auto p = parse_cli({"kadmium", "node", "--choke-keep", "2"});
    REQUIRE(p.command);
    CHECK(p.command->node.choke_keep == "2");
}

TEST_CASE("node config: --max-message-kb, 1 to 1024 KiB, by flag or env", "[unit]") {
    auto r = resolve_node_config({}, home_only());
    REQUIRE(r.ok());
    CHECK(r.value().message_max_bytes == 64 * 1024);
    RawNodeOptions raw;
    for (auto [text, bytes] : {std::pair{"1", 1024}, {"1024", 1024 * 1024}, {"256", 256 * 1024}}) {
        raw.max_message_kb = text;
        auto ok = resolve_node_config(raw, home_only());
        REQUIRE(ok.ok());
        CHECK(ok.value().message_max_bytes == static_cast<std::size_t>(bytes));
    }
    // 0 and anything above the wire bound (a link frame carries at most 1 MiB) are errors.
    for (auto bad : {"0", "1025", "1048576", "-1", "64k", ""}) {
        raw.max_message_kb = bad;
        auto e = resolve_node_config(raw, home_only());
        REQUIRE_FALSE(e.ok());
        INFO(e.error());
        CHECK(e.error().find("--max-message-kb") == 0);
        CHECK(e.error().find("from 1 to 1024") != std::string::npos);
    }
    auto env = resolve_node_config({}, fake_env({{"HOME", "/h"}, {"KADMIUM_MAX_MESSAGE_KB", "2"}}));
    REQUIRE(env.ok());
    CHECK(env.value().message_max_bytes == 2048);
    auto env_bad = resolve_node_config({}, fake_env({{"HOME", "/h"}, {"KADMIUM_MAX_MESSAGE_KB", "0"}}));
    REQUIRE_FALSE(env_bad.ok());
    CHECK(env_bad.error().find("KADMIUM_MAX_MESSAGE_KB 0:") == 0);
    auto p = parse_cli({"kadmium", "node", "--max-message-kb", "8"});
    REQUIRE(p.command);
    CHECK(p.command->node.max_message_kb == "8");
}

TEST_CASE("split_list trims and drops empty items", "[unit]") {
    CHECK(split_list(" a, b ,,c ,") == std::vector<std::string>{"a", "b", "c"});
    CHECK(split_list("").empty());
}

TEST_CASE("cli: node flags are collected, repeatable ones included", "[unit]") {
    auto p = parse_cli({"kadmium", "node", "--listen", "127.0.0.1:1", "--listen", "[::1]:2", "--data", "/d", "--api",
                        "127.0.0.1:3", "--metrics", "off", "--bootstrap", "a:1", "--bootstrap", "b:2", "--log-level",
                        "debug", "--map-size-mb", "8", "--loopback-subnets"});
    REQUIRE(p.command);
    auto const& c = *p.command;
    CHECK(c.command == Command::node);
    CHECK(c.node.listen == std::vector<std::string>{"127.0.0.1:1", "[::1]:2"});
    CHECK(c.node.bootstrap == std::vector<std::string>{"a:1", "b:2"});
    CHECK(c.node.data == "/d");
    CHECK(c.node.api == "127.0.0.1:3");
    CHECK(c.node.metrics == "off");
    CHECK(c.node.log_level == "debug");
    CHECK(c.node.map_size_mb == "8");
    CHECK(c.node.loopback_subnets);

    auto bare = parse_cli({"kadmium", "node"});
    REQUIRE(bare.command);
    CHECK_FALSE(bare.command->node.data);
    CHECK(bare.command->node.listen.empty());
}

TEST_CASE("cli: client commands", "[unit]") {
    auto publish = parse_cli({"kadmium", "publish", "chat", "hi"});
    REQUIRE(publish.command);
    CHECK_FALSE(publish.command->no_wait_durable);
    auto fast = parse_cli({"kadmium", "publish", "chat", "-", "--no-wait-durable"});
    REQUIRE(fast.command);
    CHECK(fast.command->no_wait_durable);
    CHECK(fast.command->message == "-");

    auto put = parse_cli({"kadmium", "put", "k", "v", "--ttl", "2h", "--data", "/d"});
    REQUIRE(put.command);
    CHECK(put.command->command == Command::put);
    CHECK(put.command->key == "k");
    CHECK(put.command->value == "v");
    CHECK(put.command->ttl == 7200s);
    CHECK(put.command->client.data == "/d");

    auto status = parse_cli({"kadmium", "status", "--json", "--api", "127.0.0.1:5", "--cookie", "/c"});
    REQUIRE(status.command);
    CHECK(status.command->client.json);
    CHECK(status.command->client.api == "127.0.0.1:5");
    CHECK(status.command->client.cookie == "/c");
    CHECK_FALSE(status.command->client.data);

    std::string const id(64, 'a');
    auto lookup = parse_cli({"kadmium", "lookup", id});
    REQUIRE(lookup.command);
    CHECK(lookup.command->target == id);

    auto dash = parse_cli({"kadmium", "put", "--", "k", "-v"});
    REQUIRE(dash.command);
    CHECK(dash.command->value == "-v");
}

TEST_CASE("cli: bad arguments exit 2 with usage, --help exits 0", "[unit]") {
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"kadmium"},
             {"kadmium", "frobnicate"},
             {"kadmium", "put", "k"},
             {"kadmium", "put", "k", "v", "--ttl", "soon"},
             {"kadmium", "get"},
             {"kadmium", "lookup", "abc"},
             {"kadmium", "status", "--api", "nope"},
             {"kadmium", "node", "--no-such-flag"},
             {"kadmium", "id", "extra"}}) {
        auto p = parse_cli(args);
        INFO((args.size() > 1 ? args[1] : std::string("(none)")));
        CHECK_FALSE(p.command);
        CHECK(p.exit_code == 2);
        CHECK(p.err.find("Usage") != std::string::npos);
    }
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"kadmium", "--help"}, {"kadmium", "node", "--help"}, {"kadmium", "put", "--help"}}) {
        auto p = parse_cli(args);
        CHECK_FALSE(p.command);
        CHECK(p.exit_code == 0);
        CHECK(p.out.find("Usage") != std::string::npos);
    }
}
