// libFuzzer target: dht::wire::decode never crashes or reads out of bounds, and anything
// it accepts re-encodes to bytes that decode to the same message.
#include "dht/wire.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    core::ByteView bytes(reinterpret_cast<std::byte const*>(data), size);
    core::DecodeError error{};
    auto m = dht::wire::decode(bytes, error);
    if (m) {
        auto again = dht::wire::encode(*m);
        core::DecodeError error2{};
        auto m2 = dht::wire::decode(again, error2);
        if (!m2 || dht::wire::encode(*m2) != again) std::abort();
    }
    (void)dht::wire::decode_fragment(bytes, error);
    (void)dht::wire::parse_hello(bytes);
    (void)dht::wire::parse_sealed(bytes);
    return 0;
}
