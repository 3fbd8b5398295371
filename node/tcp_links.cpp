// node::TcpLinks; see tcp_links.hpp.
#include "node/tcp_links.hpp"

#include "node/net.hpp"

#include <spdlog/spdlog.h>

#include <array>

namespace node {

using tcp = asio::ip::tcp;

namespace {
// Bytes taken from the engine per write: large enough to coalesce a burst of frames into
// one syscall, small enough that one stream does not hog the loop.
constexpr std::size_t write_chunk_max = 256 * 1024;
constexpr std::size_t read_buffer_size = 64 * 1024;
}  // namespace

struct TcpLinks::Listener {
    explicit Listener(asio::io_context& io) : acceptor(io) {}
    tcp::acceptor acceptor;
};

struct TcpLinks::Stream {
    explicit Stream(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::array<std::byte, read_buffer_size> in;
    core::Bytes out;          // the write in flight
    core::Bytes final_bytes;  // after a close: the link's last bytes, written after `out`
    bool writing = false;
    bool connected = false;
    bool closing = false;  // the engine closed it: write `out`, then shut down
};

TcpLinks::TcpLinks(asio::io_context& io, std::function<core::Instant()> now, std::function<void()> after_input)
    : io_(io), now_(std::move(now)), after_input_(std::move(after_input)) {}

TcpLinks::~TcpLinks() { stop(); }

core::Result<void, std::string> TcpLinks::bind(core::Endpoint const& at) {
    auto l = std::make_unique<Listener>(io_);
    auto const ep = to_tcp(at);
    boost::system::error_code ec;
    auto fail = [&](char const* what) {
        return core::Err("cannot listen for links on tcp " + at.to_string() + ": " + what + ": " + ec.message());
    };
    l->acceptor.open(ep.protocol(), ec);
    if (ec) return fail("open");
    if (!at.is_v4()) {
        l->acceptor.set_option(asio::ip::v6_only(true), ec);
        if (ec) return fail("IPV6_V6ONLY");
    }
    l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return fail("SO_REUSEADDR");
    l->acceptor.bind(ep, ec);
    if (ec) return fail("bind");
    l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen");
    listeners_.push_back(std::move(l));
    return {};
}

void TcpLinks::start(Engine& engine) {
    engine_ = &engine;
    for (auto& l : listeners_) do_accept(*l);
}

void TcpLinks::do_accept(Listener& l) {
    l.acceptor.async_accept([this, &l](boost::system::error_code ec, tcp::socket socket) {
        if (stopped_ || ec == asio::error::operation_aborted) return;
        if (!ec) {
            boost::system::error_code e;
            auto remote = socket.remote_endpoint(e);
            auto id = e ? std::nullopt : engine_->handle_stream_accepted(now_(), from_tcp(remote));
            if (!id) {
                socket.close(e);  // refused (and counted) by the engine
            } else {
                socket.set_option(tcp::no_delay(true), e);
                auto s = std::make_shared<Stream>(io_);
                s->socket = std::move(socket);
                s->connected = true;
                streams_.emplace(*id, std::move(s));
                do_read(*id);
            }
            after_input_();
        } else {
            spdlog::warn("links: accept failed: {}", ec.message());
        }
        do_accept(l);
    });
}

void TcpLinks::open(StreamId id, core::Endpoint const& to) {
    auto s = std::make_shared<Stream>(io_);
    streams_.emplace(id, s);
    s->socket.async_connect(to_tcp(to), [this, id, s](boost::system::error_code ec) {
        if (stopped_ || s->closing) return;
        if (ec) {
            drop(id, true);
            after_input_();
            return;
        }
        boost::system::error_code e;
        s->socket.set_option(tcp::no_delay(true), e);
        s->connected = true;
        engine_->handle_stream_connected(now_(), id);
        do_read(id);
        after_input_();
    });
}

void TcpLinks::do_read(StreamId id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    auto s = it->second;
    s->socket.async_read_some(asio::buffer(s->in), [this, id, s](boost::system::error_code ec, std::size_t n) {
        if (stopped_ || s->closing) return;
        if (ec) {
            drop(id, true);
        } else {
            if (before_input_) before_input_();
            engine_->handle_stream_bytes(now_(), id, core::ByteView(s->in.data(), n));
            do_read(id);
        }
        after_input_();
    });
}

void TcpLinks::flush() {
    if (engine_ == nullptr) return;
    while (auto id = engine_->poll_writable()) start_write(*id);
}

void TcpLinks::start_write(StreamId id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    auto s = it->second;
    if (s->writing || !s->connected || s->closing) return;
    s->out = engine_->take_stream_bytes(id, write_chunk_max);
    if (!s->out.empty()) write_out(id, s);
}

void TcpLinks::write_out(StreamId id, std::shared_ptr<Stream> const& s) {
    s->writing = true;
    asio::async_write(s->socket, asio::buffer(s->out), [this, id, s](boost::system::error_code ec, std::size_t) {
        s->writing = false;
        s->out.clear();
        if (stopped_) return;
        if (s->closing) {
            // The engine has closed the stream: its final bytes, then the socket.
            if (!ec && !s->final_bytes.empty()) {
                s->out = std::move(s->final_bytes);
                s->final_bytes.clear();
                return write_out(id, s);
            }
            return drop(id, false);
        }
        if (ec) {
            drop(id, true);
            after_input_();
            return;
        }
        start_write(id);
    });
}

void TcpLinks::close(StreamId id, core::Bytes last_bytes) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    auto s = it->second;
    s->closing = true;
    if (!s->connected) return drop(id, false);
    s->final_bytes = std::move(last_bytes);
    if (s->writing) return;  // the write in flight sends them next
    if (s->final_bytes.empty()) return drop(id, false);
    s->out = std::move(s->final_bytes);
    s->final_bytes.clear();
    write_out(id, s);
}

void TcpLinks::drop(StreamId id, bool tell_engine) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    auto s = it->second;
    streams_.erase(it);
    boost::system::error_code ignored;
    s->socket.shutdown(tcp::socket::shutdown_both, ignored);
    s->socket.close(ignored);
    if (tell_engine && engine_) engine_->handle_stream_closed(now_(), id);
}

void TcpLinks::stop() {
    if (stopped_) return;
    stopped_ = true;
    boost::system::error_code ignored;
    for (auto& l : listeners_) l->acceptor.close(ignored);
    for (auto& [id, s] : streams_) s->socket.close(ignored);
    streams_.clear();
}

}  // namespace node
