// The one project header that includes Boost.Asio. Boost 1.74 with g++ 12 in C++20 mode
// needs <utility> before <boost/asio.hpp> (std::exchange), so every node/ file that needs
// Asio includes this header instead of Asio directly. Only node/ includes it: the protocol
// core (dht/, node/engine.hpp) never sees Asio.
#pragma once

#include <utility>

#include <boost/asio.hpp>

namespace node {
namespace asio = boost::asio;
}  // namespace node
