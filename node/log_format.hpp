// The JSON log format (--log-format json): one JSON object per line on stderr, for log
// collectors (Kubernetes, journald, Loki, Elasticsearch):
//   {"ts":"2026-11-29T06:40:00.123Z","level":"info","msg":"..."}
// The time is UTC with milliseconds; the message is escaped by node::json (never invalid
// JSON, whatever bytes a message holds). The text format stays spdlog's pattern (cli.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class formatter;
}

namespace node {

// Appends one log line (with its '\n') for a message logged `unix_ms` milliseconds after
// the Unix epoch.
void append_json_log_line(std::string& out, std::int64_t unix_ms, std::string_view level, std::string_view message);

// An spdlog formatter that writes append_json_log_line's lines.
std::unique_ptr<spdlog::formatter> make_json_log_formatter();

}  // namespace node
