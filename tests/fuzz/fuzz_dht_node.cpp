// libFuzzer target: a DhtNode fed arbitrary datagrams never crashes and keeps its tables
// bounded. An input whose first byte is odd is sealed as the plaintext of a packet from
// one of four fixed peers (stand-in crypto, current send time), so the fuzzer reaches the
// fragment, message and RPC code behind authentication; otherwise it is sent raw.
#include "dht/dht_node.hpp"
#include "dht/wire.hpp"
#include "store/mem_store.hpp"

#include <cstdlib>
#include <memory>

namespace {
struct Harness {
    core::PublicKey key{};
    core::StandInCrypto crypto{key};
    store::MemStore store;
    std::unique_ptr<dht::DhtNode> node;
    core::Instant now{};
    Harness() {
        key.bytes[0] = std::byte{1};
        node = std::make_unique<dht::DhtNode>(dht::Config{}, key, crypto, store, core::Rng(1), now,
                                              core::WallClockAnchor{core::Instant{}, core::UnixTime{1'700'000'000}});
    }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    static Harness h;
    h.now = h.now + std::chrono::milliseconds(10);
    if (size == 0) return 0;
    auto peer_index = static_cast<std::uint8_t>(data[0] >> 1) & 3;
    auto from = core::Endpoint::v4(10, 0, peer_index, 1, 4000);
    core::ByteView input(reinterpret_cast<std::byte const*>(data) + 1, size - 1);
    if ((data[0] & 1) && input.size() <= dht::wire::plaintext_size_max) {
        core::PublicKey peer{};
        peer.bytes[0] = std::byte{static_cast<unsigned char>(2 + peer_index)};
        core::StandInCrypto peer_crypto(peer);
        auto key = peer_crypto.shared_key(h.key);
        static std::uint64_t counter = 1;
        ++counter;
        auto now_s = static_cast<std::uint32_t>(1'700'000'000 + h.now.since_origin.count() / 1'000'000);
        std::array<std::byte, 12> random{};
        auto nonce = dht::wire::make_nonce(counter, now_s, random);
        auto packet = dht::wire::encode_sealed(peer_crypto, *key, peer, nonce, input);
        h.node->handle_datagram(h.now, from, packet);
    } else {
        h.node->handle_datagram(h.now, from, input);
    }
    h.node->handle_timeout(h.now);
    while (h.node->poll_transmit()) {}
    while (h.node->poll_event()) {}
    if (h.node->peer_count() > 256 * 20 || h.node->lookups_in_flight() > h.node->config().lookups_max) std::abort();
    return 0;
}
