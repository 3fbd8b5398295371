// One simulated node's identity and lifecycle; see sim_node.hpp.
#include "sim/sim_node.hpp"

#include "core/assert.hpp"
#include "sim/sim_network.hpp"

#include <array>

namespace sim {

SimNode::SimNode(NodeIndex i, std::uint64_t seed, CryptoMode mode, std::size_t records_max, bool signing)
    : index(i), endpoint(endpoint_of(i)), rng(mix64(seed, i, 0x6e6f6465 /* "node" */)) {
    std::array<std::byte, 32> key_seed;
    rng.fill(key_seed);
    if (mode == CryptoMode::real || signing) {
        identity = core::Identity::from_seed(key_seed);
        public_key = identity.public_key;
    } else {
        public_key.bytes = key_seed;
        identity.public_key = public_key;
        identity.id = core::node_id_of(public_key);
    }
    if (mode == CryptoMode::real) crypto = std::make_unique<core::SodiumCrypto>(identity);
    else crypto = std::make_unique<core::StandInCrypto>(public_key);
    id = core::node_id_of(public_key);
    store = std::make_unique<store::MemStore>(records_max);
    messages = std::make_unique<pubsub::MemoryMessageStore>();
}

void SimNode::start(node::EngineConfig const& config, core::Instant now) {
    CORE_ASSERT(state == State::created || state == State::down);
    // Sequence numbers from the virtual wall clock in microseconds, as in production.
    auto const first_seqno = static_cast<std::uint64_t>(sim_wall.unix.seconds) * 1'000'000 +
                             static_cast<std::uint64_t>(now.since_origin.count());
    engine = std::make_unique<node::Engine>(config, identity, *crypto, *store, *messages, rng.split(), now, sim_wall,
                                            first_seqno, std::vector<core::Endpoint>{endpoint});
    link_of_stream.clear();
    stream_of_link.clear();
    CORE_ASSERT(engine->dht().id() == id);
    state = State::up;
    ++incarnation;
    wakeup_at.reset();
    same_instant_timeouts = 0;
}

void SimNode::stop(bool leave) {
    CORE_ASSERT(state == State::up);
    add_stats(stats_before, engine->dht().stats());
    link_bytes_before += engine->stats().bytes_out;
    pubsub_duplicates_before += engine->pubsub().stats().duplicate;
    catchup_before.add(engine->pubsub().stats());
    engine.reset();
    link_of_stream.clear();
    stream_of_link.clear();
    wakeup_at.reset();
    state = leave ? State::gone : State::down;
    // A node that leaves for good frees its records too: nothing will read them again.
    if (leave) {
        store = std::make_unique<store::MemStore>(store->records_max());
        messages = std::make_unique<pubsub::MemoryMessageStore>();
    }
}

void CatchupCounters::add(pubsub::Stats const& s) {
    CatchupCounters c;
    c.catchup_messages = s.catchup_messages;
    c.sync_bytes_sent = s.sync_bytes_sent;
    c.sync_bytes_received = s.sync_bytes_received;
    c.fetch_served = s.fetch_served;
    c.anti_entropy_runs = s.anti_entropy_runs;
    c.sync_sessions = s.sync_sessions;
    add(c);
}

void CatchupCounters::add(CatchupCounters const& c) {
    catchup_messages += c.catchup_messages;
    sync_bytes_sent += c.sync_bytes_sent;
    sync_bytes_received += c.sync_bytes_received;
    fetch_served += c.fetch_served;
    anti_entropy_runs += c.anti_entropy_runs;
    for (std::size_t i = 0; i < sync_sessions.size(); ++i) sync_sessions[i] += c.sync_sessions[i];
}

void add_stats(dht::Stats& a, dht::Stats const& b) {
    for (std::size_t i = 0; i < a.dropped.size(); ++i) a.dropped[i] += b.dropped[i];
    for (std::size_t t = 0; t < a.rpc.size(); ++t)
        for (std::size_t o = 0; o < a.rpc[t].size(); ++o) a.rpc[t][o] += b.rpc[t][o];
    a.bytes_in += b.bytes_in;
    a.bytes_out += b.bytes_out;
    a.packets_in += b.packets_in;
    a.packets_out += b.packets_out;
    a.lookups_started += b.lookups_started;
    a.lookups_done += b.lookups_done;
    a.store_errors += b.store_errors;
    a.evictions += b.evictions;
    a.provider_probes += b.provider_probes;
}

}  // namespace sim
