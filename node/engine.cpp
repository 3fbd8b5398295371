// node::Engine; see engine.hpp. Map: construction; inputs (datagrams, timeouts, streams);
// commands; pump() — the loop that moves work between the cores until nothing is left:
// DHT events (provider lookups answer the router), router outputs (Rpcs to sessions,
// dials, announcements), sessions (frames to the router, ends); outputs; observation.
#include "node/engine.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace node {

namespace {

// Work the pump does per input is bounded: each pass moves everything queued, and a pass
// only creates new work through the router, which bounds what it emits per input.
constexpr int pump_passes_max = 64;

// Room in a link frame besides the envelopes it carries: the Rpc's version, field arrays
// and length prefixes (a few dozen bytes for one message; catch-up replies are bounded by
// reply_bytes_max below the frame limit). The link must carry the largest message any
// node may send in one frame, or a peer would cut links over a legal message.
constexpr std::size_t frame_room = pubsub::envelope_overhead + 1024;
static_assert(links::Config{}.frame_size_max >= pubsub::payload_wire_max + frame_room);

std::uint64_t ip_key(core::Endpoint const& e) {
    // The address without the port: the handshake limit is per source address.
    std::uint64_t h = 1469598103934665603ull;
    for (auto x : e.addr) h = (h ^ x) * 1099511628211ull;
    return h ^ static_cast<std::uint64_t>(e.family);
}

// Bytes an Rpc of forwarded messages encodes to, about (the envelopes and a little per
// entry); control-only Rpcs are small and grow their buffer as they need.
std::size_t encoded_size_hint(pubsub::Rpc const& rpc) {
    std::size_t n = 64;
    for (auto const& m : rpc.messages) n += m.size() + 5;
    return n;
}

}  // namespace

char const* to_string(LinkEnd e) {
    switch (e) {
        case LinkEnd::handshake_failed: return "handshake_failed";
        case LinkEnd::handshake_timeout: return "handshake_timeout";
        case LinkEnd::decrypt_failed: return "decrypt_failed";
        case LinkEnd::frame_too_large: return "frame_too_large";
        case LinkEnd::slow_peer: return "slow_peer";
        case LinkEnd::closed_by_peer: return "closed_by_peer";
        case LinkEnd::local: return "local";
        case LinkEnd::duplicate: return "duplicate";
        case LinkEnd::too_many_links: return "too_many_links";
        case LinkEnd::handshake_rate: return "handshake_rate";
        case LinkEnd::connect_failed: return "connect_failed";
        case LinkEnd::bad_frame: return "bad_frame";
        case LinkEnd::count: break;
    }
    return "unknown";
}

LinkEnd link_end_of(links::CloseReason r) {
    switch (r) {
        case links::CloseReason::handshake_failed: return LinkEnd::handshake_failed;
        case links::CloseReason::handshake_timeout: return LinkEnd::handshake_timeout;
        case links::CloseReason::decrypt_failed: return LinkEnd::decrypt_failed;
        case links::CloseReason::frame_too_large: return LinkEnd::frame_too_large;
        case links::CloseReason::slow_peer: return LinkEnd::slow_peer;
        case links::CloseReason::closed_by_peer: return LinkEnd::closed_by_peer;
        case links::CloseReason::local:
        case links::CloseReason::none: break;
    }
    return LinkEnd::local;
}

Engine::Engine(EngineConfig const& config, core::Identity const& identity, core::PacketCrypto const& crypto,
               store::RecordStore& store, pubsub::MessageStore& messages, core::Rng rng, core::Instant now,
               core::WallClockAnchor wall, std::uint64_t first_seqno, std::vector<core::Endpoint> listen)
    : config_(config),
      frame_limits_(config.pubsub.limits),
      identity_(identity),
      signer_(identity),
      rng_(rng.split()),
      dht_(config.dht, identity.public_key, crypto, store, rng.split(), now, wall, &signer_),
      router_(config.pubsub, identity, messages, rng.split(), now, wall, first_seqno),
      listen_(std::move(listen)) {
    CORE_ASSERT(config.pubsub.limits.payload_max <= pubsub::payload_wire_max);
    CORE_ASSERT(config.link.frame_size_max >= pubsub::payload_wire_max + frame_room);
    frame_limits_.payload_max = pubsub::payload_wire_max;
    router_.set_listen_addresses(listen_);
    pump(now);
}

Engine::~Engine() = default;

// --- Inputs. ---

void Engine::handle_datagram(core::Instant now, core::Endpoint const& from, core::ByteView bytes) {
    dht_.handle_datagram(now, from, bytes);
    pump(now);
}

void Engine::handle_timeout(core::Instant now) {
    dht_.handle_timeout(now);
    router_.handle_timeout(now);
    for (auto& [id, s] : streams_) {
        if (auto w = s.session.next_wakeup(); w && *w <= now) s.session.handle_timeout(now);
    }
    pump(now);
}

std::optional<StreamId> Engine::handle_stream_accepted(core::Instant now, core::Endpoint const& from) {
    if (streams_.size() >= config_.links_max) {
        ++stats_.link_ends[static_cast<std::size_t>(LinkEnd::too_many_links)];
        return std::nullopt;
    }
    if (!handshake_allowed(now, from)) {
        ++stats_.link_ends[static_cast<std::size_t>(LinkEnd::handshake_rate)];
        return std::nullopt;
    }
    auto id = new_stream(now, from, false, std::nullopt);
    if (id) ++stats_.streams_accepted;
    pump(now);
    return id;
}

void Engine::handle_stream_connected(core::Instant now, StreamId id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second.connected = true;
    mark_writable(id, it->second);
    pump(now);
}

void Engine::handle_stream_bytes(core::Instant now, StreamId id, core::ByteView bytes) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second.session.handle_bytes(now, bytes);
    pump(now);
}

void Engine::handle_stream_closed(core::Instant now, StreamId id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    auto& s = it->second;
    if (s.session.state() == links::State::handshaking && s.outbound) {
        ++stats_.link_ends[static_cast<std::size_t>(LinkEnd::connect_failed)];
        s.closing = true;  // the host knows: no StreamClose for it
        finish_stream(now, id, s);
    } else {
        s.session.handle_stream_closed();
        s.closing = true;
    }
    pump(now);
}

// --- Commands. ---

void Engine::bootstrap(core::Instant now, core::Endpoint const& address) {
    dht_.bootstrap(now, address);
    pump(now);
}
void Engine::add_known_contact(core::Instant now, dht::Contact const& contact) {
    dht_.add_known_contact(now, contact);
    pump(now);
}
dht::LookupId Engine::find_node(core::Instant now, core::NodeId const& target) {
    auto id = dht_.find_node(now, target);
    pump(now);
    return id;
}
dht::LookupId Engine::get(core::Instant now, core::Key const& key, bool until_first) {
    auto id = dht_.get(now, key, until_first);
    pump(now);
    return id;
}
dht::LookupId Engine::put(core::Instant now, core::Key const& key, core::Bytes value, core::Duration ttl) {
    auto id = dht_.put(now, key, std::move(value), ttl);
    pump(now);
    return id;
}

core::Result<void, pubsub::PublishError> Engine::subscribe(core::Instant now, std::string_view topic) {
    auto r = router_.subscribe(now, topic);
    pump(now);
    return r;
}
void Engine::unsubscribe(core::Instant now, std::string_view topic) {
    router_.unsubscribe(now, topic);
    pump(now);
}
core::Result<pubsub::PublishReceipt, pubsub::PublishError> Engine::publish(core::Instant now, std::string_view topic,
                                                                           core::ByteView payload) {
    auto r = router_.publish(now, topic, payload);
    pump(now);
    return r;
}
core::Result<pubsub::PublishReceipt, pubsub::PublishError> Engine::republish(core::Instant now, std::string_view topic,
                                                                             pubsub::Message const& message) {
    auto r = router_.republish(now, topic, message);
    pump(now);
    return r;
}

// --- The pump. ---

void Engine::pump(core::Instant now) {
    // Each pass moves everything queued between the cores; frames handed to the router
    // may make it answer, so pass again until a pass moves nothing (bounded).
    for (int pass = 0; pass < pump_passes_max; ++pass) {
        progress_ = false;
        pump_dht_events(now);
        pump_router(now);
        pump_streams(now);
        if (!progress_) return;
    }
}

void Engine::pump_dht_events(core::Instant now) {
    while (auto e = dht_.poll_event()) {
        if (auto const* found = std::get_if<dht::ProvidersFound>(&*e)) {
            if (auto it = provider_lookups_.find(found->id); it != provider_lookups_.end())
                give_providers(now, it->second, found->providers);
            continue;  // the host has no use for provider lookups the engine made
        }
        if (auto const* done = std::get_if<dht::LookupDone>(&*e)) {
            if (auto it = provider_lookups_.find(done->id); it != provider_lookups_.end()) {
                // Every record again, in case a ProvidersFound was missed; the router
                // ignores peers it already knows.
                give_providers(now, it->second, done->providers);
                provider_lookups_.erase(it);
            }
        }
        events_.emplace_back(std::move(*e));
    }
}

void Engine::give_providers(core::Instant now, pubsub::TopicKey const& topic,
                            std::vector<dht::ProviderRecord> const& records) {
    // The records themselves, not just addresses: the router may pass them on in PX.
    std::vector<pubsub::PeerRecord> peers;
    std::vector<core::Duration> rtts;  // measured round trips, for dialing the near first
    for (auto const& r : records) {
        if (r.node_id == identity_.id) continue;
        peers.push_back(r);
        rtts.push_back(dht_.measured_rtt(r.node_id).value_or(core::Duration{0}));
    }
    if (peers.empty()) return;
    router_.add_provider_records(now, topic, std::move(peers), rtts);
    progress_ = true;
}

void Engine::pump_router(core::Instant now) {
        while (auto e = router_.poll_event()) {
        progress_ = true;
        std::visit(
            [&](auto& ev) {
                using T = std::decay_t<decltype(ev)>;
                if constexpr (std::is_same_v<T, pubsub::Delivered>) {
                    events_.emplace_back(std::move(ev));
                } else if constexpr (std::is_same_v<T, pubsub::NeedPeers>) {
                    auto id = dht_.find_providers(now, ev.topic);
                    provider_lookups_.emplace(id, ev.topic);
                } else if constexpr (std::is_same_v<T, pubsub::Dial>) {
                    dial(now, ev.peer);
                } else if constexpr (std::is_same_v<T, pubsub::CloseLink>) {
                    if (auto it = streams_.find(ev.link); it != streams_.end()) it->second.session.close();
                } else if constexpr (std::is_same_v<T, pubsub::Announce>) {
                    dht_.announce(now, ev.topic, listen_);
                } else if constexpr (std::is_same_v<T, pubsub::Withdraw>) {
                    dht_.withdraw(now, ev.topic);
                }
            },
            *e);
    }
    while (auto send = router_.poll_send()) {
        progress_ = true;
        auto it = streams_.find(send->link);
        if (it == streams_.end() || !it->second.up) continue;  // the link went down meanwhile
        // Encoded into a buffer of about its size, which the session then keeps (no copy).
        core::Bytes frame;
        frame.reserve(encoded_size_hint(send->rpc));
        pubsub::encode(send->rpc, frame);
        if (frame.size() > config_.link.frame_size_max) {
            // The router bounds Rpcs below this; counted all the same, never silent.
            ++stats_.frames_too_large_out;
            continue;
        }
        it->second.session.send(send->priority, std::move(frame));
        mark_writable(it->first, it->second);
    }
}

void Engine::pump_streams(core::Instant now) {
    for (auto it = streams_.begin(); it != streams_.end();) {
        auto next = std::next(it);
        service_stream(now, it->first, it->second);
        it = next;
    }
}

void Engine::service_stream(core::Instant now, StreamId id, Stream& s) {
    if (!s.up && s.session.state() == links::State::established) on_established(now, id, s);
    std::size_t frames = 0;
    while (s.up && frames < config_.frames_per_input_max) {
        auto frame = s.session.poll_frame();
        if (!frame) break;
        ++frames;
        progress_ = true;
        auto rpc = pubsub::decode_rpc(*frame, frame_limits_);
        if (!rpc) {
            router_.handle_bad_frame(now, id, rpc.error());
            continue;
        }
        router_.handle_rpc(now, id, std::move(rpc).value());
    }
    if (s.session.wants_write()) mark_writable(id, s);
    if (s.session.state() == links::State::closed) finish_stream(now, id, s);
}

void Engine::on_established(core::Instant now, StreamId id, Stream& s) {
    auto const peer = *s.session.peer_id();
    if (auto other = link_of_peer_.find(peer); other != link_of_peer_.end()) {
        // Both ends dialed at once. Keep the link dialed by the smaller node id, on both
        // sides alike, so exactly one survives.
        auto& o = streams_.at(other->second);
        bool const this_dialed_by_smaller = s.outbound ? identity_.id < peer : peer < identity_.id;
        auto& loser = this_dialed_by_smaller ? o : s;
        ++stats_.link_ends[static_cast<std::size_t>(LinkEnd::duplicate)];
        if (&loser == &s) {
            s.session.close();
            return;
        }
        o.session.close();
        // The other one leaves the router when it finishes; this one replaces it.
        router_.handle_link_down(now, other->second);
        o.up = false;
    }
    s.up = true;
    ++stats_.links_established;
    link_of_peer_[peer] = id;
    // Loopback peers share one address by design (test networks): exempt from P6.
    std::optional<std::uint64_t> ip_group;
    if (!s.remote.is_loopback()) ip_group = s.remote.subnet_key();
    router_.handle_link_up(now, id, peer, s.outbound, ip_group);
    progress_ = true;
}

void Engine::finish_stream(core::Instant now, StreamId id, Stream& s) {
    auto const reason = s.session.close_reason();
    if (reason != links::CloseReason::none) ++stats_.link_ends[static_cast<std::size_t>(link_end_of(reason))];
    if (s.up) {
        router_.handle_link_down(now, id);
        progress_ = true;
    } else if (s.outbound && s.expected && s.session.state() != links::State::established) {
        router_.handle_dial_failed(now, *s.expected);
    }
    if (auto p = s.session.peer_id()) {
        if (auto it = link_of_peer_.find(*p); it != link_of_peer_.end() && it->second == id) link_of_peer_.erase(it);
    }
    auto const& st = s.session.stats();
    stats_.bytes_in += st.bytes_in;
    stats_.bytes_out += st.bytes_out;
    stats_.frames_in += st.frames_in;
    stats_.frames_out += st.frames_out;
    for (std::size_t i = 0; i < st.frames_dropped.size(); ++i) stats_.frames_dropped[i] += st.frames_dropped[i];
    // The final frame (and anything else still queued) goes out with the close.
    if (!s.closing) events_.emplace_back(StreamClose{id, s.session.poll_write(SIZE_MAX)});
    streams_.erase(id);
}

void Engine::dial(core::Instant now, pubsub::PeerAddress const& peer) {
    if (link_of_peer_.contains(peer.id) || peer.id == identity_.id) return;
    // The first address of a family this node listens on.
    std::optional<core::Endpoint> to;
    for (auto const& a : peer.addrs) {
        bool const reachable = std::any_of(listen_.begin(), listen_.end(), [&](auto const& l) { return l.family == a.family; });
        if (reachable) {
            to = a;
            break;
        }
    }
    if (!to || streams_.size() >= config_.links_max) {
        if (to) ++stats_.link_ends[static_cast<std::size_t>(LinkEnd::too_many_links)];
        router_.handle_dial_failed(now, peer.id);
        return;
    }
    auto id = new_stream(now, *to, true, peer.id);
    if (!id) {
        router_.handle_dial_failed(now, peer.id);
        return;
    }
    ++stats_.streams_opened_out;
    events_.emplace_back(StreamOpen{*id, *to});
}

std::optional<StreamId> Engine::new_stream(core::Instant now, core::Endpoint const& remote, bool outbound,
                                           std::optional<core::NodeId> expected) {
    auto const id = next_stream_++;
    auto role = outbound ? links::Role::initiator : links::Role::responder;
    Stream s{links::Session(role, identity_, expected, ephemeral_seed(), now, config_.link), remote, outbound,
             !outbound, false, expected, false, false};
    auto [it, inserted] = streams_.emplace(id, std::move(s));
    CORE_ASSERT(inserted);
    if (!outbound) mark_writable(id, it->second);
    return id;
}

bool Engine::handshake_allowed(core::Instant now, core::Endpoint const& from) {
    // Every local test node shares 127.0.0.1: links_max still bounds them.
    if (from.is_loopback()) return true;
    if (handshake_buckets_.size() >= config_.handshake_limiter_ips_max) handshake_buckets_.clear();
    auto [it, fresh] = handshake_buckets_.try_emplace(ip_key(from), Bucket{config_.handshake_burst, now});
    auto& b = it->second;
    if (!fresh) {
        b.tokens = std::min(config_.handshake_burst,
                            b.tokens + core::to_seconds(now - b.at) * config_.handshakes_per_ip_per_s);
        b.at = now;
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
}

void Engine::mark_writable(StreamId id, Stream& s) {
    if (s.write_signalled) return;
    if (s.outbound && !s.connected) return;
    s.write_signalled = true;
    writable_.push_back(id);
}

std::array<std::byte, 32> Engine::ephemeral_seed() {
    std::array<std::byte, 32> seed;
    rng_.fill(seed);
    return seed;
}

// --- Outputs. ---

std::optional<core::Transmit> Engine::poll_transmit() { return dht_.poll_transmit(); }

std::optional<Event> Engine::poll_event() {
    if (events_.empty()) return std::nullopt;
    auto e = std::move(events_.front());
    events_.pop_front();
    return e;
}

std::optional<StreamId> Engine::poll_writable() {
    while (!writable_.empty()) {
        auto id = writable_.front();
        writable_.pop_front();
        auto it = streams_.find(id);
        if (it == streams_.end()) continue;
        it->second.write_signalled = false;
        return id;
    }
    return std::nullopt;
}

core::Bytes Engine::take_stream_bytes(StreamId id, std::size_t max_bytes) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return {};
    return it->second.session.poll_write(max_bytes);
}

bool Engine::stream_wants_write(StreamId id) const {
    auto it = streams_.find(id);
    return it != streams_.end() && it->second.session.wants_write();
}

std::optional<core::Instant> Engine::next_wakeup() const {
    auto w = dht_.next_wakeup();
    auto merge = [&](std::optional<core::Instant> x) {
        if (x && (!w || *x < *w)) w = x;
    };
    merge(router_.next_wakeup());
    for (auto const& [id, s] : streams_) merge(s.session.next_wakeup());
    return w;
}

// --- Observation. ---

std::size_t Engine::links(bool outbound) const {
    return static_cast<std::size_t>(
        std::count_if(streams_.begin(), streams_.end(), [&](auto const& kv) { return kv.second.up && kv.second.outbound == outbound; }));
}

EngineStats Engine::stats() const {
    auto total = stats_;
    for (auto const& [id, s] : streams_) {
        auto const& st = s.session.stats();
        total.bytes_in += st.bytes_in;
        total.bytes_out += st.bytes_out;
        total.frames_in += st.frames_in;
        total.frames_out += st.frames_out;
        for (std::size_t i = 0; i < st.frames_dropped.size(); ++i) total.frames_dropped[i] += st.frames_dropped[i];
    }
    return total;
}

}  // namespace node
