// The pub/sub client commands: `kadmium subscribe` (an event stream printed line by
// line), `publish` (one message, or each line of stdin on one kept-alive connection,
// the lines already waiting sent as one batch), `unsubscribe` and `topics`. Errors follow
// cli_client.hpp: one line on stderr, exit 2 for bad arguments or no node, 1 when the
// operation failed.
#include "node/api_routes.hpp"
#include "node/beast.hpp"
#include "node/cli_client.hpp"
#include "node/encoding.hpp"
#include "node/json.hpp"
#include "node/net.hpp"

#include <ctime>
#include <deque>
#include <iostream>
#include <sstream>

namespace node {

namespace {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto connect_limit = 5s;
constexpr auto call_limit = 30s;
// One event is one message as JSON: a payload of up to 1 MiB (--max-message-kb 1024) as
// base64, or as escaped text (up to 6 bytes per byte for control characters), plus fields.
constexpr std::size_t event_max = 8 * 1024 * 1024;

ClientError fail(int code, std::string message) { return {code, std::move(message)}; }

}  // namespace

std::string rfc3339_ms(std::int64_t unix_ms) {
    std::time_t const secs = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
    return buf;
}

// The plain line of a message: "TIME FROM: DATA" (FROM is the author id's first 8 hex
// digits; binary data as "base64:...").
std::string message_line(json::Value const& m) {
    auto str = [&](char const* k) {
        auto const* v = m.find(k);
        return v && v->is_string() ? v->text : std::string();
    };
    auto const* ts = m.find("ts");
    std::string line = rfc3339_ms(ts ? static_cast<std::int64_t>(ts->as_uint().value_or(0)) : 0);
    line += " " + str("from").substr(0, 8);
    // Found by catch-up rather than live gossip (it may be older than the lines before it).
    if (auto const* c = m.find("caught_up"); c && c->boolean) line += " [caught up]";
    line += ": ";
    if (str("encoding") == "base64") line += "base64:";
    line += str("data");
    return line;
}

namespace {

// One kept-alive HTTP connection to the node, for a run of requests.
class ApiConnection {
public:
    explicit ApiConnection(ApiTarget const& target) : target_(target) {}

    core::Result<HttpReply, ClientError> call(std::string const& method, std::string const& path, std::string const& body) {
        if (!connected_) {
            if (auto r = connect(); !r) return core::Err(r.error());
        }
        http::request<http::string_body> req{http::verb::unknown, path, 11};
        req.method_string(method);
        req.set(http::field::host, target_.address.to_string());
        req.set(http::field::user_agent, "kadmium-cli");
        req.set(http::field::authorization, "Bearer " + target_.cookie);
        if (!body.empty()) req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.keep_alive(true);
        req.prepare_payload();
        beast::error_code ec;
        stream_->expires_after(call_limit);
        http::write(*stream_, req, ec);
        http::response<http::string_body> res;
        if (!ec) http::read(*stream_, buffer_, res, ec);
        if (ec) {
            connected_ = false;
            return core::Err(fail(1, "talking to the node at " + target_.address.to_string() + ": " + ec.message()));
        }
        if (!res.keep_alive()) connected_ = false;
        return HttpReply{static_cast<unsigned>(res.result_int()), std::move(res.body())};
    }

private:
    core::Result<void, ClientError> connect() {
        beast::error_code ec;
        stream_.emplace(io_);
        stream_->expires_after(connect_limit);
        stream_->connect(to_tcp(target_.address), ec);
        if (ec)
            return core::Err(fail(2, "no node at " + target_.address.to_string() + " (" + target_.origin + "): " + ec.message()));
        beast::error_code ignored;
        stream_->socket().set_option(tcp::no_delay(true), ignored);
        connected_ = true;
        return {};
    }

    ApiTarget const& target_;
    asio::io_context io_{1};
    std::optional<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
    bool connected_ = false;
};

// The exit code of a failed call (the reason printed on `err`), or nullopt on a 200.
std::optional<int> failure(ApiTarget const& target, core::Result<HttpReply, ClientError> const& reply, std::ostream& err) {
    if (!reply) {
        err << "kadmium: " << reply.error().message << "\n";
        return reply.error().exit_code;
    }
    if (reply.value().status == 200) return std::nullopt;
    auto e = reply_error(target, reply.value());
    err << "kadmium: " << e.message << "\n";
    return e.exit_code;
}

std::string_view without_newline(std::string_view t) {
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
    return t;
}

void add_data(json::Writer& w, std::string_view message) {
    if (is_valid_utf8(message)) w.key("data").string(message);
    else w.key("data_b64").string(base64_encode(core::as_bytes(message)));
}

std::string publish_body(std::string const& topic, std::string_view message, bool wait_durable) {
    json::Writer w;
    w.begin_object().key("topic").string(topic);
    add_data(w, message);
    if (!wait_durable) w.key("durable").boolean(false);
    w.end_object();
    return w.take();
}

// Lines of stdin as they arrive. next() waits for one; ready() takes a complete line only
// when its bytes can be read without waiting (in_avail), so the lines a fast producer has
// already written travel in one batch while an interactive one's go one by one.
class LineSource {
public:
    explicit LineSource(std::istream& in) : buf_(*in.rdbuf()) {}

    std::optional<std::string> next() {
        for (;;) {
            int c = buf_.sbumpc();
            if (c == std::char_traits<char>::eof()) {
                if (partial_.empty()) return std::nullopt;
                return take();
            }
            if (c == '\n') return take();
            partial_ += static_cast<char>(c);
        }
    }
    std::optional<std::string> ready() {
        while (buf_.in_avail() > 0) {
            int c = buf_.sbumpc();
            if (c == std::char_traits<char>::eof()) break;
            if (c == '\n') return take();
            partial_ += static_cast<char>(c);
        }
        return std::nullopt;
    }

private:
    std::string take() {
        std::string line = std::move(partial_);
        partial_.clear();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    std::streambuf& buf_;
    std::string partial_;
};

// Lines gathered into one publish: a batch body ("messages") holds at most this many
// bytes (half the node's smallest body limit) and publish_batch_max lines.
constexpr std::size_t batch_body_max = api_body_max / 2;

// A line's bytes in a batch body, at most: twice once escaped (control bytes aside), and
// its object's punctuation.
std::size_t batch_bytes(std::string const& line) { return line.size() * 2 + 16; }

std::string batch_body(std::string const& topic, std::deque<std::string> const& lines, std::size_t n, bool wait_durable) {
    json::Writer w;
    w.begin_object().key("topic").string(topic).key("messages").begin_array();
    for (std::size_t i = 0; i < n; ++i) {
        w.begin_object();
        add_data(w, lines[i]);
        w.end_object();
    }
    w.end_array();
    if (!wait_durable) w.key("durable").boolean(false);
    w.end_object();
    return w.take();
}

void print_receipt(std::ostream& out, json::Value const& r, bool json_out, bool durable) {
    auto const* id = r.find("id");
    std::string const hex = id && id->is_string() ? id->text : "?";
    if (!json_out) {
        out << hex << "\n";
        return;
    }
    json::Writer w;
    w.begin_object().key("id").string(hex);
    for (char const* k : {"seq", "ts", "peers"})
        if (auto const* v = r.find(k); v && v->as_uint()) w.key(k).number(*v->as_uint());
    w.key("durable").boolean(durable);
    w.end_object();
    out << w.take() << "\n";
}

// The error of one line of a batch, worded and coded as if it had been published alone.
ClientError line_error(ApiTarget const& target, unsigned status, std::string const& message) {
    json::Writer w;
    w.begin_object().key("error").string(message).end_object();
    return reply_error(target, HttpReply{status, w.take()});
}

// `kadmium publish TOPIC -`: each line of stdin a message, the ids printed in order. Lines
// already waiting go as one batch publish (sharing a few commits when durable); a line the
// node refuses is reported and the rest go on.
class LinePublisher {
public:
    LinePublisher(CliCommand const& cmd, ApiTarget const& target, std::ostream& out, std::ostream& err)
        : cmd_(cmd), target_(target), conn_(target), out_(out), err_(err), durable_(!cmd.no_wait_durable) {}

    int run(std::istream& in) {
        LineSource source(in);
        for (;;) {
            if (queue_.empty()) {
                auto line = source.next();
                if (!line) break;
                if (line->empty()) continue;
                queue_.push_back(std::move(*line));
            }
            take_waiting(source);
            if (!publish_front()) return 2;  // no node: nothing more will work
        }
        return code_;
    }

private:
    // The lines already readable join the queue (bounded by one batch's worth).
    void take_waiting(LineSource& source) {
        std::size_t bytes = 0;
        for (auto const& line : queue_) bytes += batch_bytes(line);
        while (queue_.size() < publish_batch_max && bytes < batch_body_max) {
            auto line = source.ready();
            if (!line) break;
            if (line->empty()) continue;
            bytes += batch_bytes(*line);
            queue_.push_back(std::move(*line));
        }
    }

    // Publishes the lines at the front that fit one body (one line alone, of any size, is a
    // plain publish). False when the node cannot be reached.
    bool publish_front() {
        std::size_t n = 1;
        for (std::size_t b = batch_bytes(queue_.front()); n < queue_.size() && n < publish_batch_max; ++n) {
            b += batch_bytes(queue_[n]);
            if (b > batch_body_max) break;
        }
        std::string body = n == 1 ? publish_body(cmd_.topic, queue_.front(), durable_)
                                  : batch_body(cmd_.topic, queue_, n, durable_);
        auto reply = conn_.call("POST", "/v1/publish", body);
        if (!reply) {
            report(reply.error());
            if (reply.error().exit_code == 2) return false;
            drop(n);
            return true;
        }
        auto parsed = json::parse(reply.value().body);
        json::Value const v = parsed ? std::move(parsed).value() : json::Value{};
        if (n == 1) {
            if (reply.value().status == 200) print_receipt(out_, v, cmd_.client.json, durable_);
            else report(reply_error(target_, reply.value()));
            drop(1);
        } else {
            on_batch_reply(reply.value(), v, n);
        }
        out_.flush();
        return true;
    }

    // One entry per line the node tried, in order: its receipt or its error. The lines it did
    // not try stay queued, except one its check of the whole batch refused.
    void on_batch_reply(HttpReply const& reply, json::Value const& v, std::size_t n) {
        auto const* entries = v.find("messages");
        if (!entries || entries->type != json::Value::Type::array) {
            // The request itself was refused (a bad topic, ...): every line fails.
            auto error = reply_error(target_, reply);
            error.message += " (" + std::to_string(n) + " lines not published)";
            report(error);
            return drop(n);
        }
        std::size_t tried = 0;
        for (auto const& entry : entries->items) {
            if (tried == n) break;
            if (auto const* e = entry.find("error"); e && e->is_string()) {
                auto const status = entry.find("status") ? entry.find("status")->as_uint() : std::nullopt;
                report(line_error(target_, static_cast<unsigned>(status.value_or(500)), e->text));
            } else {
                print_receipt(out_, entry, cmd_.client.json, durable_);
            }
            ++tried;
        }
        auto const* failed = v.find("failed_index");
        auto const index = failed ? failed->as_uint() : std::nullopt;
        if (reply.status != 200 && index && *index >= tried && *index < n) {
            // Refused before the node tried it (too large, malformed): reported, not sent again.
            auto const* e = v.find("error");
            std::string text = e && e->is_string() ? e->text : std::string();
            if (auto colon = text.find("]: "); text.rfind("messages[", 0) == 0 && colon != std::string::npos)
                text = text.substr(colon + 3);
            report(line_error(target_, reply.status, text));
            queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(*index));
        }
        drop(tried);
    }

    void report(ClientError const& error) {
        err_ << "kadmium: " << error.message << "\n";
        code_ = error.exit_code;
    }
    void drop(std::size_t n) { queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n)); }

    CliCommand const& cmd_;
    ApiTarget const& target_;
    ApiConnection conn_;
    std::ostream& out_;
    std::ostream& err_;
    bool const durable_;
    std::deque<std::string> queue_;  // read, not yet published, in order
    int code_ = 0;                   // the last failure's exit code
};

int publish(CliCommand const& cmd, ApiTarget const& target, std::ostream& out, std::ostream& err, std::istream& in) {
    if (cmd.message == "-") return LinePublisher(cmd, target, out, err).run(in);
    ApiConnection conn(target);
    auto reply = conn.call("POST", "/v1/publish", publish_body(cmd.topic, cmd.message, !cmd.no_wait_durable));
    if (auto code = failure(target, reply, err)) return *code;
    if (cmd.client.json) {
        out << without_newline(reply.value().body) << std::endl;
    } else {
        auto v = json::parse(reply.value().body);
        auto const* id = v ? v.value().find("id") : nullptr;
        out << (id && id->is_string() ? id->text : "?") << std::endl;
    }
    return 0;
}

// Reads the event stream until the node closes it; prints each message.
int subscribe(CliCommand const& cmd, ApiTarget const& target, std::ostream& out, std::ostream& err) {
    asio::io_context io{1};
    tcp::socket socket(io);
    boost::system::error_code ec;
    socket.connect(to_tcp(target.address), ec);
    if (ec) {
        err << "kadmium: no node at " << target.address.to_string() << " (" << target.origin << "): " << ec.message() << "\n";
        return 2;
    }
    std::string query = percent_encode(cmd.topic);
    if (cmd.since) query += "&since=" + percent_encode(*cmd.since);  // replay stored messages first
    std::string request = "GET /v1/subscribe?topic=" + query + " HTTP/1.1\r\nHost: " +
                          target.address.to_string() + "\r\nAuthorization: Bearer " + target.cookie +
                          "\r\nAccept: text/event-stream\r\nUser-Agent: kadmium-cli\r\n\r\n";
    asio::write(socket, asio::buffer(request), ec);
    std::string buf;
    std::array<char, 16 * 1024> chunk;
    bool header_done = false;
    std::string event_name;
    for (;;) {
        auto n = socket.read_some(asio::buffer(chunk), ec);
        if (ec) break;
        buf.append(chunk.data(), n);
        if (!header_done) {
            auto end = buf.find("\r\n\r\n");
            if (end == std::string::npos) {
                if (buf.size() > 64 * 1024) break;
                continue;
            }
            auto const status_line = buf.substr(0, buf.find("\r\n"));
            if (status_line.find(" 200 ") == std::string::npos) {
                // An error answer: read its JSON body to the end and report it.
                std::string body = buf.substr(end + 4);
                while (!ec && body.size() < 64 * 1024) {
                    n = socket.read_some(asio::buffer(chunk), ec);
                    if (!ec) body.append(chunk.data(), n);
                }
                HttpReply reply{0, body};
                auto const sp = status_line.find(' ');
                reply.status = static_cast<unsigned>(std::atoi(status_line.c_str() + (sp == std::string::npos ? 0 : sp + 1)));
                auto e = reply_error(target, reply);
                err << "kadmium: " << e.message << "\n";
                return e.exit_code;
            }
            header_done = true;
            buf.erase(0, end + 4);
        }
        // Events end with a blank line; lines are "field: value".
        for (;;) {
            auto end = buf.find("\n\n");
            if (end == std::string::npos) {
                if (buf.size() > event_max) {
                    err << "kadmium: an event from the node is larger than " << event_max << " bytes\n";
                    return 1;
                }
                break;
            }
            std::string_view ev(buf.data(), end);
            std::string data;
            event_name.clear();
            while (!ev.empty()) {
                auto nl = ev.find('\n');
                auto line = ev.substr(0, nl);
                if (line.substr(0, 6) == "data: ") data = std::string(line.substr(6));
                if (line.substr(0, 7) == "event: ") event_name = std::string(line.substr(7));
                if (nl == std::string_view::npos) break;
                ev.remove_prefix(nl + 1);
            }
            buf.erase(0, end + 2);
            if (event_name == "overflow") {
                err << "kadmium: this subscriber fell behind and the node cut the stream\n";
                return 1;
            }
            if (data.empty()) continue;  // keepalive
            if (cmd.client.json) {
                out << data << std::endl;
            } else if (auto v = json::parse(data); v) {
                out << message_line(v.value()) << std::endl;
            }
        }
    }
    err << "kadmium: the node closed the subscription" << (ec ? ": " + ec.message() : std::string()) << "\n";
    return 1;
}

int simple(CliCommand const& cmd, ApiTarget const& target, std::ostream& out, std::ostream& err) {
    ApiConnection conn(target);
    std::string method = "GET", path = "/v1/topics";
    if (cmd.command == Command::unsubscribe) {
        method = "DELETE";
        path = "/v1/topics/" + percent_encode(cmd.topic);
    }
    auto reply = conn.call(method, path, "");
    if (auto code = failure(target, reply, err)) return *code;
    if (cmd.command == Command::unsubscribe) {
        out << "unsubscribed from " << cmd.topic << "\n";
        return 0;
    }
    if (cmd.client.json) {
        out << without_newline(reply.value().body) << "\n";
        return 0;
    }
    auto v = json::parse(reply.value().body);
    if (!v || !v.value().is_array()) {
        err << "kadmium: the node's answer is not a JSON array\n";
        return 1;
    }
    auto field = [](json::Value const& o, char const* k) {
        auto const* x = o.find(k);
        return x ? x->text : std::string("?");
    };
    for (auto const& t : v.value().items) {
        auto const* sub = t.find("subscribed");
        out << field(t, "topic") << "  " << (sub && sub->boolean ? "subscribed" : "fanout") << "  mesh "
            << field(t, "mesh_peers") << "  peers " << field(t, "known_peers") << "  delivered " << field(t, "delivered")
            << "\n";
    }
    return 0;
}

}  // namespace

bool is_pubsub_command(Command c) {
    return c == Command::subscribe || c == Command::unsubscribe || c == Command::publish || c == Command::topics;
}

int run_pubsub_client(CliCommand const& command, ApiTarget const& target, std::ostream& out, std::ostream& err,
                      std::istream& in) {
    switch (command.command) {
    case Command::publish: return publish(command, target, out, err, in);
    case Command::subscribe: return subscribe(command, target, out, err);
    default: return simple(command, target, out, err);
    }
}

}  // namespace node
