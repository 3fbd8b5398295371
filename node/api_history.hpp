// The history part of the HTTP API: GET /v1/history (Waku Store v3 style paging over the
// node's durable message store), the cursor text shared with the event stream's `id:`
// (and so Last-Event-ID), the TIME forms the CLI and API accept, and the query itself on
// an LmdbMessageStore. Transport-free like api_routes.cpp, which dispatches here. Not the
// live stream (api_pubsub.cpp) and not peer-to-peer HISTORY (the lead's catch-up code).
#pragma once

#include "node/api_routes.hpp"
#include "pubsub/message_store.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace store {
class LmdbMessageStore;
}

namespace node {

inline constexpr std::size_t history_page_default = 20;
inline constexpr std::size_t history_page_max = 100;

// "<ts_ms>-<id as 64 hex digits>", e.g. "1764406800123-9f0c…"; parse_cursor accepts exactly
// that form.
std::string cursor_text(pubsub::StoreCursor const& cursor);
std::optional<pubsub::StoreCursor> parse_cursor(std::string_view text);

// A TIME as the CLI and API take it, in unix milliseconds: plain digits are unix ms; a
// duration (30s, 10m, 2h, 7d) means that long before `now_ms`; otherwise RFC 3339
// ("2026-11-29T10:00:00Z", optional fraction, "Z" or "+hh:mm"). nullopt when none fits.
std::optional<std::int64_t> parse_time_ms(std::string_view text, std::int64_t now_ms);

// Runs a query on the store (bounded by query.limit, at most history_page_max).
HistoryPage query_history(store::LmdbMessageStore const& store, HistoryQuery const& query);

// The JSON of a history page: {"topic", "messages": [message_json…, each with "cursor"],
// "next": cursor or null}.
std::string history_json(std::string_view topic, HistoryPage const& page);

// Handles GET /v1/history; false when `path` is another route. `now_ms` for durations.
bool handle_history_request(ApiBackend& backend, std::string_view path, ApiRequest const& request,
                            std::function<void(ApiResponse)>& respond, std::int64_t now_ms);

}  // namespace node
