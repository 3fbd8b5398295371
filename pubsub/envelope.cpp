#include "pubsub/envelope.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <cstring>

namespace pubsub {

namespace {

void put_be(core::Bytes& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}

std::uint64_t get_be(core::ByteView in, std::size_t at, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(in[at + i]);
    return v;
}

// "kadmium-pubsub-v1:" ‖ signed bytes: the domain tag keeps a message signature from ever
// being valid as any other kind of kadmium signature.
core::Bytes signing_input(core::ByteView signed_part) {
    core::Bytes input;
    input.reserve(envelope_domain.size() + signed_part.size());
    auto const domain = core::as_bytes(envelope_domain);
    input.insert(input.end(), domain.begin(), domain.end());
    input.insert(input.end(), signed_part.begin(), signed_part.end());
    return input;
}

}  // namespace

Message sign_message(core::Identity const& author, TopicKey const& topic, std::uint64_t seqno,
                     std::int64_t ts_ms, core::ByteView payload) {
    CORE_ASSERT(ts_ms >= 0);
    CORE_ASSERT(payload.size() <= UINT32_MAX);
    Message m;
    m.version = envelope_version;
    m.topic = topic;
    m.author = author.public_key;
    m.seqno = seqno;
    m.ts_ms = ts_ms;
    m.payload.assign(payload.begin(), payload.end());

    core::Bytes& out = m.encoded;
    out.reserve(envelope_overhead + payload.size());
    out.push_back(static_cast<std::byte>(m.version));
    out.insert(out.end(), topic.bytes.begin(), topic.bytes.end());
    out.insert(out.end(), m.author.bytes.begin(), m.author.bytes.end());
    put_be(out, seqno, 8);
    put_be(out, static_cast<std::uint64_t>(ts_ms), 8);
    put_be(out, payload.size(), 4);
    out.insert(out.end(), payload.begin(), payload.end());
    m.sig = core::sign(author.secret_key, signing_input(out));
    out.insert(out.end(), m.sig.bytes.begin(), m.sig.bytes.end());
    m.id = core::blake2b_256(out);
    return m;
}

std::optional<EnvelopeError> check_envelope(core::ByteView in, std::size_t payload_max) {
    if (in.size() < envelope_overhead) return EnvelopeError::truncated;
    if (std::to_integer<std::uint8_t>(in[0]) != envelope_version) return EnvelopeError::bad_version;
    std::size_t const payload_len = get_be(in, 81, 4);
    if (payload_len > payload_max) return EnvelopeError::too_large;
    if (in.size() < envelope_overhead + payload_len) return EnvelopeError::truncated;
    if (in.size() > envelope_overhead + payload_len) return EnvelopeError::bad_length;
    if (get_be(in, 73, 8) > static_cast<std::uint64_t>(INT64_MAX)) return EnvelopeError::bad_value;
    return std::nullopt;
}

TopicKey envelope_topic(core::ByteView checked) {
    CORE_ASSERT(checked.size() >= envelope_overhead);
    TopicKey topic;
    std::copy_n(checked.begin() + 1, 32, topic.bytes.begin());
    return topic;
}

std::uint64_t envelope_seqno(core::ByteView checked) {
    CORE_ASSERT(checked.size() >= envelope_overhead);
    std::uint64_t v = 0;
    for (std::size_t i = 65; i < 73; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(checked[i]);
    return v;
}

Message message_of_checked(core::Bytes checked, MessageId const& id) {
    core::ByteView const in = checked;
    CORE_ASSERT(in.size() >= envelope_overhead);
    std::size_t const payload_len = in.size() - envelope_overhead;
    Message m;
    m.version = envelope_version;
    std::copy_n(in.begin() + 1, 32, m.topic.bytes.begin());
    std::copy_n(in.begin() + 33, 32, m.author.bytes.begin());
    m.seqno = get_be(in, 65, 8);
    m.ts_ms = static_cast<std::int64_t>(get_be(in, 73, 8));
    auto const payload = in.subspan(envelope_header_size, payload_len);
    m.payload.assign(payload.begin(), payload.end());
    std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(envelope_header_size + payload_len), 64, m.sig.bytes.begin());
    m.id = id;
    m.encoded = std::move(checked);
    return m;
}

core::Result<Message, EnvelopeError> parse_message(core::ByteView in, std::size_t payload_max) {
    if (auto e = check_envelope(in, payload_max)) return core::Err(*e);
    return message_of_checked(core::Bytes(in.begin(), in.end()), core::blake2b_256(in));
}

bool verify_message(Message const& message) {
    if (message.encoded.size() < envelope_overhead) return false;
    core::ByteView const all = message.encoded;
    auto const signed_part = all.first(all.size() - envelope_sig_size);
    // The signature and author come from the bytes, not from fields a caller may have set.
    core::Signature sig;
    std::copy_n(all.end() - envelope_sig_size, envelope_sig_size, sig.bytes.begin());
    core::PublicKey author;
    std::copy_n(all.begin() + 33, 32, author.bytes.begin());
    return core::verify(author, signing_input(signed_part), sig);
}

}  // namespace pubsub
