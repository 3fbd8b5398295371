// libFuzzer target: pubsub::decode_rpc never crashes, reads out of bounds or allocates
// past its bounds, and anything it accepts re-encodes canonically: the re-encoding
// decodes to the same Rpc and encodes to the same bytes again.
#include "pubsub/rpc.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    core::ByteView bytes(reinterpret_cast<std::byte const*>(data), size);
    pubsub::RpcLimits const limits;
    auto rpc = pubsub::decode_rpc(bytes, limits);
    if (!rpc) return 0;
    core::Bytes again;
    pubsub::encode(rpc.value(), again);
    auto rpc2 = pubsub::decode_rpc(again, limits);
    if (!rpc2 || !(rpc2.value() == rpc.value())) std::abort();
    core::Bytes third;
    pubsub::encode(rpc2.value(), third);
    if (third != again) std::abort();
    return 0;
}
