// The node's local HTTP/1.1 JSON API server (Boost.Beast) on the runtime's io_context.
// Transport only: every request goes to handle_api_request (api_routes.hpp). Bounds: body
// at most api_body_max, headers at most 16 KiB, at most 64 connections (more are closed at
// accept), 60 s per request (a request still waiting then gets 504). Single-threaded: all
// handlers run on the io_context's one thread, like the rest of the runtime.
#pragma once

#include "core/endpoint.hpp"
#include "core/result.hpp"
#include "node/api_routes.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace node {

struct HttpApiLimits {
    std::size_t connections_max = 64;
    std::size_t header_max = 16 * 1024;
    std::size_t body_max = api_body_max;
    // Longer than the DHT's 30 s lookup deadline, so a lookup normally answers first.
    std::chrono::seconds request_timeout{60};
};

class HttpApi {
public:
    // Binds `bind` and starts accepting. `backend` must outlive the server's io_context
    // handlers. Fails with "cannot listen on ADDRESS: reason".
    static core::Result<std::unique_ptr<HttpApi>, std::string> start(boost::asio::io_context& io, core::Endpoint const& bind,
                                                                     std::string cookie, ApiBackend& backend,
                                                                     HttpApiLimits const& limits = {});
    ~HttpApi();
    HttpApi(HttpApi const&) = delete;
    HttpApi& operator=(HttpApi const&) = delete;

    // The address actually bound (the port is real when `bind` had port 0).
    core::Endpoint local_endpoint() const;
    // Stops accepting new connections. Open connections end with the io_context.
    void stop();

private:
    struct Impl;
    explicit HttpApi(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

}  // namespace node
