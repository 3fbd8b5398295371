#include "node/node_config.hpp"

#include <charconv>
#include <cstdlib>

namespace node {

std::optional<std::string> process_env(char const* name) {
    char const* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
}

std::string HostPort::to_string() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

std::optional<std::uint64_t> parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    if (v < min || v > max) return std::nullopt;
    return v;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
    HostPort hp;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        hp.host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        // A bracketed host must be an IPv6 address.
        if (!core::Endpoint::parse("[" + hp.host + "]:1")) return std::nullopt;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || colon == 0) return std::nullopt;
        hp.host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (hp.host.size() > 253) return std::nullopt;
        for (char c : hp.host) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
            if (!ok) return std::nullopt;
        }
    }
    auto port = parse_uint(port_text, 1, 65535);
    if (!port || hp.host.empty()) return std::nullopt;
    hp.port = static_cast<std::uint16_t>(*port);
    return hp;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t unit = 1;
    switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: unit = 0; break;
    }
    if (unit != 0) text.remove_suffix(1);
    else unit = 1;
    constexpr std::uint64_t max_s = 10ull * 366 * 86400;
    auto n = parse_uint(text, 1, max_s);
    if (!n || *n > max_s / unit) return std::nullopt;
    return std::chrono::seconds(static_cast<std::int64_t>(*n * unit));
}

bool is_log_level(std::string_view level) {
    for (auto name : {"trace", "debug", "info", "warn", "error", "critical", "off"})
        if (level == name) return true;
    return false;
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

core::Result<std::filesystem::path, std::string> resolve_data_dir(std::optional<std::string> const& flag,
                                                                  EnvLookup const& env) {
    if (flag) {
        if (flag->empty()) return core::Err(std::string("--data: must not be empty"));
        return std::filesystem::path(*flag);
    }
    if (auto v = env("KADMIUM_DATA")) return std::filesystem::path(*v);
    if (auto xdg = env("XDG_DATA_HOME"); xdg && std::filesystem::path(*xdg).is_absolute())
        return std::filesystem::path(*xdg) / "kadmium";
    if (auto home = env("HOME")) return std::filesystem::path(*home) / ".local" / "share" / "kadmium";
    return core::Err(std::string("no data dir: give --data DIR or set KADMIUM_DATA (HOME is not set)"));
}

namespace {

// The flag when given, else the environment variable; `source` says which, for errors.
struct Picked {
    std::optional<std::string> value;
    std::string source;
};
Picked pick(std::optional<std::string> const& flag, char const* flag_name, char const* env_name, EnvLookup const& env) {
    if (flag) return {flag, flag_name};
    if (auto v = env(env_name)) return {v, env_name};
    return {std::nullopt, {}};
}

std::string bad(std::string const& source, std::string const& value, std::string_view expected) {
    return source + " " + (value.empty() ? "\"\"" : value) + ": " + std::string(expected);
}

constexpr std::string_view endpoint_expected = "expected IP:PORT (numeric IPv4, or [IPv6]:PORT; port 0 picks a free port)";

}  // namespace

core::Result<NodeConfig, std::string> resolve_node_config(RawNodeOptions const& raw, EnvLookup const& env) {
    NodeConfig config;

    std::vector<std::string> listen = raw.listen;
    std::string listen_source = "--listen";
    if (listen.empty()) {
        if (auto v = env("KADMIUM_LISTEN")) {
            listen = split_list(*v);
            listen_source = "KADMIUM_LISTEN";
        }
    }
    if (listen.empty()) listen.emplace_back(default_listen);
    for (auto const& text : listen) {
        auto e = core::Endpoint::parse(text);
        if (!e) return core::Err(bad(listen_source, text, endpoint_expected));
        for (auto const& seen : config.listen)
            if (seen == *e && e->port != 0) return core::Err(bad(listen_source, text, "listed twice"));
        config.listen.push_back(*e);
    }

    std::vector<std::string> bootstrap = raw.bootstrap;
    std::string bootstrap_source = "--bootstrap";
    if (bootstrap.empty()) {
        if (auto v = env("KADMIUM_BOOTSTRAP")) {
            bootstrap = split_list(*v);
            bootstrap_source = "KADMIUM_BOOTSTRAP";
        }
    }
    for (auto const& text : bootstrap) {
        auto hp = parse_host_port(text);
        if (!hp) return core::Err(bad(bootstrap_source, text, "expected HOST:PORT (a DNS name, IPv4, or [IPv6]; port 1-65535)"));
        config.bootstrap.push_back(*hp);
    }

    auto data = resolve_data_dir(raw.data, env);
    if (!data) return core::Err(data.error());
    config.data_dir = data.value();

    auto api = pick(raw.api, "--api", "KADMIUM_API", env);
    std::string api_text = api.value.value_or(default_api);
    auto api_ep = core::Endpoint::parse(api_text);
    if (!api_ep) return core::Err(bad(api.source, api_text, endpoint_expected));
    config.api = *api_ep;

    auto metrics = pick(raw.metrics, "--metrics", "KADMIUM_METRICS", env);
    std::string metrics_text = metrics.value.value_or(default_metrics);
    if (metrics_text != "off") {
        auto m = core::Endpoint::parse(metrics_text);
        if (!m) return core::Err(bad(metrics.source, metrics_text, "expected IP:PORT or \"off\""));
        config.metrics = *m;
    }

    auto level = pick(raw.log_level, "--log-level", "KADMIUM_LOG_LEVEL", env);
    if (level.value) {
        if (!is_log_level(*level.value))
            return core::Err(bad(level.source, *level.value, "expected trace, debug, info, warn, error, critical or off"));
        config.log_level = *level.value;
    }

    auto format = pick(raw.log_format, "--log-format", "KADMIUM_LOG_FORMAT", env);
    if (format.value) {
        if (*format.value == "json") config.log_format = LogFormat::json;
        else if (*format.value != "text") return core::Err(bad(format.source, *format.value, "expected text or json"));
    }

    auto lan = pick(raw.lan_discovery, "--lan-discovery", "KADMIUM_LAN_DISCOVERY", env);
    std::string const lan_text = lan.value.value_or("auto");
    if (lan_text == "auto") config.lan_discovery = config.bootstrap.empty();
    else if (lan_text == "on") config.lan_discovery = true;
    else if (lan_text == "off") config.lan_discovery = false;
    else return core::Err(bad(lan.source, lan_text, "expected auto, on or off"));

    auto map = pick(raw.map_size_mb, "--map-size-mb", "KADMIUM_MAP_SIZE_MB", env);
    if (map.value) {
        auto mb = parse_uint(*map.value, 1, map_size_mb_max);
        if (!mb) return core::Err(bad(map.source, *map.value, "expected a size in MiB from 1 to 1048576"));
        config.map_size_bytes = static_cast<std::size_t>(*mb) * 1024 * 1024;
    }

    auto history = pick(raw.history_max_mb, "--history-max-mb", "KADMIUM_HISTORY_MAX_MB", env);
    if (history.value) {
        auto mb = parse_uint(*history.value, 1, map_size_mb_max);
        if (!mb) return core::Err(bad(history.source, *history.value, "expected a size in MiB from 1 to 1048576"));
        config.history_max_bytes = static_cast<std::size_t>(*mb) * 1024 * 1024;
    }

    auto message = pick(raw.max_message_kb, "--max-message-kb", "KADMIUM_MAX_MESSAGE_KB", env);
    if (message.value) {
        auto kb = parse_uint(*message.value, 1, message_kb_max);
        if (!kb)
            return core::Err(bad(message.source, *message.value,
                                 "expected a size in KiB from 1 to " + std::to_string(message_kb_max) +
                                     " (a link frame carries at most a 1 MiB message)"));
        config.message_max_bytes = static_cast<std::size_t>(*kb) * 1024;
    }

    auto choke = pick(raw.choke_keep, "--choke-keep", "KADMIUM_CHOKE_KEEP", env);
    if (choke.value) {
        auto keep = parse_uint(*choke.value, 0, choke_keep_max);
        if (!keep)
            return core::Err(bad(choke.source, *choke.value,
                                 "expected 0 (choking off) to " + std::to_string(choke_keep_max) + " (the mesh's D_hi)"));
        config.choke_keep = static_cast<std::size_t>(*keep);
    }

    bool loopback = raw.loopback_subnets;
    if (!loopback) {
        if (auto v = env("KADMIUM_LOOPBACK_SUBNETS")) {
            if (*v == "1" || *v == "true" || *v == "yes") loopback = true;
            else if (*v != "0" && *v != "false" && *v != "no")
                return core::Err(bad("KADMIUM_LOOPBACK_SUBNETS", *v, "expected 1/true/yes or 0/false/no"));
        }
    }
    bool all_loopback = true;
    for (auto const& e : config.listen) all_loopback = all_loopback && e.is_loopback();
    config.allow_loopback_subnet = loopback || all_loopback;

    return config;
}

}  // namespace node
