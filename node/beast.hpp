// Boost.Beast HTTP, included after node/asio.hpp (see there for why). Only the HTTP API
// server (http_api.cpp) and the CLI's client (cli_client.cpp) include it: Beast is the most
// expensive header set of the project to compile.
#pragma once

#include "node/asio.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace node {
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace node
