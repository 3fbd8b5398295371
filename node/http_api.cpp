// Beast server for the local API, after Beast's http_server_async example: a listener that
// accepts, and one session per connection that reads a request, hands it to the router,
// writes the answer, and reads the next one (keep-alive). The router may answer later (a
// DHT lookup): the session then waits with nothing in flight but its deadline timer.
#include "node/http_api.hpp"

#include "node/beast.hpp"
#include "node/net.hpp"

#include <array>

#include <spdlog/spdlog.h>

namespace node {

using tcp = asio::ip::tcp;

namespace {

// State the listener and its sessions share; sessions may outlive the listener until the
// io_context is destroyed, so they hold it by shared_ptr.
struct Shared {
    ApiBackend& backend;
    std::string cookie;
    HttpApiLimits limits;
    std::size_t connections = 0;
};

constexpr std::chrono::seconds write_timeout{10};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, std::shared_ptr<Shared> shared)
        : stream_(std::move(socket)), deadline_(stream_.get_executor()), shared_(std::move(shared)) {
        ++shared_->connections;
    }
    ~Session() { --shared_->connections; }

    void start() { do_read(); }

private:
    void do_read() {
        parser_.emplace();
        parser_->body_limit(shared_->limits.body_max);
        parser_->header_limit(static_cast<std::uint32_t>(shared_->limits.header_max));
        // Bounds both an idle keep-alive connection and a slow sender.
        stream_.expires_after(shared_->limits.request_timeout);
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::body_limit)
            return send(413, error_body("request body larger than " + std::to_string(shared_->limits.body_max) + " bytes"), false);
        if (ec == http::error::header_limit) return send(431, error_body("request headers too large"), false);
        if (ec && &ec.category() == &http::make_error_code(http::error::bad_target).category() &&
            ec != http::error::end_of_stream && ec != http::error::partial_message)
            return send(400, error_body("malformed HTTP request: " + ec.message()), false);
        if (ec) return close();  // end of stream, timeout, reset: nothing to answer

        stream_.expires_never();
        auto req = parser_->release();
        keep_alive_ = req.keep_alive();
        responded_ = false;
        auto const generation = ++generation_;

        deadline_.expires_after(shared_->limits.request_timeout);
        deadline_.async_wait([self = shared_from_this(), generation](beast::error_code e) {
            if (e || generation != self->generation_ || self->responded_) return;
            self->send(504, error_body("the node did not answer within the request timeout"), false);
        });

        ApiRequest request;
        request.method = std::string(req.method_string());
        request.target = std::string(req.target());
        if (auto it = req.find(http::field::authorization); it != req.end()) request.authorization = std::string(it->value());
        if (auto it = req.find("Last-Event-ID"); it != req.end()) request.last_event_id = std::string(it->value());
        request.body = std::move(req.body());
        handle_api_request(shared_->backend, shared_->cookie, request, [self = shared_from_this(), generation](ApiResponse r) {
            if (generation != self->generation_ || self->responded_) return;
            if (r.stream) return self->start_stream(std::move(r.stream));
            self->send(r.status, std::move(r.body), self->keep_alive_);
        });
    }

    void send(unsigned status, std::string body, bool keep_alive) {
        responded_ = true;
        deadline_.cancel();
        res_ = {};
        res_.version(11);
        res_.result(status);
        res_.set(http::field::server, "kadmium");
        res_.set(http::field::content_type, "application/json");
        res_.set(http::field::cache_control, "no-store");
        if (status == 401) res_.set(http::field::www_authenticate, "Bearer");
        res_.keep_alive(keep_alive);
        res_.body() = std::move(body);
        res_.body() += '\n';
        res_.prepare_payload();
        stream_.expires_after(write_timeout);
        http::async_write(stream_, res_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec || !res_.keep_alive()) return close();
        do_read();
    }

    // --- Server-sent events: the header, then whatever the stream gives, until the client
    // goes (a read ends) or the stream is cut. One write in flight at a time; what arrives
    // meanwhile waits in the EventStream, which bounds it. ---
    void start_stream(std::shared_ptr<EventStream> events) {
        responded_ = true;
        deadline_.cancel();
        events_ = std::move(events);
        std::weak_ptr<Session> weak = shared_from_this();
        events_->set_wake([weak] {
            if (auto self = weak.lock()) self->stream_write();
        });
        out_ = "HTTP/1.1 200 OK\r\nServer: kadmium\r\nContent-Type: text/event-stream\r\n"
               "Cache-Control: no-store\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n";
        out_ += events_->take();
        writing_ = true;
        stream_.expires_never();
        asio::async_write(stream_.socket(), asio::buffer(out_), beast::bind_front_handler(&Session::on_stream_write, shared_from_this()));
        // Any read completing means the client closed (or sent garbage): end the stream.
        stream_.socket().async_read_some(asio::buffer(probe_), [self = shared_from_this()](beast::error_code, std::size_t) {
            self->end_stream();
        });
        arm_keepalive();
    }

    void stream_write() {
        if (writing_ || !events_ || events_->gone()) return;
        out_ = events_->take();
        if (out_.empty()) {
            if (events_->cut()) end_stream();
            return;
        }
        writing_ = true;
        asio::async_write(stream_.socket(), asio::buffer(out_), beast::bind_front_handler(&Session::on_stream_write, shared_from_this()));
    }

    void on_stream_write(beast::error_code ec, std::size_t) {
        writing_ = false;
        if (ec) return end_stream();
        stream_write();
    }

    void arm_keepalive() {
        deadline_.expires_after(std::chrono::seconds(15));
        deadline_.async_wait([self = shared_from_this()](beast::error_code e) {
            if (e || !self->events_ || self->events_->gone()) return;
            self->events_->keepalive();
            self->arm_keepalive();
        });
    }

    void end_stream() {
        if (!events_ || events_->gone()) return;
        events_->client_gone();
        close();
    }

    void close() {
        deadline_.cancel();
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.close();
    }

    beast::tcp_stream stream_;
    asio::steady_timer deadline_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;
    std::shared_ptr<Shared> shared_;
    std::uint64_t generation_ = 0;
    bool keep_alive_ = false;
    bool responded_ = false;
    std::shared_ptr<EventStream> events_;
    std::string out_;
    std::array<char, 64> probe_{};
    bool writing_ = false;
};

}  // namespace

struct HttpApi::Impl : std::enable_shared_from_this<HttpApi::Impl> {
    Impl(asio::io_context& io, std::shared_ptr<Shared> s) : acceptor(io), retry(io), shared(std::move(s)) {}

    void do_accept() {
        acceptor.async_accept(beast::bind_front_handler(&Impl::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) {
            // Out of file descriptors and the like: back off instead of spinning.
            spdlog::warn("api: accept failed: {}", ec.message());
            retry.expires_after(std::chrono::milliseconds(200));
            retry.async_wait([self = shared_from_this()](beast::error_code e) {
                if (!e) self->do_accept();
            });
            return;
        }
        if (shared->connections >= shared->limits.connections_max) {
            spdlog::debug("api: {} connections open, refusing one more", shared->connections);
            beast::error_code ignored;
            socket.close(ignored);
        } else {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<Session>(std::move(socket), shared)->start();
        }
        do_accept();
    }

    tcp::acceptor acceptor;
    asio::steady_timer retry;
    std::shared_ptr<Shared> shared;
    core::Endpoint local;
};

HttpApi::HttpApi(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpApi::~HttpApi() { stop(); }

core::Result<std::unique_ptr<HttpApi>, std::string> HttpApi::start(asio::io_context& io, core::Endpoint const& bind,
                                                                   std::string cookie, ApiBackend& backend,
                                                                   HttpApiLimits const& limits) {
    auto shared = std::make_shared<Shared>(Shared{backend, std::move(cookie), limits, 0});
    auto impl = std::make_shared<Impl>(io, std::move(shared));
    auto const endpoint = to_tcp(bind);
    beast::error_code ec;
    auto fail = [&](char const* what) {
        return core::Err("cannot listen on " + bind.to_string() + " for the API: " + what + ": " + ec.message());
    };
    impl->acceptor.open(endpoint.protocol(), ec);
    if (ec) return fail("open");
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return fail("SO_REUSEADDR");
    impl->acceptor.bind(endpoint, ec);
    if (ec) return fail("bind");
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen");
    impl->local = from_tcp(impl->acceptor.local_endpoint(ec));
    if (ec) return fail("local address");
    impl->do_accept();
    return std::unique_ptr<HttpApi>(new HttpApi(std::move(impl)));
}

core::Endpoint HttpApi::local_endpoint() const { return impl_->local; }

void HttpApi::stop() {
    if (!impl_) return;
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->retry.cancel();
}

}  // namespace node
