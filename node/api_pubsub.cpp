// Pub/sub API routes; see api_pubsub.hpp.
#include "node/api_pubsub.hpp"

#include "node/api_history.hpp"
#include "node/encoding.hpp"
#include "node/json.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace node {

namespace {

ApiResponse error(unsigned status, std::string_view message) { return {status, error_body(message), nullptr}; }

constexpr std::string_view topics_prefix = "/v1/topics/";

// Where a subscription replays from: nullopt for live only.
core::Result<std::optional<pubsub::StoreCursor>, std::string> replay_start(ApiRequest const& request) {
    auto after = request.last_event_id;
    if (auto a = query_param(request.target, "after")) after = a;
    if (after) {
        auto c = parse_cursor(*after);
        if (!c) return core::Err(std::string("Last-Event-ID (or \"after\") must be an event id of this stream (TS-ID)"));
        return std::optional<pubsub::StoreCursor>(*c);
    }
    if (auto since = query_param(request.target, "since")) {
        auto const now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
        auto ms = parse_time_ms(*since, now_ms);
        if (!ms) return core::Err(std::string("\"since\" must be unix ms, an RFC 3339 time or a duration like 10m"));
        core::NodeId max_id;
        max_id.bytes.fill(std::byte{0xff});
        return std::optional<pubsub::StoreCursor>(pubsub::StoreCursor{*ms - 1, max_id});
    }
    return std::optional<pubsub::StoreCursor>{};
}

// One message's bytes from an object with exactly one of "data" and "data_b64"; `where`
// names the object in the error ("" for the body, "messages[3]: " in a batch).
core::Result<core::Bytes, std::string> payload_of(json::Value const& object, std::string const& where) {
    auto const* text = object.find("data");
    auto const* b64 = object.find("data_b64");
    if ((text != nullptr) == (b64 != nullptr))
        return core::Err(where + "give exactly one of \"data\" (a string) and \"data_b64\" (base64)");
    if (text) {
        auto s = text->as_string();
        if (!s) return core::Err(where + "\"data\" must be a string");
        return core::to_bytes(*s);
    }
    auto s = b64->as_string();
    auto decoded = s ? base64_decode(*s) : std::nullopt;
    if (!decoded) return core::Err(where + "\"data_b64\" must be standard base64 with padding");
    return std::move(*decoded);
}

void write_receipt(json::Writer& w, PublishInfo const& p) {
    w.key("id").string(p.id.hex());
    w.key("seq").number(p.seq);
    w.key("ts").number(p.ts_ms);
    w.key("peers").number(std::uint64_t{p.peers});
}

// A batch's answer waits for every message it published: each one's commit when durable.
// It publishes publish_batch_slice messages a turn (ApiBackend::later between slices). A
// message the node refuses at once (full store, too many topics) ends the batch: the rest
// are not tried. The answer lists every message tried, in order: its receipt, or its error
// (a failed commit fails every message it held); when any failed, the first one's status.
struct BatchPublish : std::enable_shared_from_this<BatchPublish> {
    BatchPublish(ApiBackend& b, std::string t, std::vector<core::Bytes> p, bool durable,
                 std::function<void(ApiResponse)> r)
        : backend(b), topic(std::move(t)), payloads(std::move(p)), wait_durable(durable), respond(std::move(r)),
          results(payloads.size()) {}

    ApiBackend& backend;
    std::string topic;
    std::vector<core::Bytes> payloads;
    bool wait_durable = true;
    std::function<void(ApiResponse)> respond;
    std::vector<std::optional<core::Result<PublishInfo, ApiError>>> results;
    std::size_t attempted = 0;
    std::size_t answered = 0;
    bool all_attempted = false;

    void publish_slice() {
        auto self = shared_from_this();
        for (std::size_t n = 0; n < publish_batch_slice && attempted < payloads.size(); ++n) {
            std::size_t const i = attempted++;
            backend.publish_durable(topic, std::move(payloads[i]), wait_durable,
                                    [self, i](core::Result<PublishInfo, ApiError> r) {
                                        self->results[i] = std::move(r);
                                        ++self->answered;
                                        self->finish_if_done();
                                    });
            // A refusal known at once ends the batch here.
            if (results[i] && !*results[i]) {
                all_attempted = true;
                return finish_if_done();
            }
        }
        if (attempted < payloads.size()) return backend.later([self] { self->publish_slice(); });
        all_attempted = true;
        finish_if_done();
    }

    void finish_if_done() {
        if (!all_attempted || answered != attempted) return;
        json::Writer w;
        w.begin_object();
        std::optional<std::size_t> failed;
        for (std::size_t i = 0; i < attempted && !failed; ++i)
            if (!*results[i]) failed = i;
        if (failed) {
            auto const& e = results[*failed]->error();
            w.key("error").string("messages[" + std::to_string(*failed) + "]: " + e.message);
            w.key("failed_index").number(std::uint64_t{*failed});
        }
        w.key("messages").begin_array();
        for (std::size_t i = 0; i < attempted; ++i) {
            w.begin_object();
            if (*results[i]) {
                write_receipt(w, results[i]->value());
            } else {
                w.key("error").string(results[i]->error().message);
                w.key("status").number(std::uint64_t{results[i]->error().status});
            }
            w.end_object();
        }
        w.end_array();
        w.key("durable").boolean(wait_durable);
        w.end_object();
        respond({failed ? results[*failed]->error().status : 200u, w.take(), nullptr});
    }
};

// A batch refused before any of it was published, because of its message `index`.
ApiResponse batch_item_error(unsigned status, std::size_t index, std::string const& message) {
    json::Writer w;
    w.begin_object();
    w.key("error").string(message);
    w.key("failed_index").number(std::uint64_t{index});
    w.key("messages").begin_array().end_array();
    w.end_object();
    return {status, w.take(), nullptr};
}

void publish_batch(ApiBackend& backend, std::string topic, std::vector<core::Bytes> payloads, bool wait_durable,
                   std::function<void(ApiResponse)>& respond) {
    std::make_shared<BatchPublish>(backend, std::move(topic), std::move(payloads), wait_durable, std::move(respond))
        ->publish_slice();
}

void publish_request(ApiBackend& backend, ApiRequest const& request, std::function<void(ApiResponse)>& respond) {
    json::Limits limits;
    limits.input_max = request.body.size() + 1;
    limits.depth_max = 3;
    limits.values_max = 10 + 3 * publish_batch_max;
    auto parsed = json::parse(request.body, limits);
    if (!parsed) return respond(error(400, "malformed JSON: " + parsed.error()));
    auto const& body = parsed.value();
    if (!body.is_object()) return respond(error(400, "the body must be a JSON object"));
    for (auto const& [name, v] : body.members)
        if (name != "topic" && name != "data" && name != "data_b64" && name != "messages" && name != "durable")
            return respond(error(400, "unknown field \"" + name + "\""));
    auto topic = body.find("topic") ? body.find("topic")->as_string() : std::nullopt;
    if (!topic) return respond(error(400, "\"topic\" must be a string"));
    if (auto e = topic_name_error(*topic)) return respond(error(400, *e));
    // "durable": false answers once the node accepted the message (signed, handed to its
    // links, queued for the next commit a few ms later), like a NATS publish or MQTT QoS 0:
    // for publishers that pace themselves on the answer and do not need the disk's word.
    bool wait_durable = true;
    if (auto const* d = body.find("durable")) {
        if (d->type != json::Value::Type::boolean) return respond(error(400, "\"durable\" must be true or false"));
        wait_durable = d->boolean;
    }
    auto too_large = [&](core::Bytes const& payload, std::string const& where) {
        return where + "the message is " + std::to_string(payload.size()) + " bytes; at most " +
               std::to_string(backend.payload_size_max()) + " are allowed";
    };

    // A batch: {"topic", "messages": [{"data"} or {"data_b64"}, ...]}, all checked before
    // any is published; they share the node's next commits.
    if (auto const* list = body.find("messages")) {
        if (body.find("data") || body.find("data_b64"))
            return respond(error(400, "give either \"messages\" or one message's \"data\" / \"data_b64\""));
        if (list->type != json::Value::Type::array || list->items.empty() || list->items.size() > publish_batch_max)
            return respond(error(400, "\"messages\" must be an array of 1 to " + std::to_string(publish_batch_max) +
                                          " objects"));
        std::vector<core::Bytes> payloads;
        payloads.reserve(list->items.size());
        for (std::size_t i = 0; i < list->items.size(); ++i) {
            auto const& item = list->items[i];
            std::string const where = "messages[" + std::to_string(i) + "]: ";
            if (!item.is_object()) return respond(batch_item_error(400, i, where + "must be an object"));
            for (auto const& [name, v] : item.members)
                if (name != "data" && name != "data_b64")
                    return respond(batch_item_error(400, i, where + "unknown field \"" + name + "\""));
            auto payload = payload_of(item, where);
            if (!payload) return respond(batch_item_error(400, i, payload.error()));
            if (payload.value().size() > backend.payload_size_max())
                return respond(batch_item_error(413, i, too_large(payload.value(), where)));
            payloads.push_back(std::move(payload).value());
        }
        return publish_batch(backend, std::string(*topic), std::move(payloads), wait_durable, respond);
    }

    auto payload = payload_of(body, "");
    if (!payload) return respond(error(400, payload.error()));
    if (payload.value().size() > backend.payload_size_max()) return respond(error(413, too_large(payload.value(), "")));
    // Answered once the message is committed to disk (durable publish), or accepted.
    backend.publish_durable(std::string(*topic), std::move(payload).value(), wait_durable,
                            [respond = std::move(respond), wait_durable](core::Result<PublishInfo, ApiError> r) {
                                if (!r) return respond(error(r.error().status, r.error().message));
                                json::Writer w;
                                w.begin_object();
                                write_receipt(w, r.value());
                                w.key("durable").boolean(wait_durable);
                                w.end_object();
                                respond({200, w.take(), nullptr});
                            });
}

void subscribe_request(ApiBackend& backend, ApiRequest const& request, std::function<void(ApiResponse)>& respond) {
    auto topic = query_param(request.target, "topic");
    if (!topic) return respond(error(400, "query parameter \"topic\" is required (percent-encoded)"));
    if (auto e = topic_name_error(*topic)) return respond(error(400, *e));
    // Replay from the store first: after the cursor a reconnecting client last saw
    // (Last-Event-ID, or ?after=), or from ?since=TIME (see api_history.cpp).
    auto replay = replay_start(request);
    if (!replay) return respond(error(400, replay.error()));
    auto r = replay.value() ? backend.open_stream_from(*topic, *replay.value()) : backend.open_stream(*topic);
    if (!r) return respond(error(r.error().status, r.error().message));
    ApiResponse res;
    res.stream = std::move(r).value();
    respond(std::move(res));
}

ApiResponse topics_response(ApiBackend& backend) {
    json::Writer w;
    w.begin_array();
    for (auto const& t : backend.topics()) {
        w.begin_object();
        w.key("topic").string(t.name);
        w.key("subscribed").boolean(t.subscribed);
        w.key("mesh_peers").number(std::uint64_t{t.mesh_peers});
        w.key("known_peers").number(std::uint64_t{t.known_peers});
        w.key("delivered").number(t.delivered);
        w.end_object();
    }
    w.end_array();
    return {200, w.take(), nullptr};
}

void topic_request(ApiBackend& backend, std::string_view path, ApiRequest const& request,
                   std::function<void(ApiResponse)>& respond) {
    auto topic = percent_decode(path.substr(topics_prefix.size()));
    if (!topic) return respond(error(400, "bad percent-encoding in the topic"));
    if (auto e = topic_name_error(*topic)) return respond(error(400, *e));
    json::Writer w;
    if (request.method == "PUT") {
        auto r = backend.subscribe(*topic);
        if (!r) return respond(error(r.error().status, r.error().message));
        w.begin_object().key("topic").string(*topic).key("subscribed").boolean(true).end_object();
    } else if (request.method == "DELETE") {
        backend.unsubscribe(*topic);
        w.begin_object().key("topic").string(*topic).key("subscribed").boolean(false).end_object();
    } else {
        return respond(error(405, "/v1/topics/{topic} takes PUT (subscribe) or DELETE (unsubscribe)"));
    }
    respond({200, w.take(), nullptr});
}

}  // namespace

std::optional<std::string> topic_name_error(std::string_view name) {
    if (name.empty()) return "the topic name is empty";
    if (name.size() > topic_name_max)
        return "the topic name is " + std::to_string(name.size()) + " bytes; at most " + std::to_string(topic_name_max) +
               " are allowed";
    if (!is_valid_utf8(name)) return "the topic name is not valid UTF-8";
    return std::nullopt;
}

std::string message_json(std::string_view topic, pubsub::Message const& m, bool caught_up) {
    json::Writer w;
    w.begin_object();
    w.key("id").string(m.id.hex());
    w.key("topic").string(topic);
    w.key("from").string(core::node_id_of(m.author).hex());
    w.key("seq").number(m.seqno);
    w.key("ts").number(m.ts_ms);
    auto const text = core::as_chars(m.payload);
    if (is_valid_utf8(text)) {
        w.key("data").string(text);
    } else {
        w.key("data").string(base64_encode(m.payload));
        w.key("encoding").string("base64");
    }
    if (caught_up) w.key("caught_up").boolean(true);
    w.end_object();
    return w.take();
}

bool handle_pubsub_request(ApiBackend& backend, std::string_view path, ApiRequest const& request,
                           std::function<void(ApiResponse)>& respond) {
    auto method = [&](std::string_view m) {
        if (request.method == m) return true;
        respond(error(405, std::string(path) + " takes " + std::string(m)));
        return false;
    };
    if (path == "/v1/publish") {
        if (method("POST")) publish_request(backend, request, respond);
        return true;
    }
    if (path == "/v1/subscribe") {
        if (method("GET")) subscribe_request(backend, request, respond);
        return true;
    }
    if (path == "/v1/topics") {
        if (method("GET")) respond(topics_response(backend));
        return true;
    }
    if (path.substr(0, topics_prefix.size()) == topics_prefix) {
        topic_request(backend, path, request, respond);
        return true;
    }
    return false;
}

}  // namespace node
