// Provider records: see provider_record.hpp. The signed bytes are re-encoded from the
// decoded fields (canonical msgpack), so a record that arrived in a non-canonical but
// readable encoding still verifies only if its fields are what was signed.
#include "dht/provider_record.hpp"

#include "core/assert.hpp"
#include "dht/wire.hpp"

#include <cstring>

namespace dht {

Key topic_key(std::string_view name) {
    core::Bytes input = core::to_bytes(topic_key_domain);
    auto n = core::as_bytes(name);
    input.insert(input.end(), n.begin(), n.end());
    return core::blake2b_256(input);
}

namespace {

void encode_signed_fields(core::Writer& w, ProviderRecord const& r) {
    w.bin(r.topic.bytes);
    w.bin(r.public_key.bytes);
    w.array(static_cast<std::uint32_t>(r.addrs.size()));
    for (auto const& a : r.addrs) wire::encode_endpoint(w, a);
    w.uint(r.expires_ms);
}

bool usable(Endpoint const& e) { return e.port != 0 && !e.is_unspecified(); }

}  // namespace

core::Bytes provider_signed_bytes(ProviderRecord const& r) {
    core::Bytes out = core::to_bytes(provider_signature_domain);
    core::Writer w(out);
    w.array(4);
    encode_signed_fields(w, r);
    return out;
}

ProviderRecord make_provider_record(core::Signer const& signer, Key const& topic, std::vector<Endpoint> addrs,
                                    std::uint64_t expires_ms) {
    CORE_ASSERT(!addrs.empty() && addrs.size() <= provider_addrs_max);
    ProviderRecord r;
    r.topic = topic;
    r.public_key = signer.public_key();
    r.node_id = core::node_id_of(r.public_key);
    r.addrs = std::move(addrs);
    r.expires_ms = expires_ms;
    r.signature = signer.sign(provider_signed_bytes(r));
    return r;
}

std::optional<ProviderReject> check_provider_fields(ProviderRecord const& r, std::uint64_t now_ms,
                                                    std::uint64_t lifetime_max_ms) {
    if (r.addrs.empty() || r.addrs.size() > provider_addrs_max) return ProviderReject::bad_addrs;
    for (auto const& a : r.addrs)
        if (!usable(a)) return ProviderReject::bad_addrs;
    if (r.node_id != core::node_id_of(r.public_key)) return ProviderReject::id_mismatch;
    if (r.expires_ms <= now_ms) return ProviderReject::expired;
    if (r.expires_ms - now_ms > lifetime_max_ms) return ProviderReject::expiry_too_far;
    return std::nullopt;
}

bool provider_signature_valid(ProviderRecord const& r) {
    return core::verify(r.public_key, provider_signed_bytes(r), r.signature);
}

std::optional<ProviderReject> check_provider_record(ProviderRecord const& r, std::uint64_t now_ms,
                                                    std::uint64_t lifetime_max_ms) {
    if (auto bad = check_provider_fields(r, now_ms, lifetime_max_ms)) return bad;
    if (!provider_signature_valid(r)) return ProviderReject::bad_signature;
    return std::nullopt;
}

void encode_provider_record(core::Writer& w, ProviderRecord const& r) {
    CORE_ASSERT(r.addrs.size() <= provider_addrs_max);
    w.array(5);
    encode_signed_fields(w, r);
    w.bin(r.signature.bytes);
}

std::optional<ProviderRecord> decode_provider_record(core::Reader& r) {
    auto fields = r.array(5);
    if (fields && *fields != 5) r.fail(core::DecodeError::bad_value);
    auto topic = r.bin_exact(32);
    auto pk = r.bin_exact(32);
    auto n = r.array(provider_addrs_max);
    ProviderRecord rec;
    for (std::uint32_t i = 0; n && i < *n && r.ok(); ++i)
        if (auto e = wire::decode_endpoint(r)) rec.addrs.push_back(*e);
    auto expires = r.uint();
    auto sig = r.bin_exact(64);
    if (!r.ok()) return std::nullopt;
    rec.topic = NodeId::from_span(*topic);
    std::memcpy(rec.public_key.bytes.data(), pk->data(), 32);
    rec.node_id = core::node_id_of(rec.public_key);
    rec.expires_ms = *expires;
    std::memcpy(rec.signature.bytes.data(), sig->data(), 64);
    return rec;
}

}  // namespace dht
