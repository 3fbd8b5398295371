// The DHT's bytes on the wire: packet framing (hello and sealed packets), fragments, and
// the msgpack encoding of every RPC message. Pure functions over bytes; the crypto itself
// is PacketCrypto's (core/crypto.hpp). docs/protocol.md is the byte-level reference and
// must change with this file. Decoding is two-level, after smoltcp: a checked view of the
// packet header, then a validated Message; every length and count is bounded.
#pragma once

#include "core/codec.hpp"
#include "core/crypto.hpp"
#include "dht/contact.hpp"
#include "dht/provider_record.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace dht::wire {

inline constexpr std::uint8_t protocol_tag = 0x01;  // first byte of every DHT datagram
inline constexpr std::uint8_t kind_hello = 0x01;
inline constexpr std::uint8_t kind_sealed = 0x02;

// 1280 bytes is the IPv6 minimum MTU: a packet this size crosses any path unfragmented.
inline constexpr std::size_t packet_size_max = 1280;
// A hello is padded to this size so that the sealed reply (about 90 bytes) is smaller
// than the hello: a spoofed hello cannot be used to amplify traffic.
inline constexpr std::size_t hello_size = 128;
inline constexpr std::size_t sealed_header_size = 2 + 32 + core::PacketCrypto::nonce_size;  // 58
inline constexpr std::size_t sealed_overhead = sealed_header_size + core::PacketCrypto::mac_size;  // 74
inline constexpr std::size_t plaintext_size_max = packet_size_max - sealed_overhead;  // 1206
// Fragment header: msgpack [seq u32, index, count, bin] takes at most 1+5+2+2+3 bytes.
inline constexpr std::size_t fragment_chunk_max = plaintext_size_max - 16;
// 96 fragments carry a STORE of a 64 KiB value with room to spare.
inline constexpr std::size_t fragment_count_max = 96;
inline constexpr std::size_t message_size_max = fragment_chunk_max * fragment_count_max;
// Bounds on what one message may carry.
inline constexpr std::size_t contacts_max = 32;
inline constexpr std::size_t values_max = 64;
inline constexpr std::size_t value_size_max = 64 * 1024;
// A PROVIDERS answer carries at most this many provider records (Config::providers_per_reply
// is 20; the bound leaves room: 32 records of at most 225 bytes and 32 contacts fit in 8
// fragments).
inline constexpr std::size_t providers_max = 32;
// A VALUES response stops adding values past this encoded size, to stay under
// message_size_max with the contact list.
inline constexpr std::size_t values_bytes_budget = message_size_max - 4096;

enum class MsgType : std::uint8_t {
    ping = 1,
    pong = 2,
    find_node = 3,
    nodes = 4,
    find_value = 5,
    values = 6,
    store = 7,
    stored = 8,
    announce = 9,
    announced = 10,
    find_providers = 11,
    providers = 12,
};
inline constexpr std::uint8_t msg_type_max = 12;
inline bool is_request(MsgType t) {
    return t == MsgType::ping || t == MsgType::find_node || t == MsgType::find_value || t == MsgType::store ||
           t == MsgType::announce || t == MsgType::find_providers;
}
// The response type a request expects.
MsgType response_to(MsgType request);

// One RPC message. A flat struct: each type uses the fields its comment names.
struct Message {
    MsgType type = MsgType::ping;
    std::uint32_t txid = 0;
    NodeId target;                                  // find_node target; find_value/store key; find_providers topic
    std::vector<Contact> nodes;                     // nodes, values, providers
    std::vector<core::Bytes> values;                // values
    std::shared_ptr<core::Bytes const> value;       // store (shared: retries and k STOREs)
    std::uint32_t ttl_s = 0;                        // store
    // store: a put's search query: answer with your closest nodes to the key, as for a
    // FIND_NODE (an optional last field on the wire); stored: the answer carries them.
    bool want_nodes = false;
    bool accepted = false;                          // stored, announced
    std::vector<ProviderRecord> providers;          // announce (exactly one), providers
    std::uint32_t providers_held = 0;               // providers: unexpired records the answerer holds for the topic
    std::optional<Endpoint> observed;               // pong: the requester's address as seen
};

core::Bytes encode(Message const& m);
// Decodes one whole message; the Reader's error says why it failed.
std::optional<Message> decode(core::ByteView bytes, core::DecodeError& error);

// Endpoint as 6 (IPv4) or 18 (IPv6) bytes: address then big-endian port.
void encode_endpoint(core::Writer& w, Endpoint const& e);
std::optional<Endpoint> decode_endpoint(core::Reader& r);

// --- Packet framing. ---

struct HelloView {
    core::PublicKey sender;
    std::uint32_t txid = 0;
};
core::Bytes encode_hello(core::PublicKey const& sender, std::uint32_t txid);
// Checked view of a hello packet (whole datagram); nullopt when the length is wrong.
std::optional<HelloView> parse_hello(core::ByteView datagram);

struct SealedView {
    core::PublicKey sender;
    core::PacketCrypto::Nonce nonce;
    core::ByteView ciphertext;
    // Nonce bytes 0..8: the sender's packet counter for this receiver (big-endian).
    std::uint64_t counter() const;
    // Nonce bytes 8..12: the sender's wall time, Unix seconds (big-endian, unsigned).
    std::uint32_t send_time_s() const;
};
std::optional<SealedView> parse_sealed(core::ByteView datagram);
core::Bytes encode_sealed(core::PacketCrypto const& crypto, core::SharedKey const& key, core::PublicKey const& sender,
                          core::PacketCrypto::Nonce const& nonce, core::ByteView plaintext);
// A nonce: counter, send time, then `random` (12 bytes) — see docs/protocol.md.
core::PacketCrypto::Nonce make_nonce(std::uint64_t counter, std::uint32_t send_time_s,
                                     std::span<std::byte const, 12> random);

// The plaintext inside a sealed packet: one fragment of an encoded Message.
struct Fragment {
    std::uint32_t seq = 0;
    std::uint32_t index = 0;
    std::uint32_t count = 1;
    core::ByteView chunk;
};
core::Bytes encode_fragment(std::uint32_t seq, std::uint32_t index, std::uint32_t count, core::ByteView chunk);
std::optional<Fragment> decode_fragment(core::ByteView plaintext, core::DecodeError& error);

}  // namespace dht::wire
