// node::TcpLinks: the TCP side of the Asio runtime — listeners on the node's addresses
// (the DHT's port numbers, over TCP), the streams the engine opens and accepts, reads fed
// to the engine, and writes taken from it with TCP_NODELAY, one write in flight per
// stream coalescing everything the engine has queued. It is not the link protocol (the
// engine's link::Session does the handshake, encryption and queueing) and reads no
// clock itself: `now` comes from the runtime.
#pragma once

#include "core/endpoint.hpp"
#include "core/result.hpp"
#include "node/asio.hpp"
#include "node/engine.hpp"

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace node {

class TcpLinks {
public:
    // `now` gives the engine's clock; `after_input` runs after every input the links feed
    // to the engine (the runtime drains the engine's outputs there).
    TcpLinks(asio::io_context& io, std::function<core::Instant()> now, std::function<void()> after_input);
    ~TcpLinks();

    // Binds a listener at `at` (before the engine exists). Fails with a readable reason.
    core::Result<void, std::string> bind(core::Endpoint const& at);
    // Runs before each read is fed to the engine (the runtime opens its store batch there;
    // after_input ends it).
    void set_before_input(std::function<void()> before) { before_input_ = std::move(before); }
    // Starts accepting, feeding `engine`.
    void start(Engine& engine);
    // The engine's stream effects.
    void open(StreamId id, core::Endpoint const& to);
    void close(StreamId id, core::Bytes last_bytes);
    // Starts a write on every stream the engine says has bytes (call after each input).
    void flush();
    // Closes every listener and stream.
    void stop();

    std::size_t open_streams() const { return streams_.size(); }

private:
    struct Stream;
    struct Listener;
    void do_accept(Listener& l);
    void do_read(StreamId id);
    void start_write(StreamId id);
    void write_out(StreamId id, std::shared_ptr<Stream> const& s);
    void drop(StreamId id, bool tell_engine);

    asio::io_context& io_;
    std::function<core::Instant()> now_;
    std::function<void()> after_input_;
    std::function<void()> before_input_;
    Engine* engine_ = nullptr;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::unordered_map<StreamId, std::shared_ptr<Stream>> streams_;
    bool stopped_ = false;
};

}  // namespace node
