// An outgoing datagram, as the protocol core hands it to its host.
#pragma once

#include "core/bytes.hpp"
#include "core/endpoint.hpp"

namespace core {

struct Transmit {
    Endpoint to;
    Bytes bytes;
};

}  // namespace core
