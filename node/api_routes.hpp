// The HTTP API's logic without the HTTP transport: authentication, routing of versioned
// paths, request validation, and JSON rendering of answers. http_api.cpp feeds it parsed
// requests from Beast; tests feed it by hand with a fake ApiBackend. No Asio here.
// Contract: `respond` is called exactly once per request, either before
// handle_api_request returns (errors, id, status, peers) or later from the backend's
// callbacks (put, get, lookup: at the LookupDone; get with first=1: at the first value
// found, or the LookupDone when there is none). GET /v1/get?stream=1 answers at once with
// an event stream: one event per value as it is found, then a summary, then the end.
#pragma once

#include "core/node_id.hpp"
#include "core/time.hpp"
#include "core/result.hpp"
#include "dht/events.hpp"
#include "node/event_stream.hpp"
#include "pubsub/message_store.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace node {

struct ApiRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query, e.g. "/v1/get?key=a%20b"
    std::optional<std::string> authorization;
    std::string body;
    // The Last-Event-ID header of an event-stream client that reconnects.
    std::optional<std::string> last_event_id;
};

struct ApiResponse {
    unsigned status = 200;
    std::string body;  // one JSON text
    // Set for a server-sent-event stream (GET /v1/subscribe): the transport answers 200
    // with text/event-stream and then writes what the stream gives, until the client goes
    // or the stream is cut. `body` is unused then.
    std::shared_ptr<EventStream> stream;
};

struct StatusInfo {
    core::NodeId node_id;
    std::vector<std::string> listen;
    std::string api;
    std::optional<std::string> metrics;
    std::size_t peers = 0;
    std::size_t active_peers = 0;
    std::size_t records = 0;
    std::size_t lookups_in_flight = 0;
    double uptime_s = 0;
    std::string version;
};

struct PeerRow {
    core::NodeId id;
    std::string address;
    std::int64_t last_seen_s_ago = 0;
    unsigned failures = 0;
};

struct PublishInfo {
    core::NodeId id;
    std::uint64_t seq = 0;
    std::int64_t ts_ms = 0;
    std::size_t peers = 0;  // links it was sent on at once
};

struct TopicRow {
    std::string name;
    bool subscribed = false;
    std::size_t mesh_peers = 0;
    std::size_t known_peers = 0;
    std::uint64_t delivered = 0;
};

// A user error from a pub/sub command: the HTTP status and the message.
struct ApiError {
    unsigned status = 400;
    std::string message;
};

// A history query (GET /v1/history), Waku Store v3 style: pages of at most `limit`
// messages of one topic in (ts, id) order. Forward: after `cursor` (exclusive), or from
// `since_ms` (inclusive). Backward: the `limit` messages before `cursor` (exclusive; the
// end when none), not older than `since_ms`. Either way a page is ascending.
struct HistoryQuery {
    std::string topic;
    bool forward = false;
    std::optional<pubsub::StoreCursor> cursor;
    std::optional<std::int64_t> since_ms;
    std::size_t limit = 20;
};
struct HistoryPage {
    std::vector<pubsub::Message> messages;  // ascending
    // Where the next page starts (exclusive): the last item going forward, the first going
    // backward; nullopt when this page reached the end.
    std::optional<pubsub::StoreCursor> next;
};
using PublishDone = std::function<void(core::Result<PublishInfo, ApiError>)>;

// What the API needs from the node. The runtime implements it on top of node::Engine.
class ApiBackend {
public:
    using Done = std::function<void(dht::LookupDone const&)>;
    using Found = std::function<void(dht::ValuesFound const&)>;
    virtual ~ApiBackend() = default;
    virtual StatusInfo status() const = 0;
    virtual std::vector<PeerRow> peers() const = 0;
    virtual std::size_t value_size_max() const = 0;
    virtual core::Duration ttl_default() const = 0;
    virtual core::Duration ttl_max() const = 0;
    // Start a DHT operation; `done` runs once, when its LookupDone comes out of the core.
    virtual void put(core::Key const& key, core::Bytes value, core::Duration ttl, Done done) = 0;
    virtual void get(core::Key const& key, Done done) = 0;
    // A get that hands over values as they are found: `found` runs for each batch of new
    // values, then `done` once; with until_first the lookup ends at its first value. This
    // default (for backends that cannot stream) hands over the LookupDone's values just
    // before it.
    virtual void get_streaming(core::Key const& key, Found found, Done done, bool /*until_first*/) {
        get(key, [found = std::move(found), done = std::move(done)](dht::LookupDone const& d) {
            if (!d.values.empty()) found(dht::ValuesFound{d.id, d.target, d.values});
            done(d);
        });
    }
    virtual void lookup(core::NodeId const& target, Done done) = 0;

    // Pub/sub. Errors carry the HTTP status (400 bad topic, 413 too large, 507 limits).
    virtual std::size_t payload_size_max() const = 0;
    virtual core::Result<PublishInfo, ApiError> publish(std::string const& topic, core::Bytes payload) = 0;
    virtual core::Result<void, ApiError> subscribe(std::string const& topic) = 0;
    virtual void unsubscribe(std::string const& topic) = 0;
    virtual std::vector<TopicRow> topics() const = 0;
    // Subscribes the node when needed and opens an event stream of the topic's messages.
    virtual core::Result<std::shared_ptr<EventStream>, ApiError> open_stream(std::string const& topic) = 0;

    // Durable history (api_history.cpp). The defaults serve backends without a store.
    // Publishes and calls `done` once the message (and its outbox entry) is committed to
    // disk, or with the error; with `wait_durable` false, once both are in the batch that
    // commits next. The default answers at once.
    virtual void publish_durable(std::string const& topic, core::Bytes payload, bool wait_durable, PublishDone done) {
        (void)wait_durable;
        done(publish(topic, std::move(payload)));
    }
    virtual core::Result<HistoryPage, ApiError> history(HistoryQuery const&) {
        return core::Err(ApiError{501, "this node keeps no message history"});
    }
    // Runs `work` later, after what is already waiting (the runtime's event loop), so a long
    // request (a batch publish) goes in slices and does not hold everything else up. The
    // default runs it at once.
    virtual void later(std::function<void()> work) { work(); }
    // Like open_stream, but first replays the stored messages after `after` (exclusive),
    // then goes live; each message once.
    virtual core::Result<std::shared_ptr<EventStream>, ApiError> open_stream_from(std::string const& topic,
                                                                                std::optional<pubsub::StoreCursor>) {
        return open_stream(topic);
    }
};

// Messages in one batch publish (POST /v1/publish with "messages"); the body limit bounds
// their bytes.
inline constexpr std::size_t publish_batch_max = 1000;
// Messages of a batch published in one turn of the event loop (~4 ms here); the rest
// follow in later turns (ApiBackend::later).
inline constexpr std::size_t publish_batch_slice = 64;

// Topic names: 1 to topic_name_max bytes of UTF-8.
inline constexpr std::size_t topic_name_max = 256;
// Bytes one event-stream client may have waiting before it is cut.
inline constexpr std::size_t event_stream_bytes_max = 4 * 1024 * 1024;

// Request body limit: a 64 KiB value as base64 (~87 KiB) plus the key and JSON framing.
// A node configured for larger pub/sub payloads raises it (HttpApiLimits::body_max).
inline constexpr std::size_t api_body_max = 128 * 1024;
// User keys are hashed, so their length does not matter to the DHT; this bounds work.
inline constexpr std::size_t api_key_max = 4096;

// Does `authorization` carry exactly "Bearer <cookie>"? Compares in constant time for a
// given cookie length, so response timing does not leak the cookie. False when the cookie
// is empty.
bool cookie_matches(std::optional<std::string_view> authorization, std::string_view cookie);

// Decodes %XX escapes and '+' (as space, form encoding); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view text);
// Percent-encodes everything but RFC 3986 unreserved characters.
std::string percent_encode(std::string_view text);
// The decoded value of query parameter `name` in `target` (first occurrence).
std::optional<std::string> query_param(std::string_view target, std::string_view name);

// {"error": message}
std::string error_body(std::string_view message);

// Handles one request; see the contract at the top of this file.
void handle_api_request(ApiBackend& backend, std::string_view cookie, ApiRequest const& request,
                        std::function<void(ApiResponse)> respond);

}  // namespace node
