// DhtNode: the hub of the DHT core (STYLE.md lets one hub per component grow; this is
// the map). Sections, in order: per-peer state (replay window, RTT, rate limit) and
// construction; keys; request timeouts from round trips; sending; the incoming-packet
// path (every rejection is counted, nothing bad is answered); requests we answer and the
// storage limits; responses and RPC completion, retries and give-up; lookups, puts and
// gets; joining and growing the table after start; timers: refresh, expiry sweep, holder
// replication, publisher republish; topic rendezvous (provider records: the RPCs, lookups
// and re-announce timer; the storer's table and the record checks are in provider_table /
// provider_record).
#include "dht/dht_node.hpp"

#include "core/assert.hpp"
#include "dht/lookup.hpp"
#include "dht/provider_table.hpp"
#include "dht/routing_table.hpp"
#include "dht/wire.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <span>
#include <unordered_map>

namespace dht {

using core::Bytes;
using core::ByteView;
using core::Duration;
using core::Instant;
using wire::Message;
using wire::MsgType;

namespace {

struct PublicKeyHash {
    std::size_t operator()(PublicKey const& pk) const {
        std::size_t h;
        std::memcpy(&h, pk.bytes.data(), sizeof h);
        return h;
    }
};

// Why we sent a request: decides what its answer (or its failure) does.
// provider_probe: a provider lookup's query to a contact near us on the network (see
// Config::providers_nearby), outside the lookup's own alpha window.
enum class Purpose : std::uint8_t {
    lookup_query, eviction_ping, contact_ping, bootstrap_hello, store_for_put, provider_probe,
    handoff_store,  // a record handed to a newcomer among its closest (DhtNode::replicate)
};
// A STORE's answer waits for the storer's commit: not a round-trip sample, nor a sign of
// slowness to tell lookups about.
constexpr bool is_store(Purpose p) { return p == Purpose::store_for_put || p == Purpose::handoff_store; }

struct PendingRpc {
    std::uint32_t txid = 0;
    RpcType type = RpcType::ping;
    Purpose purpose = Purpose::contact_ping;
    std::optional<Contact> peer;  // nullopt for a hello: the key is what we want to learn
    Endpoint to;
    Message request;
    Instant deadline;
    unsigned attempt = 0;
    LookupId lookup = 0;
    Instant sent_at;     // first attempt (round-trip samples come only from it)
    Instant last_sent;   // latest attempt
    Duration timeout{};  // of the current attempt
    // What lookups were told of this request's silence (see Config::rpc_timeout).
    bool told_slow = false;
    bool told_unresponsive = false;
};

struct LookupState {
    LookupState(LookupId i, LookupKind k, bool in, Lookup l, Instant start, Instant end)
        : id(i), kind(k), internal(in), lookup(std::move(l)), started(start), deadline(end) {}
    LookupId id = 0;
    LookupKind kind = LookupKind::find_node;
    bool internal = false;
    Lookup lookup;
    Instant started;
    Instant deadline;
    std::vector<Bytes> values;  // get: distinct values so far
    std::shared_ptr<Bytes const> value;  // put
    std::uint32_t ttl_s = 0;             // put
    bool storing = false;                // put: the STORE phase has begun
    std::size_t stores_pending = 0;
    std::size_t stores_tried = 0;
    std::size_t stores_accepted = 0;
    std::vector<Contact> stores_waiting;  // put: STOREs sent and not yet answered
    // put: nodes whose search query was a STORE (stores_while_searching) and what they
    // answered; the store phase counts those that accepted or refused it instead of
    // asking them again, and sends a plain STORE to those that declined it.
    struct SearchStore {
        NodeId node;
        bool accepted = false;
        bool declined = false;  // knew replicas nodes closer to the key: stored nothing
    };
    std::vector<SearchStore> stored_while_searching;
    bool acknowledged = false;            // put: LookupDone emitted at the quorum; storing goes on
    bool until_first = false;             // get: ends at its first value (DhtNode::get)
    Duration search_elapsed{};            // put, announce: when the STORE round began
    std::size_t search_not_answered = 0;  // put, announce: asked, and slow or worse then
    std::vector<Contact> closest;  // fixed when the search phase ends
    // find_providers and announce:
    std::vector<ProviderRecord> found;         // verified providers, one per node
    std::vector<std::uint32_t> held_counts;    // what answerers said they hold (bounded)
    std::vector<Endpoint> addrs;               // announce: the addresses to sign
    bool announce_skipped = false;
};

// A sliding window of the last 64 packet counters seen from one peer (RFC 6479 style).
struct ReplayWindow {
    std::uint64_t highest = 0;
    std::uint64_t seen = 0;  // bit i set: counter (highest - i) was seen

    bool is_replay(std::uint64_t c) const {
        if (c > highest) return false;
        std::uint64_t back = highest - c;
        return back >= 64 || ((seen >> back) & 1u);
    }
    void mark(std::uint64_t c) {
        if (c > highest) {
            std::uint64_t shift = c - highest;
            seen = shift >= 64 ? 0 : seen << shift;
            seen |= 1;
            highest = c;
        } else {
            seen |= std::uint64_t{1} << (highest - c);
        }
    }
};

// A token bucket: `rate` tokens per second up to `burst`; take() spends one.
struct TokenBucket {
    double tokens = 0;
    Instant refilled{};
    bool take(Instant now, double rate, double burst) {
        if (now > refilled) {
            tokens = std::min(burst, tokens + core::to_seconds(now - refilled) * rate);
            refilled = now;
        }
        if (tokens < 1.0) return false;
        tokens -= 1.0;
        return true;
    }
};

// Round-trip estimate after RFC 6298: smoothed RTT and its mean deviation.
struct RttEstimator {
    std::optional<Duration> srtt;
    Duration rttvar{};

    void sample(Duration rtt) {
        if (!srtt) {
            srtt = rtt;
            rttvar = rtt / 2;
            return;
        }
        auto err = rtt > *srtt ? rtt - *srtt : *srtt - rtt;
        rttvar = (3 * rttvar + err) / 4;
        *srtt = (7 * *srtt + rtt) / 8;
    }
    // srtt + max(slack, srtt / 4, 4 * rttvar): the margin keeps a steady path (rttvar
    // near 0) from timing out just as its answer arrives (RFC 6298's clock-granularity
    // term), in proportion to the path's length.
    std::optional<Duration> rto(Duration slack) const {
        if (!srtt) return std::nullopt;
        return *srtt + std::max({slack, *srtt / 4, 4 * rttvar});
    }
};

struct PeerKey {
    core::SharedKey key;
    // Our packet counter towards this peer: starts at our wall time in µs when the entry
    // is made and counts packets from there, so it never goes back even when the entry
    // is evicted and made again, or the node restarts (a node sends far fewer than a
    // million packets per second to one peer).
    std::uint64_t send_counter = 0;
    ReplayWindow replay;  // the peer's counters towards us
    RttEstimator rtt;     // round trips of our requests to this peer
    TokenBucket requests;  // requests this peer may make of us
    std::list<PublicKey>::iterator lru;
};

struct Partial {
    Instant started;
    std::uint32_t count = 0;
    std::uint32_t received = 0;
    std::vector<Bytes> chunks;
    std::size_t bytes = 0;
};

struct OwnPut {
    Key key;
    std::shared_ptr<Bytes const> value;
    core::UnixTime expires_at;
    Instant next_republish;
};

struct SourceUsage {
    std::size_t records = 0;
    std::size_t bytes = 0;
};

}  // namespace

struct DhtNode::Impl {
    Config config;
    PublicKey public_key;
    NodeId id;
    core::PacketCrypto const& crypto;
    store::RecordStore& store;
    core::Rng rng;
    core::WallClockAnchor wall;
    RoutingTable table;
    Stats stats;
    core::Signer const* signer;
    ProviderTable providers;
    Announcements announcements;

    std::unordered_map<PublicKey, PeerKey, PublicKeyHash> keys;
    std::list<PublicKey> keys_lru;  // most recently used first
    std::uint32_t next_seq = 0;

    std::map<std::pair<PublicKey, std::uint32_t>, Partial> partials;
    std::size_t partial_bytes = 0;

    std::map<std::uint32_t, PendingRpc> pending;
    std::set<std::pair<Instant, std::uint32_t>> deadlines;
    RttEstimator rtt;  // over all peers: for peers not measured yet

    std::map<LookupId, LookupState> lookups;
    LookupId next_lookup_id = 1;
    // Nodes a request of ours found unresponsive or failed: one lookup's discovery is
    // every lookup's (they skip these) until the node is heard from or the suspicion ends
    // (unresponsive: while the request still has retries to go; failed: suspect_ttl).
    // One lookup in suspect_probe_interval asks a suspect anyway, so a node back (a
    // partition healed) is soon known again. At most config.suspects_max.
    struct Suspect {
        Instant until;
        Instant next_probe;
    };
    std::unordered_map<NodeId, Suspect, core::NodeIdHash> suspects;

    std::map<std::pair<Key, NodeId>, OwnPut> own_puts;
    std::unordered_map<NodeId, SourceUsage, core::NodeIdHash> usage;

    Instant next_refresh;
    Instant next_sweep;
    Instant next_replicate;
    std::optional<Key> replicate_cursor;                     // scan resumes after this key
    std::map<std::pair<Key, NodeId>, Instant> replicated;    // (key, value hash) -> when
    // Nodes new to our table since the replication pass began, and those the current pass
    // hands records to (see replicate): at most config.handoff_newcomers_max each.
    std::vector<NodeId> newcomers;
    std::vector<NodeId> handoff_to;
    bool handoffs_on = false;  // from our first replication pass on (see note_newcomer)
    // Joining is a lookup of our own id through the first contacts. If it finds nobody
    // (every answer lost), it is tried again after join_retry_interval.
    bool joined = false;
    LookupId join_lookup = 0;
    std::optional<Instant> next_join_retry;
    // Growing the table after start (see Config::grow_interval_min): the next tick (none
    // when growth has ended), the current interval, the table's size at the last tick,
    // and the tick's own-id lookup.
    std::optional<Instant> next_grow;
    Duration grow_interval{};
    std::size_t size_at_grow = 0;
    std::size_t near_size_at_grow = 0;  // near_entries() then
    LookupId grow_lookup = 0;
    struct BootstrapAddress {
        Endpoint address;
        bool reached = false;  // BootstrapReached is emitted once per address
    };
    std::vector<BootstrapAddress> bootstrap_addresses;  // at most config.bootstrap_addresses_max
    TokenBucket hellos;
    TokenBucket new_keys;
    std::uint64_t new_keys_refused = 0;

    Instant last_input{};  // time of the input being handled (key_for has no `now`)
    std::deque<core::Transmit> transmits;
    std::deque<Event> events;

    Impl(Config const& c, PublicKey const& pk, core::PacketCrypto const& cr, store::RecordStore& st, core::Rng r,
         Instant now, core::WallClockAnchor w, core::Signer const* sg)
        : config(c),
          public_key(pk),
          id(core::node_id_of(pk)),
          crypto(cr),
          store(st),
          rng(std::move(r)),
          wall(w),
          table(id, c.k, c.subnet_entries_max, c.allow_loopback_subnet, c.eviction_ping_idle),
          signer(sg),
          providers(provider_limits(c), st, stats),
          hellos{c.hello_burst, now},
          new_keys{c.new_keys_burst, now} {
        CORE_ASSERT(config.k <= wire::contacts_max && config.alpha > 0 && config.replicas > 0);
        CORE_ASSERT(config.value_size_max <= wire::value_size_max);
        CORE_ASSERT(config.providers_per_reply <= wire::providers_max);
        CORE_ASSERT(!signer || signer->public_key() == public_key);
        // Spread timers so that nodes started together do not refresh in lockstep.
        next_refresh = now + jitter(config.bucket_refresh_interval);
        next_sweep = now + jitter(config.expiry_sweep_interval);
        next_replicate = now + jitter(config.replicate_interval);
        providers.load(unix_ms(now));  // before rebuild_usage: it skips provider rows
        rebuild_usage();
    }

    Duration jitter(Duration base) {
        auto span = static_cast<std::uint64_t>(base.count() / 4 + 1);
        return base - Duration(static_cast<Duration::rep>(span / 2)) + Duration(static_cast<Duration::rep>(rng.uniform(span)));
    }
    core::UnixTime unix_now(Instant now) const { return wall.to_unix(now); }
    // Microseconds, not whole seconds plus the time since start: packet counters start
    // here, and a node restarted within the same second must not start below the
    // counters its last run sent (the peers would drop everything as replays).
    std::uint64_t unix_us(Instant now) const {
        auto us = wall.to_unix_us(now);
        return us < 0 ? 0 : static_cast<std::uint64_t>(us);
    }
    void drop(DropReason r) { ++stats.drop(r); }
    std::uint64_t unix_ms(Instant now) const { return unix_us(now) / 1000; }

    void rebuild_usage() {
        usage.clear();
        auto r = store.for_each([&](store::Record const& rec) {
            if (providers.is_store_key(rec.key)) return true;
            auto& u = usage[rec.source];
            ++u.records;
            u.bytes += rec.value.size();
            return true;
        });
        if (!r) ++stats.store_errors;
    }

    // ---- Keys and replay windows. ----

    // The cached key for `pk`, derived on first use. nullptr when `pk` is not a valid key,
    // or when `inbound` (a packet from an unknown key) and new keys arrive faster than
    // config.new_keys_per_s: a derivation costs ~64 µs, six times the work of answering a
    // request, so packets under random keys must not buy it for free.
    PeerKey* key_for(PublicKey const& pk, bool inbound = false) {
        if (auto it = keys.find(pk); it != keys.end()) {
            keys_lru.splice(keys_lru.begin(), keys_lru, it->second.lru);
            return &it->second;
        }
        if (inbound && !new_keys.take(last_input, config.new_keys_per_s, config.new_keys_burst)) {
            ++new_keys_refused;
            return nullptr;
        }
        auto shared = crypto.shared_key(pk);
        if (!shared) return nullptr;
        if (keys.size() >= config.key_cache_max) {
            keys.erase(keys_lru.back());
            keys_lru.pop_back();
        }
        keys_lru.push_front(pk);
        PeerKey entry;
        entry.key = *shared;
        entry.requests = TokenBucket{config.peer_request_burst, last_input};
        entry.lru = keys_lru.begin();
        auto [it, inserted] = keys.emplace(pk, entry);
        CORE_ASSERT(inserted);
        return &it->second;
    }

    // ---- Sending. ----

    void send_message(Instant now, PublicKey const& to_key, Endpoint const& to, Message const& m) {
        auto* peer = key_for(to_key);
        if (!peer) return;  // callers check keys of contacts before they get here
        Bytes body = wire::encode(m);
        CORE_ASSERT(body.size() <= wire::message_size_max);
        auto count = static_cast<std::uint32_t>((body.size() + wire::fragment_chunk_max - 1) / wire::fragment_chunk_max);
        if (count == 0) count = 1;
        std::uint32_t seq = next_seq++;
        for (std::uint32_t i = 0; i < count; ++i) {
            std::size_t begin = i * wire::fragment_chunk_max;
            std::size_t len = std::min(wire::fragment_chunk_max, body.size() - begin);
            Bytes plain = wire::encode_fragment(seq, i, count, ByteView(body).subspan(begin, len));
            // Per-peer counter for the receiver's replay window; our wall time for its
            // staleness check; random bytes so that nonces never repeat across keys.
            peer->send_counter = peer->send_counter == 0 ? unix_us(now) : peer->send_counter + 1;
            std::array<std::byte, 12> random;
            rng.fill(random);
            auto nonce = wire::make_nonce(peer->send_counter, static_cast<std::uint32_t>(unix_now(now).seconds), random);
            Bytes packet = wire::encode_sealed(crypto, peer->key, public_key, nonce, plain);
            stats.bytes_out += packet.size();
            ++stats.packets_out;
            transmits.push_back({to, std::move(packet)});
        }
    }

    // ---- Request timeouts from round trips (RFC 6298), per peer and over all peers. ----

    Duration current_rto(PublicKey const& peer_key) {
        auto* peer = key_for(peer_key);
        auto rto = peer ? peer->rtt.rto(config.rpc_timeout_slack) : std::nullopt;
        if (!rto) rto = rtt.rto(config.rpc_timeout_slack);
        if (!rto) return config.rpc_timeout;
        return std::clamp(*rto, std::min(config.rpc_timeout_min, config.rpc_timeout), config.rpc_timeout);
    }

    void sample_rtt(Contact const& from, Duration sample) {
        rtt.sample(sample);
        auto* peer = key_for(from.public_key);
        if (peer) peer->rtt.sample(sample);
        // The table keeps its own copy: the key cache may forget a contact it still holds.
        table.set_rtt(from.id, peer && peer->rtt.srtt ? *peer->rtt.srtt : sample);
    }

    std::uint32_t fresh_txid() {
        for (;;) {
            auto t = static_cast<std::uint32_t>(rng.next());
            if (t != 0 && !pending.contains(t)) return t;
        }
    }

    static RpcType rpc_type_of(MsgType t) {
        switch (t) {
            case MsgType::ping: return RpcType::ping;
            case MsgType::find_node: return RpcType::find_node;
            case MsgType::find_value: return RpcType::find_value;
            case MsgType::store: return RpcType::store;
            case MsgType::announce: return RpcType::announce;
            case MsgType::find_providers: return RpcType::find_providers;
            default: break;
        }
        CORE_ASSERT(false && "not a request");
        return RpcType::ping;
    }

    // Sends a request to a contact; false when it cannot be sent (bad key or too many
    // pending requests), in which case the caller treats it as failed at once.
    bool send_request(Instant now, Contact const& to, Message m, Purpose purpose, LookupId lookup) {
        if (pending.size() >= config.pending_rpcs_max) return false;
        if (to.id == id || to.address.port == 0 || to.address.is_unspecified()) return false;
        if (!key_for(to.public_key)) return false;
        m.txid = fresh_txid();
        auto timeout = current_rto(to.public_key);
        // A STORE's answer waits for the storer's durable commit (milliseconds of disk,
        // more under load): its own floor, so a slow disk is not taken for a dead node
        // nor made to write the value twice.
        if (is_store(purpose)) timeout = std::max(timeout, std::min(config.store_timeout_min, config.rpc_timeout));
        PendingRpc p{m.txid, rpc_type_of(m.type), purpose, to, to.address, m, now + timeout, 0, lookup, now, now, timeout};
        send_message(now, to.public_key, to.address, m);
        deadlines.insert({p.deadline, p.txid});
        pending.emplace(p.txid, std::move(p));
        return true;
    }

    void send_hello(Instant now, Endpoint const& to) {
        if (pending.size() >= config.pending_rpcs_max) return;
        PendingRpc p;
        p.txid = fresh_txid();
        p.type = RpcType::hello;
        p.purpose = Purpose::bootstrap_hello;
        p.to = to;
        p.request.type = MsgType::ping;
        p.request.txid = p.txid;
        p.sent_at = now;
        p.last_sent = now;
        p.timeout = config.rpc_timeout;  // a new address: no reason to expect a short round trip
        p.deadline = now + p.timeout;
        transmit_hello(to, p.txid);
        deadlines.insert({p.deadline, p.txid});
        pending.emplace(p.txid, std::move(p));
    }

    void transmit_hello(Endpoint const& to, std::uint32_t txid) {
        Bytes packet = wire::encode_hello(public_key, txid);
        stats.bytes_out += packet.size();
        ++stats.packets_out;
        transmits.push_back({to, std::move(packet)});
    }

    // ---- The incoming-packet path. ----

    void handle_datagram(Instant now, Endpoint const& from, ByteView d) {
        last_input = now;
        stats.bytes_in += d.size();
        ++stats.packets_in;
        if (d.size() < 2) return drop(DropReason::too_short);
        if (d.size() > wire::packet_size_max) return drop(DropReason::too_large);
        if (std::to_integer<std::uint8_t>(d[0]) != wire::protocol_tag) return drop(DropReason::unknown_protocol);
        auto kind = std::to_integer<std::uint8_t>(d[1]);
        if (kind == wire::kind_hello) return on_hello(now, from, d);
        if (kind == wire::kind_sealed) return on_sealed(now, from, d);
        drop(DropReason::unknown_kind);
    }

    void on_hello(Instant now, Endpoint const& from, ByteView d) {
        auto hello = wire::parse_hello(d);
        if (!hello) return drop(d.size() < wire::hello_size ? DropReason::too_short : DropReason::too_large);
        if (hello->sender == public_key) return drop(DropReason::from_self);
        // The reply goes to an address nobody has proven: rate-limit it (token bucket).
        if (!hellos.take(now, config.hello_rate_per_s, config.hello_burst)) return drop(DropReason::rate_limited);
        auto refused = new_keys_refused;
        if (!key_for(hello->sender, true))
            return drop(new_keys_refused != refused ? DropReason::rate_limited : DropReason::bad_public_key);
        Message pong;
        pong.type = MsgType::pong;
        pong.txid = hello->txid;
        pong.observed = from;
        ++stats.rpc_count(RpcType::hello, RpcOutcome::served);
        send_message(now, hello->sender, from, pong);
    }

    void on_sealed(Instant now, Endpoint const& from, ByteView d) {
        auto sealed = wire::parse_sealed(d);
        if (!sealed) return drop(DropReason::too_short);
        if (sealed->sender == public_key) return drop(DropReason::from_self);
        // Staleness first: old captures cost no crypto.
        auto age_max_s = std::chrono::duration_cast<std::chrono::seconds>(config.packet_age_max).count();
        auto sent_s = static_cast<std::int64_t>(sealed->send_time_s());
        auto now_s = unix_now(now).seconds;
        if (sent_s + age_max_s < now_s || sent_s > now_s + age_max_s) return drop(DropReason::stale);
        std::uint64_t counter = sealed->counter();
        auto refused = new_keys_refused;
        auto* peer = key_for(sealed->sender, true);
        if (!peer) return drop(new_keys_refused != refused ? DropReason::rate_limited : DropReason::bad_public_key);
        if (peer->replay.is_replay(counter)) return drop(DropReason::replayed);
        Bytes plain(sealed->ciphertext.size() - core::PacketCrypto::mac_size);
        if (!crypto.open(peer->key, sealed->nonce, sealed->ciphertext, plain)) return drop(DropReason::bad_mac);
        peer->replay.mark(counter);

        core::DecodeError error{};
        auto fragment = wire::decode_fragment(plain, error);
        if (!fragment) return drop(DropReason::malformed);
        if (fragment->count == 1) return on_message_bytes(now, sealed->sender, from, fragment->chunk);
        reassemble(now, sealed->sender, from, *fragment);
    }

    void reassemble(Instant now, PublicKey const& sender, Endpoint const& from, wire::Fragment const& f) {
        auto key = std::make_pair(sender, f.seq);
        auto it = partials.find(key);
        if (it == partials.end()) {
            // Bounds: total partial messages, bytes, and per-sender count (so one peer
            // cannot take every slot).
            std::size_t from_sender = 0;
            for (auto s = partials.lower_bound({sender, 0}); s != partials.end() && s->first.first == sender; ++s)
                ++from_sender;
            if (partials.size() >= config.reassembly_max || from_sender >= 4) return drop(DropReason::reassembly_full);
            Partial p;
            p.started = now;
            p.count = f.count;
            p.chunks.resize(f.count);
            it = partials.emplace(key, std::move(p)).first;
        }
        auto& p = it->second;
        if (p.count != f.count) return drop(DropReason::bad_fragment);
        if (!p.chunks[f.index].empty() || f.chunk.empty()) return drop(DropReason::bad_fragment);
        if (partial_bytes + f.chunk.size() > config.reassembly_bytes_max) return drop(DropReason::reassembly_full);
        p.chunks[f.index].assign(f.chunk.begin(), f.chunk.end());
        p.bytes += f.chunk.size();
        partial_bytes += f.chunk.size();
        if (++p.received < p.count) return;
        Bytes whole;
        whole.reserve(p.bytes);
        for (auto const& c : p.chunks) whole.insert(whole.end(), c.begin(), c.end());
        partial_bytes -= p.bytes;
        partials.erase(it);
        on_message_bytes(now, sender, from, whole);
    }

    void expire_partials(Instant now) {
        for (auto it = partials.begin(); it != partials.end();) {
            if (now - it->second.started >= config.reassembly_timeout) {
                partial_bytes -= it->second.bytes;
                it = partials.erase(it);
            } else {
                ++it;
            }
        }
    }

    void on_message_bytes(Instant now, PublicKey const& sender, Endpoint const& from, ByteView bytes) {
        core::DecodeError error{};
        auto m = wire::decode(bytes, error);
        if (!m) return drop(DropReason::malformed);
        Contact contact = Contact::make(sender, from);
        if (wire::is_request(m->type)) on_request(now, contact, *m);
        else on_response(now, contact, *m);
    }

    void peer_failed(NodeId const& peer) {
        if (table.on_failure(peer)) ++stats.evictions;
    }

    // ---- What one request learns of a peer's liveness, every lookup knows at once. ----

    // Whether a lookup should skip `peer` now; false when its probe is due (and takes it).
    bool skip_suspect(Instant now, NodeId const& peer) {
        auto it = suspects.find(peer);
        if (it == suspects.end() || now >= it->second.until) return false;
        if (now < it->second.next_probe) return true;
        it->second.next_probe = now + config.suspect_probe_interval;
        return false;
    }
    Lookup::SuspectFn suspect_fn(Instant now) {
        if (suspects.empty()) return {};
        return [this, now](NodeId const& peer) { return skip_suspect(now, peer); };
    }
    void mark_suspect(Instant now, NodeId const& peer, Duration for_how_long) {
        if (suspects.size() >= config.suspects_max)
            std::erase_if(suspects, [&](auto const& e) { return now >= e.second.until; });
        auto it = suspects.find(peer);
        if (it == suspects.end()) {
            if (suspects.size() >= config.suspects_max) return;
            it = suspects.emplace(peer, Suspect{now, now + config.suspect_probe_interval}).first;
        }
        it->second.until = std::max(it->second.until, now + for_how_long);
    }
    // Applies `change` (Lookup::on_slow, on_unresponsive, on_failure) for `peer` to every
    // lookup, and lets the ones it changed move on.
    void tell_lookups(Instant now, NodeId const& peer, bool (Lookup::*change)(NodeId const&)) {
        std::vector<LookupId> changed;
        for (auto& [lid, l] : lookups)
            if ((l.lookup.*change)(peer)) changed.push_back(lid);
        for (auto lid : changed)
            if (auto it = lookups.find(lid); it != lookups.end()) advance(now, it->second);
    }
    // A request to `peer` failed after its retries.
    void peer_gone(Instant now, NodeId const& peer) {
        peer_failed(peer);
        mark_suspect(now, peer, config.suspect_ttl);
        tell_lookups(now, peer, &Lookup::on_failure);
        if (auto verify = table.verify_after_failure(peer)) {
            // A replacement waits in its bucket: one more chance (an eviction ping), so a
            // node that fails twice in a row leaves the table within seconds.
            Message ping;
            ping.type = MsgType::ping;
            if (!send_request(now, *verify, ping, Purpose::eviction_ping, 0)) peer_failed(verify->id);
        }
    }

    // Any authenticated packet tells us the sender is alive at `from`.
    void observe(Instant now, Contact const& contact) {
        if (!suspects.empty()) suspects.erase(contact.id);
        bool was_empty = table.size() == 0;
        auto result = table.observe(contact, now);
        if (result.outcome == RoutingTable::Outcome::added) note_newcomer(contact.id);
        if (result.ping_oldest) {
            Message ping;
            ping.type = MsgType::ping;
            if (!send_request(now, *result.ping_oldest, ping, Purpose::eviction_ping, 0))
                peer_failed(result.ping_oldest->id);
        }
        if (was_empty && table.size() > 0 && !joined) join(now);
    }

    // ---- Requests we answer. ----

    void on_request(Instant now, Contact const& from, Message const& m) {
        // One key may not make us work (or send) beyond its rate: it bounds what a peer,
        // or someone spoofing its address with its key, can get out of us.
        auto* peer = key_for(from.public_key);
        if (!peer || !peer->requests.take(now, config.peer_request_rate_per_s, config.peer_request_burst))
            return drop(DropReason::rate_limited);
        observe(now, from);
        Message reply;
        reply.type = wire::response_to(m.type);
        reply.txid = m.txid;
        RpcOutcome outcome = RpcOutcome::served;
        switch (m.type) {
            case MsgType::ping: reply.observed = from.address; break;
            case MsgType::find_node: reply.nodes = table.closest(m.target, config.k); break;
            case MsgType::find_value:
                reply.nodes = table.closest(m.target, config.k);
                reply.values = local_values(now, m.target, wire::values_bytes_budget);
                break;
            case MsgType::store: {
                // A put's search query (want_nodes) is a conditional STORE: declined when we
                // know `replicas` nodes closer to the key (the value belongs with them), and
                // answered with the nodes a FIND_NODE would have named either way.
                if (m.want_nodes) reply.nodes = table.closest(m.target, config.k);
                auto const replica_set = std::span(reply.nodes).first(std::min(reply.nodes.size(), replicas()));
                bool const declined = m.want_nodes && !among_replicas(m.target, replica_set);
                reply.accepted = !declined && accept_store(now, from.id, m);
                if (!reply.accepted && !declined) outcome = RpcOutcome::rejected;
                reply.want_nodes = m.want_nodes;
                break;
            }
            case MsgType::announce:
                reply.accepted = accept_announce(now, from, m.providers.front());
                if (!reply.accepted) outcome = RpcOutcome::rejected;
                break;
            case MsgType::find_providers: answer_find_providers(now, m.target, reply); break;
            default: CORE_ASSERT(false);
        }
        ++stats.rpc_count(rpc_type_of(m.type), outcome);
        send_message(now, from.public_key, from.address, reply);
    }

    std::vector<Bytes> local_values(Instant now, Key const& key, std::size_t budget) {
        std::vector<Bytes> out;
        auto records = store.get(key, unix_now(now), std::min(config.values_per_key_max, wire::values_max));
        if (!records) {
            ++stats.store_errors;
            return out;
        }
        std::size_t used = 0;
        for (auto& r : records.value()) {
            if (used + r.value.size() + 8 > budget) break;
            used += r.value.size() + 8;
            out.push_back(std::move(r.value));
        }
        return out;
    }

    bool accept_store(Instant now, NodeId const& source, Message const& m) {
        CORE_ASSERT(m.value);
        if (m.value->size() > config.value_size_max || m.ttl_s == 0) return false;
        auto ttl_max_s = std::chrono::duration_cast<std::chrono::seconds>(config.ttl_max).count();
        std::int64_t ttl_s = std::min<std::int64_t>(m.ttl_s, ttl_max_s);
        return store_record(now, m.target, m.value, ttl_s, source);
    }

    // Stores (or refreshes) one record, enforcing the per-key, total and per-source limits.
    bool store_record(Instant now, Key const& key, std::shared_ptr<Bytes const> const& value, std::int64_t ttl_s,
                      NodeId const& source) {
        auto unix = unix_now(now);
        auto existing = store.get(key, unix, config.values_per_key_max);
        if (!existing) {
            ++stats.store_errors;
            return false;
        }
        bool refresh = std::any_of(existing.value().begin(), existing.value().end(),
                                   [&](store::Record const& r) { return r.value == *value; });
        bool own = source == id;
        if (!refresh) {
            if (existing.value().size() >= config.values_per_key_max) return false;
            if (store.count() >= config.records_max) return false;
            auto& u = usage[source];
            if (!own && (u.records + 1 > config.records_per_source_max ||
                         u.bytes + value->size() > config.bytes_per_source_max))
                return false;
        }
        store::Record rec{key, *value, source, unix, {unix.seconds + ttl_s}};
        if (auto r = store.put(rec); !r) {
            ++stats.store_errors;
            return false;
        }
        if (!refresh) {
            auto& u = usage[source];
            ++u.records;
            u.bytes += value->size();
        }
        return true;
    }

    // ---- Responses and RPC completion. ----

    void on_response(Instant now, Contact const& from, Message const& m) {
        auto it = pending.find(m.txid);
        if (it == pending.end()) return drop(DropReason::unknown_transaction);
        auto& p = it->second;
        bool sender_ok = p.peer ? p.peer->id == from.id : p.to == from.address;
        if (!sender_ok || wire::response_to(p.request.type) != m.type) return drop(DropReason::unexpected_response);
        PendingRpc done = std::move(p);
        deadlines.erase({done.deadline, done.txid});
        pending.erase(it);
        ++stats.rpc_count(done.type, RpcOutcome::ok);
        // An answer to a retried request could answer any attempt (Karn): timing it from
        // the first gives an upper bound, which errs towards longer timeouts; without it a
        // round trip that grew past the estimate would never be measured again.
        if (!is_store(done.purpose)) sample_rtt(from, now - done.sent_at);
        observe(now, from);
        on_rpc_done(now, done, from, &m);
    }

    // `response` is null when the request failed after its retries.
    void on_rpc_done(Instant now, PendingRpc const& p, Contact const& from, Message const* response) {
        switch (p.purpose) {
            case Purpose::bootstrap_hello:
                if (response) on_bootstrap_reached(now, p.to, from.id);
                break;
            case Purpose::eviction_ping:
                if (!response) peer_failed(p.peer->id);
                break;
            case Purpose::contact_ping:
            case Purpose::handoff_store:
                if (!response) peer_gone(now, p.peer->id);
                break;
            case Purpose::lookup_query: {
                // A failure reaches this lookup through tell_lookups like every other one.
                if (!response) return peer_gone(now, p.peer->id);
                auto it = lookups.find(p.lookup);
                if (it == lookups.end()) break;
                auto& l = it->second;
                l.lookup.on_answer(from.id, response->nodes, suspect_fn(now));
                note_stored_while_searching(l, from.id, *response);
                add_values(l, response->values);
                if (response->type == MsgType::providers) on_providers_answer(now, l, *response);
                continue_or_finish(now, l);
                break;
            }
            case Purpose::provider_probe: {
                if (!response) return peer_gone(now, p.peer->id);
                auto it = lookups.find(p.lookup);
                if (it == lookups.end()) break;
                auto& l = it->second;
                // Its closer nodes help the walk too: as an answer when the lookup lists
                // it, else as candidates one hop out.
                if (!l.lookup.on_answer(from.id, response->nodes, suspect_fn(now)))
                    l.lookup.add(response->nodes, 2, suspect_fn(now));
                if (response->type == MsgType::providers) on_providers_answer(now, l, *response);
                continue_or_finish(now, l);
                break;
            }
            case Purpose::store_for_put: {
                if (!response) peer_gone(now, p.peer->id);
                auto it = lookups.find(p.lookup);
                if (it == lookups.end()) break;
                auto& l = it->second;
                CORE_ASSERT(l.stores_pending > 0);
                --l.stores_pending;
                std::erase_if(l.stores_waiting, [&](Contact const& c) { return c.id == p.peer->id; });
                if (response && response->accepted) ++l.stores_accepted;
                if (l.stores_pending == 0) finish(now, l);
                else if (!l.acknowledged && l.kind == LookupKind::put && l.stores_accepted >= put_quorum(l)) acknowledge(now, l);
                break;
            }
        }
    }

    bool add_value(LookupState& l, Bytes const& v) {
        if (l.values.size() >= config.values_per_key_max) return false;
        if (std::find(l.values.begin(), l.values.end(), v) != l.values.end()) return false;
        l.values.push_back(v);
        return true;
    }
    // Adds values to a get and hands the host the new ones at once (ValuesFound), so an
    // application need not wait for the lookup to end for the first.
    void add_values(LookupState& l, std::vector<Bytes> const& values) {
        ValuesFound found{l.id, l.lookup.target(), {}};
        for (auto const& v : values)
            if (add_value(l, v) && l.kind == LookupKind::get && !l.internal) found.values.push_back(v);
        if (!found.values.empty()) events.push_back(std::move(found));
    }

    // A request's timer fired. The adaptive timeout decides when to retry; each expiry
    // tells every lookup what the silence means so far: the first makes the peer slow,
    // the second unresponsive (and suspect). A request is given up (the peer failed) only
    // once its last attempt has had the full config.rpc_timeout, so a peer whose round
    // trip is longer than our estimate (a far one we never measured) is not declared dead
    // for answering late; no lookup waits for that.
    void on_rpc_timeout(Instant now, std::uint32_t txid) {
        auto it = pending.find(txid);
        CORE_ASSERT(it != pending.end());
        if (auto& q = it->second; q.peer && !q.told_unresponsive && !is_store(q.purpose)) {
            NodeId const peer = q.peer->id;
            bool const first = !q.told_slow;
            (first ? q.told_slow : q.told_unresponsive) = true;
            // Unresponsive: suspect while the request still has its retries to go.
            if (!first) mark_suspect(now, peer, config.rpc_timeout * 2);
            tell_lookups(now, peer, first ? &Lookup::on_slow : &Lookup::on_unresponsive);
            // tell_lookups may have inserted into pending: look it up again.
            it = pending.find(txid);
            CORE_ASSERT(it != pending.end());
        }
        auto& q = it->second;
        if (q.attempt < config.rpc_retries) {
            ++q.attempt;
            // Back off: the first retry gets one more expected round trip (so a single
            // loss costs a lookup about two, and a dead peer is known as unresponsive
            // after two), later ones twice the last wait; plus up to a quarter of it in
            // jitter, drawn from our own Rng so that retries of many nodes do not align.
            auto jitter_us = rng.uniform(static_cast<std::uint64_t>(q.timeout.count() / 4 + 1));
            if (q.attempt > 1) q.timeout = std::min(q.timeout * 2, config.rpc_timeout * 2);
            q.last_sent = now;
            q.deadline = now + q.timeout + Duration(static_cast<Duration::rep>(jitter_us));
            deadlines.insert({q.deadline, q.txid});
            if (q.type == RpcType::hello) transmit_hello(q.to, q.txid);
            else send_message(now, q.peer->public_key, q.to, q.request);
            return;
        }
        if (auto give_up = q.last_sent + config.rpc_timeout; now < give_up) {
            q.deadline = give_up;
            deadlines.insert({q.deadline, q.txid});
            return;
        }
        PendingRpc done = std::move(q);
        pending.erase(it);
        ++stats.rpc_count(done.type, RpcOutcome::timeout);
        Contact none{};
        on_rpc_done(now, done, done.peer ? *done.peer : none, nullptr);
    }

    // ---- Lookups, puts and gets. ----

    LookupId start_lookup(Instant now, LookupKind kind, NodeId const& target, bool internal,
                          std::shared_ptr<Bytes const> value = nullptr, std::uint32_t ttl_s = 0,
                          std::vector<Endpoint> addrs = {}, bool until_first = false) {
        LookupId lid = next_lookup_id++;
        ++stats.lookups_started;
        // A slow candidate beyond the beta closest is not waited for (and a put stores
        // on the answered ones); see Config::lookup_resiliency.
        std::size_t beta = stores_after_search(kind) && !config.put_waits_for_retries ? Lookup::no_retry_wait
                                                                                       : config.lookup_resiliency;
        std::size_t const alpha = kind == LookupKind::find_providers ? std::max(config.alpha, config.providers_alpha) : config.alpha;
        LookupState l(lid, kind, internal, Lookup(id, target, width(kind), alpha, beta), now,
                      now + config.lookup_deadline);
        l.value = std::move(value);
        l.ttl_s = ttl_s;
        l.addrs = std::move(addrs);
        l.until_first = until_first;
        table.touch_bucket(table.prefix_len_of(target), now);
        if (lookups.size() >= config.lookups_max) {
            // Over the limit: report at once, empty-handed, rather than queue unboundedly.
            emit_done(now, l);
            return lid;
        }
        // Seed with more than k: if the k closest we know are all dead, the lookup still
        // has live contacts of our own to fall back on instead of ending empty.
        l.lookup.add(table.closest(target, config.k * Lookup::shortlist_factor), 1, suspect_fn(now));
        auto [it, inserted] = lookups.emplace(lid, std::move(l));
        CORE_ASSERT(inserted);
        // A value we hold ourselves is the first one found.
        if (kind == LookupKind::get) add_values(it->second, local_values(now, target, wire::values_bytes_budget));
        if (has_first_value(it->second)) {
            finish(now, it->second);
            return lid;
        }
        advance(now, it->second);
        if (kind == LookupKind::find_providers) probe_nearby(now, lid);
        return lid;
    }

    // A provider lookup also asks the providers_nearby contacts with the shortest measured
    // round trips that the lookup has not asked already. Any provider of the topic answers
    // with its own record (answer_find_providers), so in a topic many nodes subscribe to,
    // one of them is likely near, and its record comes back within a short round trip:
    // the publisher's first link then is a short one too. Their answers count as records
    // and as closer candidates for the walk; they do not hold the lookup open.
    void probe_nearby(Instant now, LookupId lid) {
        if (config.providers_nearby == 0) return;
        for (auto const& c : table.nearest(config.providers_nearby)) {
            auto it = lookups.find(lid);
            if (it == lookups.end()) return;  // the lookup ended meanwhile
            auto const* listed = it->second.lookup.candidate(c.id);
            if (listed && listed->state != Lookup::State::fresh) continue;
            if (suspects.contains(c.id)) continue;
            Message q;
            q.type = MsgType::find_providers;
            q.target = it->second.lookup.target();
            if (send_request(now, c, q, Purpose::provider_probe, lid)) ++stats.provider_probes;
        }
    }

    // Sends the queries the lookup asks for; a query that cannot be sent fails at once,
    // which may free a slot for the next candidate, so ask until the lookup is content.
    void advance(Instant now, LookupState& l) {
        if (l.storing) return;
        for (;;) {
            auto queries = l.lookup.next_queries();
            if (queries.empty()) break;
            for (auto const& c : queries)
                if (!send_request(now, c.contact, query_for(l), Purpose::lookup_query, l.id)) l.lookup.on_failure(c.contact.id);
        }
        if (l.lookup.finished()) search_done(now, l);
    }

    Message query_for(LookupState const& l) const {
        Message q;
        q.target = l.lookup.target();
        q.type = query_type(l.kind);
        if (l.kind == LookupKind::put && stores_while_searching(l)) {
            q.type = MsgType::store;
            q.value = l.value;
            q.ttl_s = l.ttl_s;
            q.want_nodes = true;
        }
        return q;
    }
    // A put asks only the replicas closest it knows of (its lookup's width), and its
    // queries are the STOREs themselves, answered with nodes like a FIND_NODE: a converged
    // network sees about one request per replica instead of a FIND_NODE and a STORE each.
    // Such a STORE is conditional (see on_request): a node that knows `replicas` nodes
    // closer to the key declines it, so a query that lands outside the replicas leaves no
    // spare copy. A small value's queries are STOREs from the first one; a large value's
    // bytes would make each declined query costly, so its queries become STOREs only once
    // the closest has answered without naming anyone closer (the last round), or from the
    // start when our own table is complete around the key. The store phase covers the
    // replicas the search ends with that were not stored on this way.
    bool stores_while_searching(LookupState const& l) const {
        if (!config.put_stores_while_searching) return false;
        if (l.value && l.value->size() <= config.store_query_value_max) return true;
        return l.lookup.closest_settled() || (joined && !table.bucket_full(table.prefix_len_of(l.lookup.target())));
    }

    void search_done(Instant now, LookupState& l) {
        l.closest = l.lookup.closest_answered();
        l.search_elapsed = now - l.started;
        l.search_not_answered = l.lookup.queried() - l.lookup.answered();
        if (l.kind == LookupKind::announce) return announce_to_closest(now, l);
        if (l.kind != LookupKind::put) return finish(now, l);
        l.storing = true;
        // We hold a replica too when we are among the replicas closest known to the target,
        // and then the replicas are us and the closest found but one (the last of those
        // would decline a conditional STORE: it knows us, and so `replicas` closer nodes).
        std::size_t others = l.closest.size();
        if (among_replicas(l.lookup.target(), l.closest)) {
            ++l.stores_tried;
            auto ttl_s = static_cast<std::int64_t>(l.ttl_s);
            if (store_record(now, l.lookup.target(), l.value, ttl_s, id)) ++l.stores_accepted;
            others = std::min(others, replicas() - 1);
        }
        for (auto const& c : std::span(l.closest).first(others)) {
            if (auto it = std::find_if(l.stored_while_searching.begin(), l.stored_while_searching.end(),
                                       [&](auto const& sw) { return sw.node == c.id; });
                it != l.stored_while_searching.end() && !it->declined) {
                ++l.stores_tried;
                if (it->accepted) ++l.stores_accepted;
                continue;
            }
            // Not asked with a STORE, or it declined one: a plain STORE now. (One that
            // declined is among the replicas our walk found but knows closer nodes: ones
            // the walk did not reach, or dead ones it has not dropped yet.)
            Message s;
            s.type = MsgType::store;
            s.target = l.lookup.target();
            s.value = l.value;
            s.ttl_s = l.ttl_s;
            ++l.stores_tried;
            if (send_request(now, c, s, Purpose::store_for_put, l.id)) {
                ++l.stores_pending;
                l.stores_waiting.push_back(c);
            }
        }
        if (l.stores_pending == 0) finish(now, l);
        else if (l.stores_accepted >= put_quorum(l)) acknowledge(now, l);
    }
    // A put's search query that was a STORE has been answered.
    // A refusal (limits) and a decline look alike on the wire; a decline names the
    // replicas nodes closer to the key than the storer that made it decline.
    void note_stored_while_searching(LookupState& l, NodeId const& from, Message const& response) const {
        if (response.type != MsgType::stored) return;
        auto const& key = l.lookup.target();
        auto closer = std::count_if(response.nodes.begin(), response.nodes.end(),
                                    [&](Contact const& c) { return key.closer(c.id, from); });
        bool const declined = !response.accepted && static_cast<std::size_t>(closer) >= replicas();
        l.stored_while_searching.push_back({from, response.accepted, declined});
    }

    // Fewer replicas stored than a majority of those a put should have had: the replicas
    // closest, or everyone we know in a smaller network. (A put's own quorum counts only
    // the nodes its search found; one cut off from the rest finds few or none.)
    bool under_replicated(LookupState const& l) const {
        std::size_t const should = std::min(replicas(), table.size() + 1);
        return l.stores_accepted < should / 2 + 1;
    }
    // A put's write quorum: see Config::put_quorum.
    std::size_t put_quorum(LookupState const& l) const {
        std::size_t q = config.put_quorum > 0 ? config.put_quorum : l.stores_tried / 2 + 1;
        return std::min(q, l.stores_tried);
    }
    // The put's answer, at its quorum: the STOREs still pending go on in the background
    // (the lookup stays until they end or its deadline passes; finish() reports nothing more).
    void acknowledge(Instant now, LookupState& l) {
        emit_done(now, l);
        l.acknowledged = true;
    }

    void emit_done(Instant now, LookupState& l) {
        LookupDone done;
        done.id = l.id;
        done.kind = l.kind;
        done.internal = l.internal;
        done.target = l.lookup.target();
        done.closest = l.closest;
        done.values = std::move(l.values);
        done.stores_tried = l.stores_tried;
        done.stores_accepted = l.stores_accepted;
        done.stores_waiting = l.stores_waiting;
        done.providers = std::move(l.found);
        done.providers_held = median_held(l);
        done.announce_skipped = l.announce_skipped;
        done.hops = l.lookup.hops();
        done.queried = l.lookup.queried();
        done.elapsed = now - l.started;
        done.search_elapsed = l.search_elapsed;
        done.search_not_answered = l.search_not_answered;
        ++stats.lookups_done;
        if (l.id == join_lookup && done.closest.empty()) {
            joined = false;
            next_join_retry = now + join_retry_interval;
        }
        events.push_back(std::move(done));
    }

    // Ends a lookup: reports it and forgets it. Requests still in flight for it find no
    // lookup when they complete, which is harmless.
    void finish(Instant now, LookupState& l) {
        if (l.kind == LookupKind::get)
            for (auto& v : local_values(now, l.lookup.target(), wire::values_bytes_budget)) add_value(l, v);
        if (l.kind == LookupKind::find_providers) add_local_providers(now, l);
        // A replication that did not reach its quorum (a partition, loss) is tried again
        // at the next scan instead of once per republish_interval: with few replicas
        // the misplaced copy may be the only one left.
        // So is an own put (or its republish): at the next replication tick.
        if (l.kind == LookupKind::put && l.value && under_replicated(l)) {
            auto value_key = std::make_pair(l.lookup.target(), core::blake2b_256(*l.value));
            replicated.erase(value_key);
            if (auto own = own_puts.find(value_key); own != own_puts.end())
                own->second.next_republish = std::min(own->second.next_republish, now + config.replicate_interval);
        }
        LookupId lid = l.id;
        bool joined_through = lid == join_lookup && !l.closest.empty();
        if (!l.acknowledged) emit_done(now, l);
        lookups.erase(lid);
        if (joined_through) refresh_far_buckets(now);
    }

    // After the join lookup (which only walks towards our own id), look up a random id in
    // each of the farthest buckets, as Kademlia's join does (paper, section 2.3): without
    // it a new node may know nobody in the far half of the id space, and its first puts
    // land on the wrong nodes. The far buckets cover 1 - 2^-n of the space with n lookups.
    void refresh_far_buckets(Instant now) {
        for (std::size_t prefix = 0; prefix < config.join_refresh_buckets; ++prefix) {
            auto target = NodeId::random_in_bucket(id, 255 - static_cast<int>(prefix), rng);
            start_lookup(now, LookupKind::find_node, target, true);
        }
    }

    static constexpr Duration join_retry_interval = std::chrono::seconds(5);

    void join(Instant now) {
        joined = true;
        next_join_retry.reset();
        join_lookup = start_lookup(now, LookupKind::find_node, id, true);
        start_growing(now);
    }

    // ---- Growing the table after start (Config::grow_interval_min). ----

    void bootstrap(Instant now, Endpoint const& address) {
        bool known = std::any_of(bootstrap_addresses.begin(), bootstrap_addresses.end(),
                                 [&](BootstrapAddress const& b) { return b.address == address; });
        if (!known && bootstrap_addresses.size() < config.bootstrap_addresses_max)
            bootstrap_addresses.push_back({address, false});
        send_hello(now, address);
        start_growing(now);
    }

    void on_bootstrap_reached(Instant now, Endpoint const& address, NodeId const& peer) {
        auto b = std::find_if(bootstrap_addresses.begin(), bootstrap_addresses.end(),
                              [&](BootstrapAddress const& a) { return a.address == address; });
        if (b == bootstrap_addresses.end() || !b->reached) events.push_back(BootstrapReached{address, peer});
        if (b != bootstrap_addresses.end()) b->reached = true;
        if (!joined) return join(now);
        // Asked again because our table is thin: look through it at once.
        if (table.size() < config.thin_table_peers) look_up_self_again(now);
    }

    void start_growing(Instant now) {
        if (next_grow) return;
        grow_interval = config.grow_interval_min;
        size_at_grow = table.size();
        near_size_at_grow = near_entries();
        next_grow = now + jitter(grow_interval);
    }

    void grow_tick(Instant now) {
        bool const thin = table.size() < config.thin_table_peers;
        bool const grew = table.size() > size_at_grow;
        std::size_t const near = near_entries();
        bool const grew_near = near > near_size_at_grow;
        size_at_grow = table.size();
        near_size_at_grow = near;
        if (grow_interval >= config.grow_interval_max && !thin && !grew) {
            next_grow.reset();  // grown: the periodic refresh takes over
            return;
        }
        grow_interval = std::min(grow_interval * 2, config.grow_interval_max);
        next_grow = now + jitter(grow_interval);
        if (thin) hello_bootstrap_addresses(now);
        if (table.size() == 0) return;
        if (!joined) return join(now);
        // A full table that the last tick's lookups (and everyone who contacted us since)
        // did not grow: another round would find nothing new. Skipped, not stopped: if it
        // grows by the next tick (nodes still joining), that tick looks again. Every node
        // of a network started at once ticks together: ~150 datagrams each, per tick.
        if (!thin && !grew) return;
        // The own-id lookup finds near nodes: worth it when someone new turned up near us
        // (more may have), not when the table grew only far away (nodes whose lookups
        // passed through us), which the bucket refreshes cover.
        if (thin || grew_near) look_up_self_again(now);
        refresh_thin_buckets(now);
    }

    // Entries in the buckets near us: those thin by nature, which the own-id lookup fills
    // (see refresh_thin_buckets).
    std::size_t near_entries() const {
        std::size_t n = 0;
        for (std::size_t p = first_near_bucket(); p < table.bucket_count(); ++p) n += table.bucket_size(p);
        return n;
    }
    // With N nodes, bucket p holds about N / 2^(p+1) of them: at least k while p <
    // log2(N / k). Our nearest neighbour sits at about depth log2 N, so the buckets more
    // than bit_width(k) shallower than the deepest non-empty one should be full; the
    // rest are thin by nature ("near").
    std::size_t first_near_bucket() const {
        std::size_t deepest = 0;
        for (std::size_t p = 0; p < table.bucket_count(); ++p)
            if (table.bucket_size(p) > 0) deepest = p;
        auto const slack = static_cast<std::size_t>(std::bit_width(config.k));
        return deepest > slack ? deepest - slack : 0;
    }

    // The contacts we joined through may have learned much more since: ask again.
    void look_up_self_again(Instant now) {
        if (lookups.contains(join_lookup) || lookups.contains(grow_lookup)) return;
        grow_lookup = start_lookup(now, LookupKind::find_node, id, true);
    }

    // A hello to every bootstrap address whose node is not in our table and not being
    // asked already: it may have started after us, or lost our first hellos.
    void hello_bootstrap_addresses(Instant now) {
        auto entries = table.entries();
        for (auto const& b : bootstrap_addresses) {
            bool held = std::any_of(entries.begin(), entries.end(),
                                    [&](RoutingTable::Entry const& e) { return e.contact.address == b.address; });
            bool asking = std::any_of(pending.begin(), pending.end(), [&](auto const& p) {
                return p.second.purpose == Purpose::bootstrap_hello && p.second.to == b.address;
            });
            if (!held && !asking) send_hello(now, b.address);
        }
    }

    // Buckets that should be full but are not (those before first_near_bucket): the
    // farthest of them with fewer than k entries get a lookup (at most
    // grow_bucket_lookups, none looked up within the last grow_interval_min). The near
    // buckets are thin by nature and filled by the own-id lookup.
    void refresh_thin_buckets(Instant now) {
        std::size_t started = 0;
        std::size_t const near = first_near_bucket();
        for (std::size_t p = 0; p < near && started < config.grow_bucket_lookups; ++p) {
            if (table.bucket_size(p) >= config.k) continue;
            if (now - table.bucket_last_lookup(p) < config.grow_interval_min) continue;
            auto target = NodeId::random_in_bucket(id, 255 - static_cast<int>(p), rng);
            start_lookup(now, LookupKind::find_node, target, true);
            ++started;
        }
    }

    // A put the application asked for: remembered for republishing, then started.
    LookupId put(Instant now, Key const& key, Bytes value, Duration ttl) {
        CORE_ASSERT(value.size() <= config.value_size_max);
        auto ttl_s = std::chrono::duration_cast<std::chrono::seconds>(std::min(ttl, config.ttl_max)).count();
        if (ttl_s <= 0) ttl_s = 1;
        auto shared = std::make_shared<Bytes const>(std::move(value));
        remember_put(now, key, shared, ttl_s);
        return start_lookup(now, LookupKind::put, key, false, shared, static_cast<std::uint32_t>(ttl_s));
    }

    void remember_put(Instant now, Key const& key, std::shared_ptr<Bytes const> const& value, std::int64_t ttl_s) {
        auto k = std::make_pair(key, core::blake2b_256(*value));
        if (!own_puts.contains(k) && own_puts.size() >= config.own_puts_max) return;  // served, not republished
        own_puts[k] = OwnPut{key, value, {unix_now(now).seconds + ttl_s}, now + config.republish_interval};
    }

    // ---- Timers. ----

    std::optional<Instant> next_wakeup() const {
        Instant t = std::min({next_refresh, next_sweep, next_replicate});
        if (auto a = announcements.next_due()) t = std::min(t, *a);
        if (!deadlines.empty()) t = std::min(t, deadlines.begin()->first);
        for (auto const& [lid, l] : lookups) t = std::min(t, l.deadline);
        for (auto const& [k, p] : partials) t = std::min(t, p.started + config.reassembly_timeout);
        if (next_join_retry) t = std::min(t, *next_join_retry);
        if (next_grow) t = std::min(t, *next_grow);
        return t;
    }

    void handle_timeout(Instant now) {
        // RPC deadlines first: their completions may finish lookups.
        while (!deadlines.empty() && deadlines.begin()->first <= now) {
            auto txid = deadlines.begin()->second;
            deadlines.erase(deadlines.begin());
            on_rpc_timeout(now, txid);
        }
        for (auto it = lookups.begin(); it != lookups.end();) {
            auto next = std::next(it);
            if (it->second.deadline <= now) {
                auto& l = it->second;
                if (!l.storing && stores_after_search(l.kind)) {
                    auto const lid = l.id;
                    search_done(now, l);  // store on what we found; finishes on answers
                    // Long enough for every STORE's full retry schedule (1 + 2 + 2 timeouts),
                    // unless the store phase had nothing to wait for and finished already.
                    if (auto still = lookups.find(lid); still != lookups.end())
                        still->second.deadline = now + config.rpc_timeout * (2 * config.rpc_retries + 2);
                } else {
                    if (!l.storing) l.closest = l.lookup.closest_answered();
                    finish(now, l);
                }
            }
            it = next;
        }
        expire_partials(now);
        if (next_join_retry && now >= *next_join_retry) {
            next_join_retry.reset();
            if (!joined && table.size() > 0) join(now);
        }
        if (next_grow && now >= *next_grow) grow_tick(now);
        if (now >= next_refresh) {
            refresh_buckets(now);
            next_refresh = now + jitter(config.bucket_refresh_interval / 4);
        }
        if (now >= next_replicate) {
            replicate(now);
            // Republishing rides on the replication timer: 30 s is plenty of precision for
            // an hourly republish, soon enough to retry a put that missed its quorum, and
            // next_wakeup() need not scan every own put.
            republish_due(now);
            next_replicate = now + jitter(config.replicate_interval);
        }
        reannounce_due(now);
        if (now >= next_sweep) {
            providers.prune(unix_ms(now));
            if (store.erase_expired(unix_now(now), config.expiry_sweep_batch) > 0) rebuild_usage();
            next_sweep = now + jitter(config.expiry_sweep_interval);
        }
    }

    void refresh_buckets(Instant now) {
        if (table.size() == 0) return;
        // At most a few refresh lookups per tick, so a node never floods after a pause.
        int started = 0;
        for (std::size_t prefix = 0; prefix < table.bucket_count() && started < 4; ++prefix) {
            if (now - table.bucket_last_lookup(prefix) < config.bucket_refresh_interval) continue;
            auto target = NodeId::random_in_bucket(id, 255 - static_cast<int>(prefix), rng);
            start_lookup(now, LookupKind::find_node, target, true);
            ++started;
        }
    }

    // Storer-side replication: see Config::replicate_interval. Our own puts are left to
    // republish_due(); records we hold for others are stored again when we are no longer
    // among the R closest nodes we know to their key. And any record we hold, our own
    // too, is handed to the nodes new to our table since the last pass that are now among
    // its R closest (Config::handoff_stores_max): without that, a node that joins next to
    // a key waits up to an hour for its owner's republish, and in a network smaller than R
    // (where nobody is ever displaced) it never gets the records stored before it came.
    void replicate(Instant now) {
        for (auto it = replicated.begin(); it != replicated.end();)
            it = now - it->second >= config.republish_interval ? replicated.erase(it) : std::next(it);
        if (!replicate_cursor) {  // a new pass hands over to the nodes that came since the last
            handoff_to = std::move(newcomers);
            newcomers.clear();
            handoffs_on = true;
        }
        if (table.size() == 0) return;
        auto unix = unix_now(now);
        std::vector<store::Record> misplaced;
        std::vector<std::pair<store::Record, std::vector<Contact>>> handoffs;
        std::size_t handoff_stores = 0;
        std::optional<Key> last;
        std::size_t scanned = 0;
        bool finished_pass = true;
        auto r = store.for_each([&](store::Record const& rec) {
            if (replicate_cursor && !(*replicate_cursor < rec.key)) return true;
            if (scanned++ >= config.replicate_scan_max || misplaced.size() >= config.replicate_puts_max ||
                handoff_stores >= config.handoff_stores_max) {
                finished_pass = false;
                return false;
            }
            last = rec.key;
            if (rec.expires_at <= unix || providers.is_store_key(rec.key)) return true;
            auto closest = table.closest(rec.key, replicas());
            if (!among_replicas(rec.key, closest)) {
                if (rec.source != id && !replicated.contains({rec.key, core::blake2b_256(rec.value)}))
                    misplaced.push_back(rec);
            } else if (auto to = handoff_targets(rec.key, closest); !to.empty()) {
                handoff_stores += to.size();
                handoffs.emplace_back(rec, std::move(to));
            }
            return true;
        });
        if (!r) ++stats.store_errors;
        replicate_cursor = finished_pass ? std::nullopt : last;
        if (finished_pass) handoff_to.clear();
        // Puts and hand-offs start after the scan: for_each must not see the store change under it.
        for (auto& rec : misplaced) {
            replicated[{rec.key, core::blake2b_256(rec.value)}] = now;
            auto remaining = static_cast<std::uint32_t>(rec.expires_at.seconds - unix.seconds);
            start_lookup(now, LookupKind::put, rec.key, true, std::make_shared<Bytes const>(std::move(rec.value)), remaining);
        }
        for (auto& [rec, to] : handoffs) hand_off(now, std::move(rec), to);
    }

    // The newcomers (handoff_to) among a key's R closest nodes, we included, if no other
    // node of those is closer to the key than we are: of the holders, the closest hands
    // a record over (as in Kademlia, paper 2.5), so a newcomer gets one copy, not one from
    // every holder. `closest` is our table's R closest to the key, nearest first.
    std::vector<Contact> handoff_targets(Key const& key, std::vector<Contact> const& closest) const {
        std::vector<Contact> to;
        if (handoff_to.empty()) return to;
        std::size_t ranked = 0;
        bool self_ranked = false;
        for (auto const& c : closest) {
            if (!self_ranked && key.closer(id, c.id)) {
                self_ranked = true;
                ++ranked;
            }
            if (ranked++ >= replicas()) break;
            bool const fresh = std::find(handoff_to.begin(), handoff_to.end(), c.id) != handoff_to.end();
            if (fresh) to.push_back(c);
            else if (!self_ranked) return {};  // an older holder is closer: it hands over
        }
        return to;
    }

    void hand_off(Instant now, store::Record rec, std::vector<Contact> const& to) {
        auto const remaining = rec.expires_at.seconds - unix_now(now).seconds;
        if (remaining <= 0) return;
        auto value = std::make_shared<Bytes const>(std::move(rec.value));
        for (auto const& c : to) {
            Message s;
            s.type = MsgType::store;
            s.target = rec.key;
            s.value = value;
            s.ttl_s = static_cast<std::uint32_t>(remaining);
            if (send_request(now, c, std::move(s), Purpose::handoff_store, 0)) ++stats.handoffs;
        }
    }

    // A node new to our table (or back in it after it left): the next replication pass
    // hands it the records it is now among the closest for. Not before our own first
    // pass: until then every contact is new to us, not to the network, and holds what it
    // should. Beyond the bound it is counted and left to the owners' republish.
    void note_newcomer(NodeId const& peer) {
        if (!handoffs_on) return;
        if (std::find(newcomers.begin(), newcomers.end(), peer) != newcomers.end()) return;
        if (newcomers.size() >= config.handoff_newcomers_max) {
            ++stats.handoff_newcomers_skipped;
            return;
        }
        newcomers.push_back(peer);
    }

    void republish_due(Instant now) {
        auto unix = unix_now(now);
        for (auto it = own_puts.begin(); it != own_puts.end();) {
            auto& p = it->second;
            if (p.expires_at <= unix) {
                it = own_puts.erase(it);
                continue;
            }
            if (p.next_republish <= now) {
                p.next_republish = now + config.republish_interval;
                auto remaining = static_cast<std::uint32_t>(p.expires_at.seconds - unix.seconds);
                start_lookup(now, LookupKind::put, p.key, true, p.value, remaining);
            }
            ++it;
        }
    }

    // ---- Topic rendezvous: provider records (PUBSUB-NOTES §5). ----

    static ProviderLimits provider_limits(Config const& c) {
        auto lifetime = std::chrono::duration_cast<std::chrono::milliseconds>(c.provider_ttl + c.packet_age_max);
        return {c.providers_per_topic_max, c.providers_per_subnet_max, c.providers_max, c.allow_loopback_subnet,
                static_cast<std::uint64_t>(lifetime.count())};
    }
    std::uint64_t provider_lifetime_max_ms() const { return provider_limits(config).lifetime_max_ms; }
    std::uint64_t provider_ttl_ms() const {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(config.provider_ttl).count());
    }

    static MsgType query_type(LookupKind kind) {
        switch (kind) {
            case LookupKind::get: return MsgType::find_value;
            case LookupKind::find_providers:
            case LookupKind::announce: return MsgType::find_providers;  // announce learns how many are known
            default: return MsgType::find_node;
        }
    }
    // Lookups whose search phase is followed by a store phase (they wait for all k).
    static bool stores_after_search(LookupKind kind) { return kind == LookupKind::put || kind == LookupKind::announce; }
    // A value's replicas (Config::replicas, never more than k).
    std::size_t replicas() const { return std::min(config.replicas, config.k); }
    // How many closest nodes a lookup looks for: a value's replicas for puts and gets
    // (Config::replicas), k for the rest.
    // Whether we are among the `replicas` nodes closest to `key`, given `closest`, the
    // nodes we know closest to it (nearest first, at most `replicas`).
    bool among_replicas(Key const& key, std::span<Contact const> closest) const {
        return closest.size() < replicas() || key.closer(id, closest.back().id);
    }

    std::size_t width(LookupKind kind) const {
        return kind == LookupKind::put || kind == LookupKind::get ? replicas() : config.k;
    }

    // A node may announce only itself: the subnet cap then counts real senders.
    bool accept_announce(Instant now, Contact const& from, ProviderRecord const& record) {
        if (record.node_id != from.id) {
            ++stats.provider_reject(ProviderReject::not_owner);
            return false;
        }
        return providers.accept(record, from.address, unix_ms(now));
    }

    void answer_find_providers(Instant now, Key const& topic, Message& reply) {
        auto ms = unix_ms(now);
        reply.nodes = table.closest(topic, config.k);
        reply.providers = providers.sample(topic, ms, config.providers_per_reply, rng);
        // A provider names itself (its record first), whether or not it stores records.
        if (auto own = own_record(now, topic)) {
            std::erase_if(reply.providers, [&](ProviderRecord const& r) { return r.node_id == id; });
            if (reply.providers.size() >= config.providers_per_reply && !reply.providers.empty()) reply.providers.pop_back();
            reply.providers.insert(reply.providers.begin(), *own);
        }
        reply.providers_held = static_cast<std::uint32_t>(std::min<std::size_t>(providers.fresh_count(topic, ms), UINT32_MAX));
    }

    // Our signed record of a topic we announce: signed on first use and again once less
    // than half its lifetime is left (a signature per half provider_ttl, not per answer).
    std::optional<ProviderRecord> own_record(Instant now, Key const& topic) {
        if (!signer || config.providers_per_reply == 0) return std::nullopt;
        auto* entry = announcements.find(topic);
        if (!entry || !usable_addrs(entry->addrs)) return std::nullopt;
        auto ms = unix_ms(now);
        if (!entry->own || entry->own->expires_ms < ms + provider_ttl_ms() / 2)
            entry->own = make_provider_record(*signer, topic, entry->addrs, ms + provider_ttl_ms());
        return entry->own;
    }

    // Answers a lookup gets from providers_held are few (one per node asked); keep a bound anyway.
    static constexpr std::size_t held_counts_max = 64;

    void on_providers_answer(Instant now, LookupState& l, Message const& m) {
        if (l.held_counts.size() < held_counts_max) l.held_counts.push_back(m.providers_held);
        if (l.kind != LookupKind::find_providers) return;
        auto ms = unix_ms(now);
        std::vector<ProviderRecord> fresh;
        for (auto const& r : m.providers) {
            if (r.topic != l.lookup.target()) {
                ++stats.provider_reject(ProviderReject::wrong_topic);
                continue;
            }
            add_provider(l, r, ms, fresh, true);
        }
        if (!fresh.empty()) events.push_back(ProvidersFound{l.id, l.lookup.target(), std::move(fresh)});
    }

    // Adds one record to a lookup's providers: the newest record per node, verified once
    // (a record no newer than the one held is skipped before its signature is checked).
    void add_provider(LookupState& l, ProviderRecord const& r, std::uint64_t ms, std::vector<ProviderRecord>& fresh,
                      bool verify) {
        auto held = std::find_if(l.found.begin(), l.found.end(), [&](auto const& f) { return f.node_id == r.node_id; });
        if (held != l.found.end() && held->expires_ms >= r.expires_ms) return;
        if (verify) {
            if (auto bad = check_provider_record(r, ms, provider_lifetime_max_ms())) {
                ++stats.provider_reject(*bad);
                return;
            }
        }
        if (held != l.found.end()) {
            *held = r;  // a newer record of a provider already reported
            return;
        }
        l.found.push_back(r);
        fresh.push_back(r);
    }

    bool has_enough_providers(LookupState const& l) const {
        return l.kind == LookupKind::find_providers && l.found.size() >= config.providers_enough;
    }
    // After an answer: a lookup that has what it was asked for (enough providers, or a
    // first-value get's value) ends; any other asks on.
    void continue_or_finish(Instant now, LookupState& l) {
        if (!has_enough_providers(l) && !has_first_value(l)) return advance(now, l);
        l.closest = l.lookup.closest_answered();
        finish(now, l);
    }
    // A get asked for its first value only has it: the rest of its queries would cost the
    // network datagrams nobody waits for.
    static bool has_first_value(LookupState const& l) { return l.until_first && !l.values.empty(); }

    // Records this node stores itself were checked when they were accepted.
    void add_local_providers(Instant now, LookupState& l) {
        auto ms = unix_ms(now);
        std::vector<ProviderRecord> fresh;
        for (auto const& r : providers.sample(l.lookup.target(), ms, config.providers_per_reply, rng))
            add_provider(l, r, ms, fresh, false);
        if (!fresh.empty()) events.push_back(ProvidersFound{l.id, l.lookup.target(), std::move(fresh)});
    }

    // The median of what the answerers said they hold: one storer lying high cannot
    // silence announcements on its own.
    static std::size_t median_held(LookupState const& l) {
        if (l.held_counts.empty()) return 0;
        auto counts = l.held_counts;
        auto mid = counts.begin() + static_cast<std::ptrdiff_t>(counts.size() / 2);
        std::nth_element(counts.begin(), mid, counts.end());
        return *mid;
    }

    // The store phase of an announce lookup: a freshly signed record to the k closest that
    // answered (and to our own table when we are among them), unless the topic already
    // has more than providers_announce_full providers and the draw says skip.
    void announce_to_closest(Instant now, LookupState& l) {
        l.storing = true;
        auto known = median_held(l);
        if (known > config.providers_announce_full &&
            !rng.chance(static_cast<double>(config.providers_announce_full) / static_cast<double>(known))) {
            l.announce_skipped = true;
            return finish(now, l);
        }
        auto ms = unix_ms(now);
        auto record = make_provider_record(*signer, l.lookup.target(), l.addrs, ms + provider_ttl_ms());
        bool self_among_closest = l.closest.size() < config.k || l.lookup.target().closer(id, l.closest.back().id);
        if (self_among_closest) {
            ++l.stores_tried;
            if (providers.accept(record, record.addrs.front(), ms)) ++l.stores_accepted;
        }
        for (auto const& c : l.closest) {
            Message a;
            a.type = MsgType::announce;
            a.providers.push_back(record);
            ++l.stores_tried;
            if (send_request(now, c, std::move(a), Purpose::store_for_put, l.id)) ++l.stores_pending;
        }
        if (l.stores_pending == 0) finish(now, l);
    }

    static bool usable_addrs(std::vector<Endpoint> const& addrs) {
        if (addrs.empty() || addrs.size() > provider_addrs_max) return false;
        return std::all_of(addrs.begin(), addrs.end(), [](Endpoint const& e) { return e.port != 0 && !e.is_unspecified(); });
    }

    Duration reannounce_interval() {
        auto base = config.provider_reannounce_interval;
        auto span = static_cast<std::uint64_t>(base.count() / 4 + 1);
        return base - base / 8 + Duration(static_cast<Duration::rep>(rng.uniform(span)));
    }

    LookupId announce(Instant now, Key const& topic, std::vector<Endpoint> addrs) {
        if (!signer || !usable_addrs(addrs)) return 0;
        if (!announcements.contains(topic) && announcements.size() >= config.announcements_max) return 0;
        announcements.set(topic, addrs, now + reannounce_interval());
        return start_lookup(now, LookupKind::announce, topic, false, nullptr, 0, std::move(addrs));
    }

    void reannounce_due(Instant now) {
        for (auto& [topic, addrs] : announcements.take_due(now, [&] { return reannounce_interval(); }))
            start_lookup(now, LookupKind::announce, topic, true, nullptr, 0, std::move(addrs));
    }
};

DhtNode::DhtNode(Config const& config, core::PublicKey const& public_key, core::PacketCrypto const& crypto,
                 store::RecordStore& store, core::Rng rng, core::Instant now, core::WallClockAnchor wall,
                 core::Signer const* signer)
    : impl_(std::make_unique<Impl>(config, public_key, crypto, store, std::move(rng), now, wall, signer)) {}

DhtNode::~DhtNode() = default;

void DhtNode::handle_datagram(core::Instant now, Endpoint const& from, core::ByteView bytes) {
    impl_->handle_datagram(now, from, bytes);
}
void DhtNode::handle_timeout(core::Instant now) { impl_->handle_timeout(now); }

void DhtNode::bootstrap(core::Instant now, Endpoint const& address) { impl_->bootstrap(now, address); }

void DhtNode::add_known_contact(core::Instant now, Contact const& contact) {
    if (contact.id != core::node_id_of(contact.public_key)) return;
    Message ping;
    ping.type = MsgType::ping;
    impl_->send_request(now, contact, ping, Purpose::contact_ping, 0);
}

LookupId DhtNode::find_node(core::Instant now, NodeId const& target) {
    return impl_->start_lookup(now, LookupKind::find_node, target, false);
}
LookupId DhtNode::get(core::Instant now, Key const& key, bool until_first) {
    return impl_->start_lookup(now, LookupKind::get, key, false, nullptr, 0, {}, until_first);
}
LookupId DhtNode::put(core::Instant now, Key const& key, core::Bytes value, core::Duration ttl) {
    return impl_->put(now, key, std::move(value), ttl);
}
LookupId DhtNode::announce(core::Instant now, Key const& topic, std::vector<Endpoint> addrs) {
    return impl_->announce(now, topic, std::move(addrs));
}
void DhtNode::withdraw(core::Instant, Key const& topic) { impl_->announcements.remove(topic); }
LookupId DhtNode::find_providers(core::Instant now, Key const& topic) {
    return impl_->start_lookup(now, LookupKind::find_providers, topic, false);
}

std::optional<core::Transmit> DhtNode::poll_transmit() {
    if (impl_->transmits.empty()) return std::nullopt;
    auto t = std::move(impl_->transmits.front());
    impl_->transmits.pop_front();
    return t;
}
std::optional<Event> DhtNode::poll_event() {
    if (impl_->events.empty()) return std::nullopt;
    auto e = std::move(impl_->events.front());
    impl_->events.pop_front();
    return e;
}
std::optional<core::Instant> DhtNode::next_wakeup() const { return impl_->next_wakeup(); }

NodeId const& DhtNode::id() const { return impl_->id; }
Stats const& DhtNode::stats() const { return impl_->stats; }
Config const& DhtNode::config() const { return impl_->config; }
std::size_t DhtNode::peer_count() const { return impl_->table.size(); }
std::size_t DhtNode::active_peer_count(core::Instant now) const {
    return impl_->table.active_count(now, impl_->config.active_window);
}
std::vector<PeerInfo> DhtNode::peers() const {
    std::vector<PeerInfo> out;
    for (auto const& e : impl_->table.entries()) out.push_back({e.contact, e.last_seen, e.failures});
    return out;
}
std::vector<Contact> DhtNode::closest_known(NodeId const& target, std::size_t n) const {
    return impl_->table.closest(target, n);
}
std::size_t DhtNode::lookups_in_flight() const { return impl_->lookups.size(); }
std::size_t DhtNode::record_count() const { return impl_->store.count(); }
std::size_t DhtNode::provider_record_count() const { return impl_->providers.size(); }
std::optional<core::Duration> DhtNode::measured_rtt(NodeId const& id) const {
    auto const* entry = impl_->table.find(id);
    if (!entry || entry->rtt_us == 0) return std::nullopt;
    return core::Duration{static_cast<core::Duration::rep>(entry->rtt_us)};
}
bool DhtNode::announcing(Key const& topic) const { return impl_->announcements.contains(topic); }

}  // namespace dht
