// The JSON log line and the spdlog formatter that writes it (see log_format.hpp).
#include "node/log_format.hpp"

#include "node/json.hpp"

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace node {

namespace {

// "2026-11-29T06:40:00.123Z"
std::string utc_timestamp(std::int64_t unix_ms) {
    std::int64_t seconds = unix_ms / 1000;
    std::int64_t ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        --seconds;
    }
    std::time_t const t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

class JsonFormatter final : public spdlog::formatter {
public:
    void format(spdlog::details::log_msg const& msg, spdlog::memory_buf_t& dest) override {
        auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
        auto const level = spdlog::level::to_string_view(msg.level);
        line_.clear();
        append_json_log_line(line_, ms, std::string_view(level.data(), level.size()),
                             std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(line_.data(), line_.data() + line_.size());
    }
    std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }

private:
    std::string line_;
};

}  // namespace

void append_json_log_line(std::string& out, std::int64_t unix_ms, std::string_view level, std::string_view message) {
    out += "{\"ts\":\"";
    out += utc_timestamp(unix_ms);
    out += "\",\"level\":";
    json::write_string(out, level);
    out += ",\"msg\":";
    json::write_string(out, message);
    out += "}\n";
}

std::unique_ptr<spdlog::formatter> make_json_log_formatter() { return std::make_unique<JsonFormatter>(); }

}  // namespace node
