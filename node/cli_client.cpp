#include "node/cli_client.hpp"

#include "node/api_routes.hpp"
#include "node/beast.hpp"
#include "node/encoding.hpp"
#include "node/json.hpp"
#include "node/net.hpp"

#include <array>
#include <cerrno>
#include <fstream>
#include <iostream>
#include <sstream>

#include <sys/ioctl.h>
#include <unistd.h>

namespace node {

namespace {

namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto connect_timeout = 5s;
constexpr auto quick_timeout = 10s;
// Longer than the server's 60 s per-request timeout, so the server's 504 arrives first.
constexpr auto lookup_timeout = 75s;
// Answers hold at most a few MiB (32 values of 64 KiB as base64, or 5,000 peers).
constexpr std::size_t reply_body_max = 16 * 1024 * 1024;

// Standard input for the client commands, read from fd 0 directly: its in_avail() says
// how many bytes can be read without waiting (FIONREAD: pipes, terminals, files), so
// `publish -` batches the lines a fast producer has already written. std::cin, kept in
// step with C stdio, always says 0.
class StdinBuf : public std::streambuf {
protected:
    int_type underflow() override {
        ssize_t n = 0;
        do n = ::read(STDIN_FILENO, buf_.data(), buf_.size());
        while (n < 0 && errno == EINTR);
        if (n <= 0) return traits_type::eof();
        setg(buf_.data(), buf_.data(), buf_.data() + n);
        return traits_type::to_int_type(buf_[0]);
    }
    std::streamsize showmanyc() override {
        int n = 0;
        return ::ioctl(STDIN_FILENO, FIONREAD, &n) == 0 && n > 0 ? n : 0;
    }

private:
    std::array<char, 64 * 1024> buf_{};
};

std::optional<std::string> read_small_file(fs::path const& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    std::string data(4096, '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<std::size_t>(in.gcount()));
    while (!data.empty() && (data.back() == '\n' || data.back() == '\r' || data.back() == ' ')) data.pop_back();
    return data;
}

std::string lower_first(std::string s) {
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
    return s;
}

ClientError fail(int code, std::string message) { return {code, std::move(message)}; }

}  // namespace

core::Result<ApiTarget, ClientError> locate_node(ClientOptions const& options, EnvLookup const& env) {
    ApiTarget target;
    std::optional<fs::path> cookie_path;
    if (options.cookie) cookie_path = *options.cookie;

    if (options.api) {
        auto e = core::Endpoint::parse(*options.api);
        if (!e) return core::Err(fail(2, "--api " + *options.api + ": expected IP:PORT"));
        target.address = *e;
        target.origin = "from --api";
        if (!cookie_path) {
            if (auto c = env("KADMIUM_COOKIE")) cookie_path = *c;
            else if (options.data) cookie_path = fs::path(*options.data) / "api.cookie";
        }
        if (!cookie_path) return core::Err(fail(2, "--api needs --cookie FILE (or --data DIR, or KADMIUM_COOKIE)"));
    } else {
        auto dir = resolve_data_dir(options.data, env);
        if (!dir) return core::Err(fail(2, dir.error()));
        auto const addr_path = dir.value() / "api.addr";
        std::string error;
        auto text = read_small_file(addr_path, error);
        if (!text)
            return core::Err(fail(2, "no node at " + dir.value().string() + ": cannot read " + addr_path.string() + ": " +
                                         lower_first(error) + " (is `kadmium node --data " + dir.value().string() +
                                         "` running?)"));
        auto e = core::Endpoint::parse(*text);
        if (!e) return core::Err(fail(2, addr_path.string() + ": not an address: \"" + *text + "\""));
        target.address = *e;
        target.origin = "from " + addr_path.string();
        if (!cookie_path) cookie_path = dir.value() / "api.cookie";
    }

    std::string error;
    auto cookie = read_small_file(*cookie_path, error);
    if (!cookie) return core::Err(fail(2, "cannot read the API cookie " + cookie_path->string() + ": " + lower_first(error)));
    if (cookie->empty()) return core::Err(fail(2, "the API cookie " + cookie_path->string() + " is empty"));
    target.cookie = std::move(*cookie);
    return target;
}

core::Result<HttpReply, ClientError> http_call(ApiTarget const& target, std::string const& method, std::string const& path,
                                               std::string const& body, std::chrono::seconds connect_limit,
                                               std::chrono::seconds total_limit) {
    asio::io_context io{1};
    beast::tcp_stream stream(io);
    http::request<http::string_body> req;
    req.version(11);
    req.method_string(method);
    req.target(path);
    req.set(http::field::host, target.address.to_string());
    req.set(http::field::user_agent, "kadmium-cli");
    req.set(http::field::authorization, "Bearer " + target.cookie);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.keep_alive(false);
    req.prepare_payload();

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(reply_body_max);

    enum class Stage { connect, exchange, done } stage = Stage::connect;
    beast::error_code result;
    std::string const where = target.address.to_string() + " (" + target.origin + ")";

    stream.expires_after(connect_limit);
    stream.async_connect(to_tcp(target.address), [&](beast::error_code ec) {
        if (ec) {
            result = ec;
            return;
        }
        stage = Stage::exchange;
        stream.expires_after(total_limit);
        http::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
            if (ec2) {
                result = ec2;
                return;
            }
            http::async_read(stream, buffer, parser, [&](beast::error_code ec3, std::size_t) {
                result = ec3;
                if (!ec3) stage = Stage::done;
            });
        });
    });
    io.run();

    if (stage == Stage::connect) {
        if (result == beast::error::timeout)
            return core::Err(fail(2, "no node at " + where + ": no answer to connect within " +
                                         std::to_string(connect_limit.count()) + " s"));
        return core::Err(fail(2, "no node at " + where + ": " + lower_first(result.message())));
    }
    if (stage == Stage::exchange) {
        if (result == beast::error::timeout)
            return core::Err(fail(1, "the node at " + where + " did not answer within " + std::to_string(total_limit.count()) + " s"));
        return core::Err(fail(1, "talking to the node at " + where + ": " + lower_first(result.message())));
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    auto res = parser.release();
    return HttpReply{static_cast<unsigned>(res.result_int()), std::move(res.body())};
}

// Turns a non-200 reply into an error: the server's {"error": ...} when there is one.
ClientError reply_error(ApiTarget const& target, HttpReply const& reply) {
    std::string message;
    if (auto parsed = json::parse(reply.body); parsed && parsed.value().is_object())
        if (auto const* e = parsed.value().find("error"); e && e->is_string()) message = e->text;
    if (message.empty()) message = "HTTP " + std::to_string(reply.status);
    if (reply.status == 401)
        return fail(2, "the node at " + target.address.to_string() + " (" + target.origin + ") rejected the cookie: " + message);
    if (reply.status == 400 || reply.status == 404 || reply.status == 405 || reply.status == 413)
        return fail(2, "the node rejected the request: " + message);
    return fail(1, "the node failed the request: " + message);
}


namespace {

std::string format_duration(double seconds) {
    auto s = static_cast<long long>(seconds);
    std::ostringstream o;
    if (s >= 86400) o << s / 86400 << "d ";
    if (s >= 3600) o << s / 3600 % 24 << "h ";
    if (s >= 60) o << s / 60 % 60 << "m ";
    o << s % 60 << "s";
    return o.str();
}

std::string str_or(json::Value const* v, std::string fallback = "?") {
    if (v && v->is_string()) return v->text;
    if (v && v->is_number()) return v->text;
    return fallback;
}

}  // namespace

int run_client(CliCommand const& command, EnvLookup const& env, std::ostream& out, std::ostream& err) {
    auto report = [&](ClientError const& e) {
        err << "kadmium: " << e.message << "\n";
        return e.exit_code;
    };
    auto located = locate_node(command.client, env);
    if (!located) return report(located.error());
    auto const& target = located.value();

    if (is_pubsub_command(command.command)) {
        StdinBuf stdin_buf;
        std::istream in(&stdin_buf);
        return run_pubsub_client(command, target, out, err, in);
    }
    if (command.command == Command::history) return run_history_client(command, target, out, err);

    std::string method = "GET", path, body;
    auto timeout = quick_timeout;
    switch (command.command) {
    case Command::id: path = "/v1/id"; break;
    case Command::status: path = "/v1/status"; break;
    case Command::peers: path = "/v1/peers"; break;
    case Command::put: {
        method = "POST";
        path = "/v1/put";
        json::Writer w;
        w.begin_object().key("key").string(command.key);
        if (is_valid_utf8(command.value)) w.key("value").string(command.value);
        else w.key("value_b64").string(base64_encode(core::as_bytes(command.value)));
        if (command.ttl) w.key("ttl_s").number(static_cast<std::uint64_t>(command.ttl->count()));
        w.end_object();
        body = w.take();
        timeout = lookup_timeout;
        break;
    }
    case Command::get:
        path = "/v1/get?key=" + percent_encode(command.key);
        if (command.first) path += "&first=1";
        timeout = lookup_timeout;
        break;
    case Command::lookup:
        path = "/v1/lookup?id=" + command.target;
        timeout = lookup_timeout;
        break;
    case Command::node:
    case Command::subscribe:
    case Command::unsubscribe:
    case Command::publish:
    case Command::topics:
    case Command::history: return 2;  // not here
    }

    auto reply = http_call(target, method, path, body, connect_timeout, timeout);
    if (!reply) return report(reply.error());
    if (reply.value().status != 200) return report(reply_error(target, reply.value()));
    auto const& text = reply.value().body;
    auto parsed = json::parse(text);
    if (!parsed) return report(fail(1, "the node's answer is not JSON: " + parsed.error()));
    auto const& v = parsed.value();

    auto print_json = [&] {
        std::string_view t = text;
        while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
        out << t << "\n";
    };

    switch (command.command) {
    case Command::id:
        out << str_or(v.find("node_id")) << "\n";
        return 0;
    case Command::status: {
        if (command.client.json) {
            print_json();
            return 0;
        }
        std::string listen;
        if (auto const* l = v.find("listen"); l && l->is_array())
            for (auto const& item : l->items) listen += (listen.empty() ? "" : ", ") + str_or(&item);
        auto const* m = v.find("metrics");
        auto const* up = v.find("uptime_s");
        out << "node id   " << str_or(v.find("node_id")) << "\n"
            << "version   " << str_or(v.find("version")) << "\n"
            << "listen    " << listen << "\n"
            << "api       " << str_or(v.find("api")) << "\n"
            << "metrics   " << (m && m->is_string() ? m->text : "off") << "\n"
            << "peers     " << str_or(v.find("peers")) << " (" << str_or(v.find("active_peers")) << " active)\n"
            << "records   " << str_or(v.find("records")) << "\n"
            << "uptime    " << format_duration(up ? up->as_double().value_or(0) : 0) << "\n";
        return 0;
    }
    case Command::peers: {
        if (command.client.json) {
            print_json();
            return 0;
        }
        for (auto const& p : v.items) {
            out << str_or(p.find("id")) << "  " << str_or(p.find("address")) << "  last seen "
                << str_or(p.find("last_seen_s_ago")) << " s ago";
            if (auto const* f = p.find("failures"); f && f->as_uint().value_or(0) > 0) out << ", failed requests: " << f->text;
            out << "\n";
        }
        return 0;
    }
    case Command::put: {
        auto accepted = v.find("accepted") ? v.find("accepted")->as_uint().value_or(0) : 0;
        if (command.client.json) print_json();
        else out << "stored on " << accepted << " of " << str_or(v.find("tried")) << " nodes\n";
        if (accepted == 0) {
            err << "kadmium: no node accepted the value\n";
            return 1;
        }
        return 0;
    }
    case Command::get: {
        std::size_t found = 0;
        // A --first answer carries the one value as "value" or "value_b64".
        if (auto const* one = v.find("value"); one && one->is_string()) {
            if (command.client.json) print_json();
            else out << one->text << "\n";
            return 0;
        }
        if (auto const* one = v.find("value_b64"); one && one->is_string()) {
            if (command.client.json) print_json();
            else if (auto bytes = base64_decode(one->text)) out << core::as_chars(*bytes) << "\n";
            return 0;
        }
        if (auto const* values = v.find("values"); values && values->is_array()) found += values->items.size();
        if (auto const* values = v.find("values_b64"); values && values->is_array()) found += values->items.size();
        if (command.client.json) {
            print_json();
        } else {
            if (auto const* values = v.find("values"); values && values->is_array())
                for (auto const& item : values->items) out << item.text << "\n";
            if (auto const* values = v.find("values_b64"); values && values->is_array())
                for (auto const& item : values->items)
                    if (auto bytes = base64_decode(item.text)) out << core::as_chars(*bytes) << "\n";
        }
        if (found == 0) {
            err << "kadmium: no value found for key \"" << command.key << "\"\n";
            return 1;
        }
        return 0;
    }
    case Command::lookup: {
        auto const* closest = v.find("closest");
        if (command.client.json) print_json();
        else if (closest && closest->is_array())
            for (auto const& c : closest->items) out << str_or(c.find("id")) << "  " << str_or(c.find("address")) << "\n";
        if (!closest || closest->items.empty()) {
            err << "kadmium: the lookup found no nodes\n";
            return 1;
        }
        return 0;
    }
    case Command::node:
    case Command::subscribe:
    case Command::unsubscribe:
    case Command::publish:
    case Command::topics:
    case Command::history: break;
    }
    return 2;
}

}  // namespace node
