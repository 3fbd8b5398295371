// The pub/sub Rpc codec: the canonical msgpack layout of one link frame (docs/protocol.md,
// "Pub/sub", is the byte-level reference and changes with this file). Not the envelope
// parser (the messages stay opaque bytes here) and not the link framing.
//
// Layout: [version, subscriptions, messages, graft, prune, ihave, iwant, idontwant, sync,
// fetch, fetched, records, flooded, choke], every
// field always present (an empty array when unused), so one Rpc has exactly one encoding.
// Every count is checked against RpcLimits by the Reader before anything is reserved.
#include "pubsub/rpc.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <limits>

namespace pubsub {

using core::DecodeError;

bool Rpc::empty() const {
    return subscriptions.empty() && messages.empty() && graft.empty() && prune.empty() && ihave.empty() &&
           iwant.empty() && idontwant.empty() && sync.empty() && fetch.empty() && fetched.empty() &&
           records.empty() && flooded.empty() && choke.empty();
}

namespace {

constexpr std::uint32_t rpc_field_count = 14;

// A count the encoder writes: msgpack arrays hold at most 2^32 - 1 elements.
std::uint32_t count_of(std::size_t n) {
    CORE_ASSERT(n <= std::numeric_limits<std::uint32_t>::max());
    return static_cast<std::uint32_t>(n);
}

// A limit handed to the Reader (a node may configure any size_t).
std::uint32_t bound(std::size_t limit) {
    return static_cast<std::uint32_t>(std::min<std::size_t>(limit, std::numeric_limits<std::uint32_t>::max()));
}

// --- Encoding. ---

void encode_id(core::Writer& w, NodeId const& id) { w.bin(id.bytes); }

void encode_ids(core::Writer& w, std::vector<MessageId> const& ids) {
    w.array(count_of(ids.size()));
    for (auto const& id : ids) encode_id(w, id);
}

void encode_records(core::Writer& w, std::vector<PeerRecord> const& records) {
    w.array(count_of(records.size()));
    for (auto const& r : records) dht::encode_provider_record(w, r);
}

void encode_control(core::Writer& w, Rpc const& rpc) {
    w.array(count_of(rpc.graft.size()));
    for (auto const& g : rpc.graft) encode_id(w, g.topic);

    w.array(count_of(rpc.prune.size()));
    for (auto const& p : rpc.prune) {
        w.array(3);
        encode_id(w, p.topic);
        encode_records(w, p.px);
        w.uint(p.backoff_s);
    }

    w.array(count_of(rpc.ihave.size()));
    for (auto const& h : rpc.ihave) {
        w.array(2);
        encode_id(w, h.topic);
        encode_ids(w, h.ids);
    }

    w.array(count_of(rpc.iwant.size()));
    for (auto const& x : rpc.iwant) encode_ids(w, x.ids);

    w.array(count_of(rpc.idontwant.size()));
    for (auto const& x : rpc.idontwant) encode_ids(w, x.ids);
}

// Timestamps travel as unsigned integers; before 1970 is clamped to 0.
void encode_ts(core::Writer& w, std::int64_t ts_ms) { w.uint(static_cast<std::uint64_t>(std::max<std::int64_t>(ts_ms, 0))); }

void encode_cursor(core::Writer& w, std::optional<StoreCursor> const& c) {
    if (!c) {
        w.array(0);
        return;
    }
    w.array(2);
    encode_ts(w, c->ts_ms);
    encode_id(w, c->id);
}

void encode_catchup(core::Writer& w, Rpc const& rpc) {
    w.array(count_of(rpc.sync.size()));
    for (auto const& s : rpc.sync) {
        w.array(6);
        w.uint(s.session);
        w.uint(static_cast<std::uint8_t>(s.kind));
        encode_id(w, s.topic);
        encode_ts(w, s.from_ms);
        encode_ts(w, s.to_ms);
        w.bin(s.body);
    }
    w.array(count_of(rpc.fetch.size()));
    for (auto const& f : rpc.fetch) {
        w.array(7);
        w.uint(f.request);
        encode_id(w, f.topic);
        encode_ids(w, f.ids);
        encode_ts(w, f.from_ms);
        encode_ts(w, f.to_ms);
        encode_cursor(w, f.after);
        w.uint(f.limit);
    }
    w.array(count_of(rpc.fetched.size()));
    for (auto const& f : rpc.fetched) {
        w.array(3);
        w.uint(f.request);
        w.array(count_of(f.messages.size()));
        for (auto const& m : f.messages) w.bin(m);
        encode_cursor(w, f.next);
    }
}

// --- Decoding. Each helper reads one element; on error the Reader holds the reason. ---

// An array that stands for a struct: exactly `fields` elements, else bad_value.
bool tuple(core::Reader& r, std::uint32_t fields) {
    auto n = r.array(std::numeric_limits<std::uint32_t>::max());
    if (n && *n != fields) r.fail(DecodeError::bad_value);
    return r.ok();
}

std::optional<NodeId> decode_id(core::Reader& r) {
    auto b = r.bin_exact(NodeId::size);
    if (!b) return std::nullopt;
    return NodeId::from_span(*b);
}

// An array of ids whose length counts against `budget` (the frame-wide bound for this
// kind of id), so many small lists cannot add up past it.
void decode_ids(core::Reader& r, std::size_t& budget, std::vector<MessageId>& out) {
    auto n = r.array(bound(budget));
    if (!n) return;
    budget -= *n;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && r.ok(); ++i)
        if (auto id = decode_id(r)) out.push_back(*id);
}

// An array of at most `max` provider records (each bounded by its own decoder: four
// addresses, fixed-size keys and signature). Decoded, not verified: the router checks them.
void decode_records(core::Reader& r, std::size_t max, std::vector<PeerRecord>& out) {
    auto n = r.array(bound(max));
    if (!n) return;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && r.ok(); ++i) {
        auto rec = dht::decode_provider_record(r);
        if (!rec) {
            if (r.ok()) r.fail(DecodeError::bad_value);
            return;
        }
        out.push_back(std::move(*rec));
    }
}

void decode_subscriptions(core::Reader& r, RpcLimits const& limits, std::vector<SubOpt>& out) {
    auto n = r.array(bound(limits.subscriptions_max));
    if (!n) return;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && tuple(r, 2); ++i) {
        auto topic = decode_id(r);
        auto subscribe = r.boolean();
        if (topic && subscribe) out.push_back({*topic, *subscribe});
    }
}

void decode_messages(core::Reader& r, RpcLimits const& limits, std::vector<core::Bytes>& out) {
    auto n = r.array(bound(limits.messages_max));
    if (!n) return;
    out.reserve(*n);
    std::size_t const envelope_max = limits.payload_max + envelope_overhead;
    for (std::uint32_t i = 0; i < *n && r.ok(); ++i)
        if (auto m = r.bin(envelope_max)) out.emplace_back(m->begin(), m->end());
}

void decode_graft(core::Reader& r, RpcLimits const& limits, std::vector<Graft>& out) {
    auto n = r.array(bound(limits.topics_per_control_max));
    if (!n) return;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && r.ok(); ++i)
        if (auto topic = decode_id(r)) out.push_back({*topic});
}

void decode_prune(core::Reader& r, RpcLimits const& limits, std::vector<Prune>& out) {
    auto n = r.array(bound(limits.topics_per_control_max));
    if (!n) return;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && tuple(r, 3); ++i) {
        Prune p;
        if (auto topic = decode_id(r)) p.topic = *topic;
        decode_records(r, limits.px_max, p.px);
        if (auto backoff = r.uint(std::numeric_limits<std::uint32_t>::max()))
            p.backoff_s = static_cast<std::uint32_t>(*backoff);
        if (r.ok()) out.push_back(std::move(p));
    }
}

void decode_ihave(core::Reader& r, RpcLimits const& limits, std::vector<IHave>& out) {
    auto n = r.array(bound(limits.topics_per_control_max));
    if (!n) return;
    out.reserve(*n);
    std::size_t budget = limits.ihave_ids_max;
    for (std::uint32_t i = 0; i < *n && tuple(r, 2); ++i) {
        IHave h;
        if (auto topic = decode_id(r)) h.topic = *topic;
        decode_ids(r, budget, h.ids);
        if (r.ok()) out.push_back(std::move(h));
    }
}

// IWANT and IDONTWANT: lists of id lists, bounded in entries and in ids altogether.
template <class IdList>
void decode_id_lists(core::Reader& r, std::size_t entries_max, std::size_t ids_max, std::vector<IdList>& out) {
    auto n = r.array(bound(entries_max));
    if (!n) return;
    out.reserve(*n);
    std::size_t budget = ids_max;
    for (std::uint32_t i = 0; i < *n && r.ok(); ++i) {
        IdList x;
        decode_ids(r, budget, x.ids);
        if (r.ok()) out.push_back(std::move(x));
    }
}

std::int64_t decode_ts(core::Reader& r) {
    auto v = r.uint(static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    return v ? static_cast<std::int64_t>(*v) : 0;
}

std::uint32_t decode_u32(core::Reader& r) {
    auto v = r.uint(std::numeric_limits<std::uint32_t>::max());
    return v ? static_cast<std::uint32_t>(*v) : 0;
}

std::optional<StoreCursor> decode_cursor(core::Reader& r) {
    auto n = r.array(2);
    if (!n || *n == 0) return std::nullopt;
    if (*n != 2) {
        r.fail(DecodeError::bad_value);
        return std::nullopt;
    }
    StoreCursor c;
    c.ts_ms = decode_ts(r);
    if (auto id = decode_id(r)) c.id = *id;
    return c;
}

void decode_sync(core::Reader& r, RpcLimits const& limits, std::vector<Sync>& out) {
    auto n = r.array(bound(limits.sync_max));
    if (!n) return;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && tuple(r, 6); ++i) {
        Sync s;
        s.session = decode_u32(r);
        if (auto kind = r.uint(sync_kind_max)) s.kind = static_cast<SyncKind>(*kind);
        if (auto topic = decode_id(r)) s.topic = *topic;
        s.from_ms = decode_ts(r);
        s.to_ms = decode_ts(r);
        if (auto body = r.bin(limits.sync_body_max)) s.body.assign(body->begin(), body->end());
        if (r.ok()) out.push_back(std::move(s));
    }
}

void decode_fetch(core::Reader& r, RpcLimits const& limits, std::vector<Fetch>& out) {
    auto n = r.array(bound(limits.fetch_max));
    if (!n) return;
    out.reserve(*n);
    std::size_t budget = limits.fetch_ids_max * limits.fetch_max;
    for (std::uint32_t i = 0; i < *n && tuple(r, 7); ++i) {
        Fetch f;
        f.request = decode_u32(r);
        if (auto topic = decode_id(r)) f.topic = *topic;
        std::size_t one = std::min(budget, limits.fetch_ids_max);
        std::size_t const before = one;
        decode_ids(r, one, f.ids);
        budget -= before - one;
        f.from_ms = decode_ts(r);
        f.to_ms = decode_ts(r);
        f.after = decode_cursor(r);
        f.limit = decode_u32(r);
        if (r.ok()) out.push_back(std::move(f));
    }
}

void decode_fetched(core::Reader& r, RpcLimits const& limits, std::vector<Fetched>& out) {
    auto n = r.array(bound(limits.fetched_max));
    if (!n) return;
    out.reserve(*n);
    std::size_t const envelope_max = limits.payload_max + envelope_overhead;
    for (std::uint32_t i = 0; i < *n && tuple(r, 3); ++i) {
        Fetched f;
        f.request = decode_u32(r);
        if (auto m = r.array(bound(limits.fetched_messages_max))) {
            f.messages.reserve(*m);
            for (std::uint32_t k = 0; k < *m && r.ok(); ++k)
                if (auto env = r.bin(envelope_max)) f.messages.emplace_back(env->begin(), env->end());
        }
        f.next = decode_cursor(r);
        if (r.ok()) out.push_back(std::move(f));
    }
}

void decode_flooded(core::Reader& r, RpcLimits const& limits, std::vector<FloodHint>& out) {
    auto n = r.array(bound(limits.flood_hints_max));
    if (!n) return;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && tuple(r, 2); ++i) {
        FloodHint h;
        if (auto seqno = r.uint()) h.seqno = *seqno;
        if (auto m = r.array(bound(limits.flood_hint_peers_max))) {
            h.peers.reserve(*m);
            for (std::uint32_t k = 0; k < *m && r.ok(); ++k)
                if (auto p = r.uint()) h.peers.push_back(*p);
        }
        if (r.ok()) out.push_back(std::move(h));
    }
}

void decode_choke(core::Reader& r, RpcLimits const& limits, std::vector<Choke>& out) {
    auto n = r.array(bound(limits.topics_per_control_max));
    if (!n) return;
    out.reserve(*n);
    for (std::uint32_t i = 0; i < *n && tuple(r, 2); ++i) {
        auto topic = decode_id(r);
        auto choke = r.boolean();
        if (topic && choke) out.push_back({*topic, *choke});
    }
}

}  // namespace

void encode(Rpc const& rpc, core::Bytes& out) {
    core::Writer w(out);
    w.array(rpc_field_count);
    w.uint(rpc_version);

    w.array(count_of(rpc.subscriptions.size()));
    for (auto const& s : rpc.subscriptions) {
        w.array(2);
        encode_id(w, s.topic);
        w.boolean(s.subscribe);
    }

    w.array(count_of(rpc.messages.size()));
    for (auto const& m : rpc.messages) w.bin(m);

    encode_control(w, rpc);
    encode_catchup(w, rpc);

    encode_records(w, rpc.records);

    w.array(count_of(rpc.flooded.size()));
    for (auto const& h : rpc.flooded) {
        w.array(2);
        w.uint(h.seqno);
        w.array(count_of(h.peers.size()));
        for (auto const p : h.peers) w.uint(p);
    }

    w.array(count_of(rpc.choke.size()));
    for (auto const& c : rpc.choke) {
        w.array(2);
        encode_id(w, c.topic);
        w.boolean(c.choke);
    }
}

core::Result<Rpc, DecodeError> decode_rpc(core::ByteView frame, RpcLimits const& limits) {
    core::Reader r(frame);
    Rpc rpc;
    if (tuple(r, rpc_field_count)) {
        auto version = r.uint(std::numeric_limits<std::uint8_t>::max());
        if (version && *version != rpc_version) r.fail(DecodeError::bad_value);
    }
    decode_subscriptions(r, limits, rpc.subscriptions);
    decode_messages(r, limits, rpc.messages);
    decode_graft(r, limits, rpc.graft);
    decode_prune(r, limits, rpc.prune);
    decode_ihave(r, limits, rpc.ihave);
    decode_id_lists(r, limits.topics_per_control_max, limits.iwant_ids_max, rpc.iwant);
    decode_id_lists(r, limits.topics_per_control_max, limits.idontwant_ids_max, rpc.idontwant);
    decode_sync(r, limits, rpc.sync);
    decode_fetch(r, limits, rpc.fetch);
    decode_fetched(r, limits, rpc.fetched);
    decode_records(r, limits.records_max, rpc.records);
    decode_flooded(r, limits, rpc.flooded);
    decode_choke(r, limits, rpc.choke);
    r.finish();
    if (!r.ok()) return core::Err(r.error());
    return rpc;
}

}  // namespace pubsub
