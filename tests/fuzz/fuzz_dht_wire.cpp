// libFuzzer target: dht::wire::decode never crashes or reads out of bounds, and anything
// it accepts re-encodes to bytes that decode to the same message (ANNOUNCE and PROVIDERS
// included). A provider record decoded on its own round-trips too, and its checks
// (signature included) run on whatever decodes.
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
    {
        core::Reader r(bytes);
        if (auto rec = dht::decode_provider_record(r)) {
            core::Bytes again;
            core::Writer w(again);
            dht::encode_provider_record(w, *rec);
            core::Reader r2(again);
            auto rec2 = dht::decode_provider_record(r2);
            if (!rec2 || !(*rec2 == *rec)) std::abort();
            (void)dht::check_provider_record(*rec, 1'700'000'000'000, 7'260'000);
        }
    }
    (void)dht::wire::decode_fragment(bytes, error);
    (void)dht::wire::parse_hello(bytes);
    (void)dht::wire::parse_sealed(bytes);
    return 0;
}
