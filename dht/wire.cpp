#include "dht/wire.hpp"

#include "core/assert.hpp"

#include <cstring>

namespace dht::wire {

using core::DecodeError;

MsgType response_to(MsgType request) {
    switch (request) {
        case MsgType::ping: return MsgType::pong;
        case MsgType::find_node: return MsgType::nodes;
        case MsgType::find_value: return MsgType::values;
        case MsgType::store: return MsgType::stored;
        case MsgType::announce: return MsgType::announced;
        case MsgType::find_providers: return MsgType::providers;
        default: break;
    }
    CORE_ASSERT(false && "not a request");
    return MsgType::pong;
}

void encode_endpoint(core::Writer& w, Endpoint const& e) {
    std::byte buf[18];
    std::size_t n = e.is_v4() ? 4 : 16;
    std::memcpy(buf, e.addr.data(), n);
    buf[n] = static_cast<std::byte>(e.port >> 8);
    buf[n + 1] = static_cast<std::byte>(e.port & 0xff);
    w.bin({buf, n + 2});
}

std::optional<Endpoint> decode_endpoint(core::Reader& r) {
    auto b = r.bin(18);
    if (!b) return std::nullopt;
    if (b->size() != 6 && b->size() != 18) {
        r.fail(DecodeError::bad_value);
        return std::nullopt;
    }
    Endpoint e;
    std::size_t n = b->size() - 2;
    e.family = n == 4 ? Endpoint::Family::v4 : Endpoint::Family::v6;
    std::memcpy(e.addr.data(), b->data(), n);
    e.port = static_cast<std::uint16_t>((std::to_integer<unsigned>((*b)[n]) << 8) | std::to_integer<unsigned>((*b)[n + 1]));
    return e;
}

namespace {

void encode_id(core::Writer& w, NodeId const& id) { w.bin(id.bytes); }

std::optional<NodeId> decode_id(core::Reader& r) {
    auto b = r.bin_exact(NodeId::size);
    if (!b) return std::nullopt;
    return NodeId::from_span(*b);
}

void encode_contacts(core::Writer& w, std::vector<Contact> const& nodes) {
    CORE_ASSERT(nodes.size() <= contacts_max);
    w.array(static_cast<std::uint32_t>(nodes.size()));
    for (auto const& c : nodes) {
        w.array(2);
        w.bin(c.public_key.bytes);
        encode_endpoint(w, c.address);
    }
}

bool decode_contacts(core::Reader& r, std::vector<Contact>& out) {
    auto n = r.array(contacts_max);
    if (!n) return false;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto pair = r.array(2);
        if (!pair || *pair != 2) {
            r.fail(DecodeError::bad_value);
            return false;
        }
        auto pk = r.bin_exact(32);
        auto addr = decode_endpoint(r);
        if (!pk || !addr) return false;
        core::PublicKey key;
        std::memcpy(key.bytes.data(), pk->data(), 32);
        // The id is derived, never taken from the wire: nobody can claim an id.
        out.push_back(Contact::make(key, *addr));
    }
    return true;
}

// Number of fields after [type, txid] for each message type.
std::uint32_t field_count(MsgType t) {
    switch (t) {
        case MsgType::ping: return 0;
        case MsgType::pong: return 1;
        case MsgType::find_node: return 1;
        case MsgType::nodes: return 1;
        case MsgType::find_value: return 1;
        case MsgType::values: return 2;
        case MsgType::store: return 3;
        case MsgType::stored: return 1;
        case MsgType::announce: return 1;
        case MsgType::announced: return 1;
        case MsgType::find_providers: return 1;
        case MsgType::providers: return 3;
    }
    return 0;
}
// STORE and STORED take one more, optional field: want_nodes and the nodes it asks for.
std::uint32_t field_count(Message const& m) {
    bool const extra = m.want_nodes && (m.type == MsgType::store || m.type == MsgType::stored);
    return field_count(m.type) + (extra ? 1 : 0);
}
bool has_optional_field(MsgType t) { return t == MsgType::store || t == MsgType::stored; }

}  // namespace

core::Bytes encode(Message const& m) {
    core::Bytes out;
    out.reserve(64);
    core::Writer w(out);
    w.array(2 + field_count(m));
    w.uint(static_cast<std::uint8_t>(m.type));
    w.uint(m.txid);
    switch (m.type) {
        case MsgType::ping: break;
        case MsgType::pong:
            if (m.observed) encode_endpoint(w, *m.observed);
            else w.nil();
            break;
        case MsgType::find_node:
        case MsgType::find_value:
        case MsgType::find_providers: encode_id(w, m.target); break;
        case MsgType::nodes: encode_contacts(w, m.nodes); break;
        case MsgType::values:
            CORE_ASSERT(m.values.size() <= values_max);
            w.array(static_cast<std::uint32_t>(m.values.size()));
            for (auto const& v : m.values) w.bin(v);
            encode_contacts(w, m.nodes);
            break;
        case MsgType::store:
            CORE_ASSERT(m.value && m.value->size() <= value_size_max);
            encode_id(w, m.target);
            w.bin(*m.value);
            w.uint(m.ttl_s);
            if (m.want_nodes) w.boolean(true);
            break;
        case MsgType::stored:
            w.boolean(m.accepted);
            if (m.want_nodes) encode_contacts(w, m.nodes);
            break;
        case MsgType::announced: w.boolean(m.accepted); break;
        case MsgType::announce:
            CORE_ASSERT(m.providers.size() == 1);
            encode_provider_record(w, m.providers.front());
            break;
        case MsgType::providers:
            CORE_ASSERT(m.providers.size() <= providers_max);
            w.array(static_cast<std::uint32_t>(m.providers.size()));
            for (auto const& p : m.providers) encode_provider_record(w, p);
            w.uint(m.providers_held);
            encode_contacts(w, m.nodes);
            break;
    }
    return out;
}

std::optional<Message> decode(core::ByteView bytes, DecodeError& error) {
    core::Reader r(bytes);
    Message m;
    auto fields = r.array(2 + 4);
    auto type = r.uint(255);
    auto txid = r.uint(UINT32_MAX);
    if (!fields || !type || !txid) {
        error = r.error();
        return std::nullopt;
    }
    if (*type < 1 || *type > msg_type_max) {
        error = DecodeError::bad_value;
        return std::nullopt;
    }
    m.type = static_cast<MsgType>(*type);
    m.txid = static_cast<std::uint32_t>(*txid);
    m.want_nodes = has_optional_field(m.type) && *fields == 2 + field_count(m.type) + 1;
    if (*fields != 2 + field_count(m.type) && !m.want_nodes) {
        error = DecodeError::bad_value;
        return std::nullopt;
    }
    switch (m.type) {
        case MsgType::ping: break;
        case MsgType::pong:
            if (r.peek_nil()) r.nil();
            else m.observed = decode_endpoint(r);
            break;
        case MsgType::find_node:
        case MsgType::find_value:
        case MsgType::find_providers:
            if (auto id = decode_id(r)) m.target = *id;
            break;
        case MsgType::nodes: decode_contacts(r, m.nodes); break;
        case MsgType::values: {
            auto n = r.array(values_max);
            for (std::uint32_t i = 0; n && i < *n && r.ok(); ++i) {
                auto v = r.bin(value_size_max);
                if (v) m.values.emplace_back(v->begin(), v->end());
            }
            decode_contacts(r, m.nodes);
            break;
        }
        case MsgType::store: {
            if (auto id = decode_id(r)) m.target = *id;
            auto v = r.bin(value_size_max);
            auto ttl = r.uint(UINT32_MAX);
            if (v && ttl) {
                m.value = std::make_shared<core::Bytes const>(v->begin(), v->end());
                m.ttl_s = static_cast<std::uint32_t>(*ttl);
            }
            if (m.want_nodes) {
                // Present means asked: a false is malformed, not a second spelling of absent.
                auto asked = r.boolean();
                if (asked && !*asked) r.fail(DecodeError::bad_value);
            }
            break;
        }
        case MsgType::stored:
            if (auto b = r.boolean()) m.accepted = *b;
            if (m.want_nodes) decode_contacts(r, m.nodes);
            break;
        case MsgType::announced:
            if (auto b = r.boolean()) m.accepted = *b;
            break;
        case MsgType::announce:
            if (auto p = decode_provider_record(r)) m.providers.push_back(std::move(*p));
            break;
        case MsgType::providers: {
            auto n = r.array(providers_max);
            for (std::uint32_t i = 0; n && i < *n && r.ok(); ++i)
                if (auto p = decode_provider_record(r)) m.providers.push_back(std::move(*p));
            if (auto held = r.uint(UINT32_MAX)) m.providers_held = static_cast<std::uint32_t>(*held);
            decode_contacts(r, m.nodes);
            break;
        }
    }
    r.finish();
    if (!r.ok()) {
        error = r.error();
        return std::nullopt;
    }
    return m;
}

core::Bytes encode_hello(core::PublicKey const& sender, std::uint32_t txid) {
    core::Bytes out(hello_size, std::byte{0});
    out[0] = static_cast<std::byte>(protocol_tag);
    out[1] = static_cast<std::byte>(kind_hello);
    std::memcpy(out.data() + 2, sender.bytes.data(), 32);
    for (int i = 0; i < 4; ++i) out[34 + i] = static_cast<std::byte>(txid >> (24 - 8 * i));
    return out;
}

std::optional<HelloView> parse_hello(core::ByteView d) {
    if (d.size() != hello_size) return std::nullopt;
    HelloView h;
    std::memcpy(h.sender.bytes.data(), d.data() + 2, 32);
    for (int i = 0; i < 4; ++i) h.txid = (h.txid << 8) | std::to_integer<std::uint32_t>(d[34 + i]);
    return h;
}

std::uint64_t SealedView::counter() const {
    std::uint64_t c = 0;
    for (int i = 0; i < 8; ++i) c = (c << 8) | std::to_integer<std::uint64_t>(nonce[i]);
    return c;
}

std::uint32_t SealedView::send_time_s() const {
    std::uint32_t t = 0;
    for (int i = 8; i < 12; ++i) t = (t << 8) | std::to_integer<std::uint32_t>(nonce[i]);
    return t;
}

core::PacketCrypto::Nonce make_nonce(std::uint64_t counter, std::uint32_t send_time_s,
                                     std::span<std::byte const, 12> random) {
    core::PacketCrypto::Nonce n;
    for (int i = 0; i < 8; ++i) n[i] = static_cast<std::byte>(counter >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) n[8 + i] = static_cast<std::byte>(send_time_s >> (24 - 8 * i));
    std::memcpy(n.data() + 12, random.data(), 12);
    return n;
}

std::optional<SealedView> parse_sealed(core::ByteView d) {
    if (d.size() < sealed_overhead) return std::nullopt;
    SealedView v;
    std::memcpy(v.sender.bytes.data(), d.data() + 2, 32);
    std::memcpy(v.nonce.data(), d.data() + 34, v.nonce.size());
    v.ciphertext = d.subspan(sealed_header_size);
    return v;
}

core::Bytes encode_sealed(core::PacketCrypto const& crypto, core::SharedKey const& key, core::PublicKey const& sender,
                          core::PacketCrypto::Nonce const& nonce, core::ByteView plaintext) {
    CORE_ASSERT(plaintext.size() <= plaintext_size_max);
    core::Bytes out(sealed_overhead + plaintext.size());
    out[0] = static_cast<std::byte>(protocol_tag);
    out[1] = static_cast<std::byte>(kind_sealed);
    std::memcpy(out.data() + 2, sender.bytes.data(), 32);
    std::memcpy(out.data() + 34, nonce.data(), nonce.size());
    crypto.seal(key, nonce, plaintext, std::span(out).subspan(sealed_header_size));
    return out;
}

core::Bytes encode_fragment(std::uint32_t seq, std::uint32_t index, std::uint32_t count, core::ByteView chunk) {
    CORE_ASSERT(chunk.size() <= fragment_chunk_max && index < count && count <= fragment_count_max);
    core::Bytes out;
    out.reserve(chunk.size() + 16);
    core::Writer w(out);
    w.array(4);
    w.uint(seq);
    w.uint(index);
    w.uint(count);
    w.bin(chunk);
    return out;
}

std::optional<Fragment> decode_fragment(core::ByteView plaintext, DecodeError& error) {
    core::Reader r(plaintext);
    auto n = r.array(4);
    auto seq = r.uint(UINT32_MAX);
    auto index = r.uint(fragment_count_max - 1);
    auto count = r.uint(fragment_count_max);
    auto chunk = r.bin(fragment_chunk_max);
    r.finish();
    if (r.ok() && (*n != 4 || *count == 0 || *index >= *count)) r.fail(DecodeError::bad_value);
    if (!r.ok()) {
        error = r.error();
        return std::nullopt;
    }
    return Fragment{static_cast<std::uint32_t>(*seq), static_cast<std::uint32_t>(*index),
                    static_cast<std::uint32_t>(*count), *chunk};
}

}  // namespace dht::wire
