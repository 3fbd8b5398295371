// Configuration of `kadmium node` and of the client commands: the raw option strings from
// the command line, merged with KADMIUM_* environment variables (a flag wins over the
// environment, the environment over the default), validated into a NodeConfig. Pure: the
// environment comes in as a function so tests can fake it; no CLI11 here (cli.cpp owns
// the command line).
#pragma once

#include "core/endpoint.hpp"
#include "core/result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace node {

// Looks up an environment variable; nullopt when unset. Empty values count as unset.
using EnvLookup = std::function<std::optional<std::string>(char const* name)>;
// The process environment.
std::optional<std::string> process_env(char const* name);

// "HOST:PORT" where HOST is a DNS name, an IPv4 address or a bracketed IPv6 address. Used
// for bootstrap addresses, which node/ resolves (every resolved address is tried).
struct HostPort {
    std::string host;  // without brackets
    std::uint16_t port = 0;
    std::string to_string() const;
    friend bool operator==(HostPort const&, HostPort const&) = default;
};
// Port must be 1..65535; a name must be a plausible DNS name (letters, digits, '-', '.').
std::optional<HostPort> parse_host_port(std::string_view text);

// "30s", "10m", "2h", "1d" or plain seconds ("45"). Positive, at most 10 years; nullopt
// on anything else (including "0", "1.5h", "-1", "1h30m").
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// A decimal integer in [min, max]; nullopt on anything else.
std::optional<std::uint64_t> parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max);

// The log levels --log-level accepts (spdlog's names).
bool is_log_level(std::string_view level);

// What the command line gave for `kadmium node`, before the environment and defaults.
struct RawNodeOptions {
    std::vector<std::string> listen;
    std::vector<std::string> bootstrap;
    std::optional<std::string> data;
    std::optional<std::string> api;
    std::optional<std::string> metrics;
    std::optional<std::string> log_level;
    std::optional<std::string> map_size_mb;
    std::optional<std::string> log_format;
    std::optional<std::string> lan_discovery;
    std::optional<std::string> history_max_mb;
    std::optional<std::string> max_message_kb;
    std::optional<std::string> choke_keep;
    bool loopback_subnets = false;
};

inline constexpr char default_listen[] = "0.0.0.0:4000";
inline constexpr char default_api[] = "127.0.0.1:0";
inline constexpr char default_metrics[] = "127.0.0.1:0";
inline constexpr std::size_t default_map_size_mb = 1024;
inline constexpr std::size_t map_size_mb_max = 1024 * 1024;  // 1 TiB: far above any real need
// --max-message-kb: the default and the largest value, pubsub::payload_wire_max (a link
// frame must carry the largest message; rpc.hpp).
inline constexpr std::size_t default_message_kb = 64;
inline constexpr std::size_t message_kb_max = 1024;
// --choke-keep: at most the mesh's D_hi (pubsub::Config::d_hi); 0 turns choking off.
inline constexpr std::size_t choke_keep_max = 8;

// Lines on stderr: text for people, json (one object per line) for log collectors.
enum class LogFormat : std::uint8_t { text, json };

struct NodeConfig {
    std::vector<core::Endpoint> listen;
    std::vector<HostPort> bootstrap;
    std::filesystem::path data_dir;
    core::Endpoint api;
    std::optional<core::Endpoint> metrics;  // nullopt: "--metrics off"
    std::string log_level = "info";
    LogFormat log_format = LogFormat::text;
    // Find nodes on the LAN by multicast (lan_discovery.hpp). "--lan-discovery auto", the
    // default, turns it on when no bootstrap address is given.
    bool lan_discovery = false;
    std::size_t map_size_bytes = default_map_size_mb * 1024 * 1024;
    // The message history's total size limit (a topic gets half); nullopt: half the map
    // (store::MessageRetention::for_map). Set above what the map holds, the map fills
    // first and publishes are refused (a "full disk").
    std::optional<std::size_t> history_max_bytes;
    // The largest payload this node publishes or accepts (pubsub::RpcLimits::payload_max).
    std::size_t message_max_bytes = default_message_kb * 1024;
    // Mesh peers that keep pushing whole messages to this node (pubsub::Config::choke_keep;
    // docs/protocol.md, "Choking"); 0: choking off; nullopt: the protocol's default.
    std::optional<std::size_t> choke_keep;
    // dht::Config::allow_loopback_subnet: set by --loopback-subnets, or automatically when
    // every listen address is a loopback address (a local test network).
    bool allow_loopback_subnet = false;
};

// The data dir: the flag, else KADMIUM_DATA, else $XDG_DATA_HOME/kadmium (when absolute),
// else $HOME/.local/share/kadmium. Errors when none of them is available.
core::Result<std::filesystem::path, std::string> resolve_data_dir(std::optional<std::string> const& flag,
                                                                  EnvLookup const& env);

// Merges flags, KADMIUM_* variables and defaults, and validates every value. The error
// names the option or variable and the bad value, e.g.
// "--listen 1.2.3:4: expected IP:PORT (numeric IPv4, or [IPv6]:PORT)".
core::Result<NodeConfig, std::string> resolve_node_config(RawNodeOptions const& raw, EnvLookup const& env);

// Splits a comma-separated list, trimming spaces and dropping empty items.
std::vector<std::string> split_list(std::string_view text);

}  // namespace node
