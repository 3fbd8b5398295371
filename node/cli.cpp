#include "node/cli.hpp"

#include "core/node_id.hpp"
#include "node/api_history.hpp"
#include "node/asio_runtime.hpp"
#include "node/cli_client.hpp"
#include "node/log_format.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace node {

namespace {

void add_client_options(CLI::App& sub, ClientOptions& o, std::string& data, std::string& api, std::string& cookie,
                        bool with_json) {
    sub.add_option("--data", data, "data dir of the node to talk to (reads DIR/api.addr and DIR/api.cookie); env KADMIUM_DATA")
        ->type_name("DIR");
    sub.add_option("--api", api, "API address of the node, instead of --data")->type_name("HOST:PORT");
    sub.add_option("--cookie", cookie, "API cookie file (default DIR/api.cookie); env KADMIUM_COOKIE")->type_name("FILE");
    if (with_json) sub.add_flag("--json", o.json, "print JSON");
}

}  // namespace

CliParse parse_cli(std::vector<std::string> const& args) {
    CliParse result;
    CliCommand cmd;

    CLI::App app{"kadmium: a peer-to-peer messaging node.\n"
                 "Run a node with `kadmium node`; the other commands talk to a running node.\n"
                 "Exit codes: 0 success, 1 the operation failed, 2 bad arguments or no node reachable.",
                 "kadmium"};
    app.require_subcommand(1);
    app.failure_message(CLI::FailureMessage::help);

    // --- kadmium node ---
    std::string data, api, metrics, log_level, map_size, log_format, lan_discovery, history_max, message_max, choke_keep;
    auto* node_cmd = app.add_subcommand("node", "Run a node in the foreground (SIGINT/SIGTERM stop it cleanly).");
    node_cmd->add_option("--listen", cmd.node.listen,
                         "UDP address to listen on, repeatable (default 0.0.0.0:4000; port 0 = any free port); env KADMIUM_LISTEN (comma-separated)")
        ->type_name("IP:PORT")
        ->allow_extra_args(false);
    node_cmd->add_option("--data", data, "data dir (default $XDG_DATA_HOME/kadmium or ~/.local/share/kadmium); env KADMIUM_DATA")
        ->type_name("DIR");
    node_cmd->add_option("--api", api, "HTTP API address (default 127.0.0.1:0; the address is written to DIR/api.addr); env KADMIUM_API")
        ->type_name("IP:PORT");
    node_cmd->add_option("--metrics", metrics, "Prometheus /metrics address or \"off\" (default 127.0.0.1:0, written to DIR/metrics.addr); env KADMIUM_METRICS")
        ->type_name("IP:PORT");
    node_cmd->add_option("--bootstrap", cmd.node.bootstrap,
                         "node to join through, repeatable; HOST may be a DNS name; env KADMIUM_BOOTSTRAP (comma-separated)")
        ->type_name("HOST:PORT")
        ->allow_extra_args(false);
    node_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off (default info); env KADMIUM_LOG_LEVEL")
        ->type_name("LEVEL");
    node_cmd->add_option("--log-format", log_format, "text or json (one JSON object per line, for log collectors; default text); env KADMIUM_LOG_FORMAT")
        ->type_name("FORMAT");
    node_cmd->add_option("--lan-discovery", lan_discovery,
                         "find nodes on the LAN by multicast: auto (on when no --bootstrap is given), on or off; env KADMIUM_LAN_DISCOVERY")
        ->type_name("MODE");
    node_cmd->add_option("--map-size-mb", map_size, "LMDB map size in MiB (default 1024); env KADMIUM_MAP_SIZE_MB")->type_name("MIB");
    node_cmd->add_option("--history-max-mb", history_max,
                         "message history size limit in MiB, oldest dropped first (default half the map; a topic gets half); env KADMIUM_HISTORY_MAX_MB")
        ->type_name("MIB");
    node_cmd->add_option("--max-message-kb", message_max,
                         "largest message payload in KiB this node publishes or accepts, 1 to 1024 (default 64); env KADMIUM_MAX_MESSAGE_KB")
        ->type_name("KIB");
    node_cmd->add_option("--choke-keep", choke_keep,
                         "mesh peers that keep pushing whole messages to this node, 0 (choking off) to 8; the others "
                         "announce each message in an IHAVE (default 3; docs/protocol.md, Choking); env KADMIUM_CHOKE_KEEP")
        ->type_name("N");
    node_cmd->add_flag("--loopback-subnets", cmd.node.loopback_subnets,
                       "allow many nodes on 127.0.0.1 in one routing-table bucket (local test networks; automatic when every --listen is loopback); env KADMIUM_LOOPBACK_SUBNETS=1");

    // --- client commands ---
    std::string c_data, c_api, c_cookie, ttl;
    auto* id_cmd = app.add_subcommand("id", "Print the node's id (hex) on the first line.");
    add_client_options(*id_cmd, cmd.client, c_data, c_api, c_cookie, false);
    auto* status_cmd = app.add_subcommand("status", "Show the node's status.");
    add_client_options(*status_cmd, cmd.client, c_data, c_api, c_cookie, true);
    auto* peers_cmd = app.add_subcommand("peers", "List the routing table (id, address, last seen).");
    add_client_options(*peers_cmd, cmd.client, c_data, c_api, c_cookie, true);
    auto* put_cmd = app.add_subcommand("put", "Store VALUE under KEY (hashed with BLAKE2b-256) in the DHT.");
    put_cmd->add_option("key", cmd.key, "key (any text)")->required();
    put_cmd->add_option("value", cmd.value, "value (text; at most 64 KiB)")->required();
    put_cmd->add_option("--ttl", ttl, "time to live: 30s, 10m, 2h, 1d or seconds (default 1h, at most 1d)")->type_name("DURATION");
    add_client_options(*put_cmd, cmd.client, c_data, c_api, c_cookie, true);
    auto* get_cmd = app.add_subcommand("get", "Print every value stored under KEY, one per line.");
    get_cmd->add_option("key", cmd.key, "key (any text)")->required();
    get_cmd->add_flag("--first", cmd.first,
                      "print the first value found and return at once (the node's lookup stops there too)");
    add_client_options(*get_cmd, cmd.client, c_data, c_api, c_cookie, true);
    auto* lookup_cmd = app.add_subcommand("lookup", "Find the k nodes closest to an id.");
    lookup_cmd->add_option("id", cmd.target, "target id: 64 hex digits")->required();
    add_client_options(*lookup_cmd, cmd.client, c_data, c_api, c_cookie, true);

    auto* subscribe_cmd = app.add_subcommand(
        "subscribe", "Subscribe the node to TOPIC (if it is not yet) and print each delivered message as one line, until interrupted.");
    subscribe_cmd->add_option("topic", cmd.topic, "topic name")->required();
    std::string since, last;
    subscribe_cmd->add_option("--since", since, "first print the stored messages since TIME (unix ms, RFC 3339, or a duration like 10m), then go live")
        ->type_name("TIME");
    add_client_options(*subscribe_cmd, cmd.client, c_data, c_api, c_cookie, true);
    auto* history_cmd = app.add_subcommand(
        "history", "Print the node's stored messages of TOPIC, oldest first, in subscribe's line format (default: the last 20).");
    history_cmd->add_option("topic", cmd.topic, "topic name")->required();
    history_cmd->add_option("--last", last, "the last N messages (with --since: the last N since TIME)")->type_name("N");
    history_cmd->add_option("--since", since, "messages since TIME: unix ms, RFC 3339, or a duration like 10m")->type_name("TIME");
    add_client_options(*history_cmd, cmd.client, c_data, c_api, c_cookie, true);
    auto* unsubscribe_cmd = app.add_subcommand("unsubscribe", "Unsubscribe the node from TOPIC.");
    unsubscribe_cmd->add_option("topic", cmd.topic, "topic name")->required();
    add_client_options(*unsubscribe_cmd, cmd.client, c_data, c_api, c_cookie, false);
    auto* publish_cmd = app.add_subcommand(
        "publish", "Publish MESSAGE to TOPIC and print its id; with MESSAGE \"-\", publish each line of stdin as it arrives "
                   "(the lines already waiting go together, in one commit) and print the ids in order.");
    publish_cmd->add_option("topic", cmd.topic, "topic name")->required();
    publish_cmd->add_option("message", cmd.message, "the message text (at most the node's --max-message-kb, 64 KiB by default), or - for stdin lines")->required();
    publish_cmd->add_flag("--no-wait-durable", cmd.no_wait_durable,
                          "return once the node has accepted the message, before it is on the node's disk (it is "
                          "committed a few ms later; a node killed in between may lose it)");
    add_client_options(*publish_cmd, cmd.client, c_data, c_api, c_cookie, true);
    auto* topics_cmd = app.add_subcommand("topics", "List the node's topics with mesh size, known peers and messages delivered.");
    add_client_options(*topics_cmd, cmd.client, c_data, c_api, c_cookie, true);

    std::vector<char const*> argv;
    for (auto const& a : args) argv.push_back(a.c_str());
    std::ostringstream out, err;
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (CLI::ParseError const& e) {
        int code = app.exit(e, out, err);
        result.out = out.str();
        result.err = err.str();
        result.exit_code = code == 0 ? 0 : 2;
        return result;
    }

    auto usage_error = [&](CLI::App const& sub, std::string const& message) {
        result.err = "kadmium " + sub.get_name() + ": " + message + "\n" + sub.help();
        result.exit_code = 2;
        return result;
    };

    if (node_cmd->parsed()) {
        cmd.command = Command::node;
        if (node_cmd->count("--data")) cmd.node.data = data;
        if (node_cmd->count("--api")) cmd.node.api = api;
        if (node_cmd->count("--metrics")) cmd.node.metrics = metrics;
        if (node_cmd->count("--log-level")) cmd.node.log_level = log_level;
        if (node_cmd->count("--map-size-mb")) cmd.node.map_size_mb = map_size;
        if (node_cmd->count("--history-max-mb")) cmd.node.history_max_mb = history_max;
        if (node_cmd->count("--max-message-kb")) cmd.node.max_message_kb = message_max;
        if (node_cmd->count("--choke-keep")) cmd.node.choke_keep = choke_keep;
        if (node_cmd->count("--log-format")) cmd.node.log_format = log_format;
        if (node_cmd->count("--lan-discovery")) cmd.node.lan_discovery = lan_discovery;
        result.command = std::move(cmd);
        return result;
    }

    CLI::App* sub = nullptr;
    for (auto [app_ptr, kind] : {std::pair{id_cmd, Command::id}, {status_cmd, Command::status}, {peers_cmd, Command::peers},
                                 {put_cmd, Command::put}, {get_cmd, Command::get}, {lookup_cmd, Command::lookup},
                                 {subscribe_cmd, Command::subscribe}, {unsubscribe_cmd, Command::unsubscribe},
                                 {publish_cmd, Command::publish}, {topics_cmd, Command::topics},
                                 {history_cmd, Command::history}}) {
        if (app_ptr->parsed()) {
            sub = app_ptr;
            cmd.command = kind;
        }
    }
    if (sub->count("--data")) cmd.client.data = c_data;
    if (sub->count("--api")) cmd.client.api = c_api;
    if (sub->count("--cookie")) cmd.client.cookie = c_cookie;
    if (cmd.client.data && cmd.client.data->empty()) return usage_error(*sub, "--data must not be empty");
    if (cmd.client.api && !core::Endpoint::parse(*cmd.client.api))
        return usage_error(*sub, "--api " + *cmd.client.api + ": expected IP:PORT (numeric IPv4, or [IPv6]:PORT)");
    if (cmd.command == Command::put) {
        if (cmd.key.empty()) return usage_error(*sub, "KEY must not be empty");
        if (sub->count("--ttl")) {
            cmd.ttl = parse_duration(ttl);
            if (!cmd.ttl) return usage_error(*sub, "--ttl " + ttl + ": expected a duration like 30s, 10m, 2h, 1d or plain seconds");
        }
    }
    if (cmd.command == Command::get && cmd.key.empty()) return usage_error(*sub, "KEY must not be empty");
    bool const has_topic = cmd.command == Command::subscribe || cmd.command == Command::unsubscribe ||
                           cmd.command == Command::publish || cmd.command == Command::history;
    auto given = [&](char const* name) {
        auto const* o = sub->get_option_no_throw(name);
        return o != nullptr && o->count() > 0;
    };
    if (given("--since")) {
        if (!parse_time_ms(since, 0)) return usage_error(*sub, "--since " + since + ": expected unix ms, an RFC 3339 time or a duration like 10m");
        cmd.since = since;
    }
    if (given("--last")) {
        auto n = parse_uint(last, 1, 10'000'000);
        if (!n) return usage_error(*sub, "--last " + last + ": expected a number from 1 to 10000000");
        cmd.last = static_cast<std::size_t>(*n);
    }
    if (has_topic && cmd.topic.empty()) return usage_error(*sub, "TOPIC must not be empty");
    if (has_topic && cmd.topic.size() > 256) return usage_error(*sub, "TOPIC is longer than 256 bytes");
    if (cmd.command == Command::lookup && !core::NodeId::from_hex(cmd.target))
        return usage_error(*sub, "ID " + cmd.target + ": expected 64 hex digits");
    result.command = std::move(cmd);
    return result;
}

namespace {

void setup_logging(std::string const& level, LogFormat format) {
    if (format == LogFormat::json) {
        // No colour codes inside JSON strings.
        auto logger = spdlog::stderr_logger_mt("kadmium");
        spdlog::set_default_logger(logger);
        spdlog::set_formatter(make_json_log_formatter());
    } else {
        auto logger = spdlog::stderr_color_mt("kadmium");
        spdlog::set_default_logger(logger);
        spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int run_cli(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    auto parsed = parse_cli(args);
    if (!parsed.command) {
        std::cout << parsed.out;
        std::cerr << parsed.err;
        return parsed.exit_code;
    }
    auto const& cmd = *parsed.command;
    if (cmd.command == Command::node) {
        auto config = resolve_node_config(cmd.node, process_env);
        if (!config) {
            std::cerr << "kadmium node: " << config.error() << "\n";
            return 2;
        }
        setup_logging(config.value().log_level, config.value().log_format);
        int const code = run_node(config.value());
        // The exporter's civetweb threads are still running (run_node leaves them so that
        // shutdown stays under 2 s): leave without static destructors racing them.
        spdlog::shutdown();
        std::cout.flush();
        std::cerr.flush();
        std::fflush(nullptr);
        std::_Exit(code);
    }
    return run_client(cmd, process_env, std::cout, std::cerr);
}

}  // namespace node
