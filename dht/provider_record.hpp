// Topic rendezvous, part 1: the topic key and the self-signed provider record of
// PUBSUB-NOTES §5 ("node N serves topic T at these addresses until time E"), its
// canonical encoding, signing and checks. Storers can withhold a record but not forge or
// alter one: the signature covers every field. Not here: what a storer keeps
// (provider_table.hpp) and the RPCs and lookups (dht_node.cpp); docs/protocol.md has the
// byte layout.
#pragma once

#include "core/codec.hpp"
#include "core/signer.hpp"
#include "dht/contact.hpp"
#include "dht/stats.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace dht {

// Domain tags: a topic key never equals a user key (core::key_of hashes the bare name),
// and a provider signature can never be replayed as a signature over anything else.
inline constexpr std::string_view topic_key_domain = "kadmium-topic-v1";
inline constexpr std::string_view provider_signature_domain = "kadmium-provider-v1";

// BLAKE2b-256("kadmium-topic-v1" || name): where a topic's providers meet in the DHT.
Key topic_key(std::string_view name);

// A record lists the node's DHT UDP endpoints; the same port numbers serve its TCP
// pub/sub links. Four cover IPv4 + IPv6 with one spare each.
inline constexpr std::size_t provider_addrs_max = 4;

struct ProviderRecord {
    Key topic;
    NodeId node_id;  // BLAKE2b-256(public_key): derived on decode, never read from the wire
    PublicKey public_key;
    std::vector<Endpoint> addrs;    // 1..provider_addrs_max
    std::uint64_t expires_ms = 0;  // wall time, Unix milliseconds
    core::Signature signature;

    friend bool operator==(ProviderRecord const& a, ProviderRecord const& b) {
        return a.topic == b.topic && a.node_id == b.node_id && a.public_key == b.public_key && a.addrs == b.addrs &&
               a.expires_ms == b.expires_ms && a.signature.bytes == b.signature.bytes;
    }
};

// The exact bytes the signature covers: the domain tag, then the canonical msgpack array
// [topic: bin(32), public_key: bin(32), [address], expires_ms: uint].
core::Bytes provider_signed_bytes(ProviderRecord const& r);

// A record signed by `signer` (addrs must satisfy provider_addrs_max; asserted).
ProviderRecord make_provider_record(core::Signer const& signer, Key const& topic, std::vector<Endpoint> addrs,
                                    std::uint64_t expires_ms);

// Every check a record must pass before anyone stores or uses it, cheapest first:
// addresses, id, expiry in (now, now + lifetime_max], then the signature (~50 µs).
// nullopt when the record is good.
std::optional<ProviderReject> check_provider_record(ProviderRecord const& r, std::uint64_t now_ms,
                                                    std::uint64_t lifetime_max_ms);
// The two halves of check_provider_record, for a holder that checks the cheap fields of
// many records and verifies only those it uses (pub/sub peer exchange).
std::optional<ProviderReject> check_provider_fields(ProviderRecord const& r, std::uint64_t now_ms,
                                                    std::uint64_t lifetime_max_ms);
bool provider_signature_valid(ProviderRecord const& r);

// Wire form: [topic: bin(32), public_key: bin(32), [address] (<= 4), expires_ms: uint,
// signature: bin(64)]. Decoding bounds everything and derives node_id; it does not verify.
void encode_provider_record(core::Writer& w, ProviderRecord const& r);
std::optional<ProviderRecord> decode_provider_record(core::Reader& r);

}  // namespace dht
