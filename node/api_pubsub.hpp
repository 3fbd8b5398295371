// The pub/sub part of the HTTP API (POST /v1/publish, GET /v1/subscribe as server-sent
// events, GET /v1/topics, PUT and DELETE /v1/topics/{topic}) and the one JSON form of a
// delivered message, shared by the event stream, the CLI and the simulator's tools.
// Transport-free like api_routes.cpp, which dispatches here.
#pragma once

#include "node/api_routes.hpp"
#include "pubsub/types.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace node {

// {"id", "topic", "from" (author node id), "seq", "ts" (unix ms), "data"} with
// "encoding": "base64" when the payload is not UTF-8 text, and "caught_up": true for a
// message found by catch-up rather than live gossip.
std::string message_json(std::string_view topic, pubsub::Message const& message, bool caught_up = false);

// Is `name` a topic name the API accepts? The error message when not.
std::optional<std::string> topic_name_error(std::string_view name);

// Handles the pub/sub routes; false when `path` is not one of them.
bool handle_pubsub_request(ApiBackend& backend, std::string_view path, ApiRequest const& request,
                           std::function<void(ApiResponse)>& respond);

}  // namespace node
