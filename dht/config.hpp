// Every tunable of the DHT core in one place, with the reason for each default. Limits
// here bound memory and work per node; the simulator may shrink caches to fit 100,000
// nodes in one process.
#pragma once

#include "core/time.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace dht {

using namespace std::chrono_literals;

struct Config {
    // Kademlia parameters (paper, section 2.2 and 2.3).
    std::size_t k = 20;
    std::size_t alpha = 3;
    // A value is stored on the `replicas` closest live nodes to its key, and a put's or
    // a get's lookup looks for those closest only (k stays the bucket size and the width
    // of every other lookup). 8, as OpenDHT and BitTorrent's DHT: measured side by side
    // with OpenDHT (docs/benchmarks.md), storing on k = 20 made a put→get pair cost
    // ~115 datagrams at 20 nodes and ~210 at 100, each a process wake-up, against ~50
    // and ~80 with 8; the chance that all 8 of a key's replicas die before the hourly
    // republish or the storers' 30 s replication moves it is 0.2^8 ≈ 3e-6 at 20% churn.
    std::size_t replicas = 8;
    // At most this many entries from one IPv4 /24 or IPv6 /64 per bucket: makes filling a
    // bucket with one operator's nodes expensive. Loopback addresses are exempt only when
    // allow_loopback_subnet is set (local test networks run every node on 127.0.0.1).
    std::size_t subnet_entries_max = 2;
    bool allow_loopback_subnet = false;
    // A newcomer that finds its bucket full waits as a replacement; the bucket's oldest
    // entry is pinged (and evicted if it fails) only if we have not heard from it for this
    // long, as BEP 5's "questionable" nodes (15 min). An entry heard from a moment ago will
    // answer: pinging it costs two datagrams and two wake-ups and changes nothing. Dead
    // entries still leave at once by failures (RoutingTable::stale_failures). In a
    // converged 100-node network this removed 13 of the 32 requests per put->get pair.
    core::Duration eviction_ping_idle = 15min;

    // A request's timeout adapts to the round trips this node measures to that peer (or,
    // before the first, to all peers): RFC 6298's srtt + max(slack, srtt / 4, 4 * rttvar),
    // kept within [rpc_timeout_min, rpc_timeout]; rpc_timeout is also the timeout before
    // any sample. The floor is low on purpose: on loopback a round trip is ~0.1 ms, and a
    // lookup must not wait 150 ms to learn that a peer is gone; on real networks (20-300
    // ms) the srtt / 4 and rttvar terms set the margin. Answers to retried requests are
    // sampled from the first attempt (an upper bound, so a rising round trip lifts the
    // estimate instead of leaving every request to time out).
    // An unanswered request is sent again up to rpc_retries times, each time after twice
    // the previous wait plus jitter. Lookups react at once (dht/lookup.hpp): the first
    // timeout makes the peer "slow" (the lookup asks the next candidate), the second makes
    // it "unresponsive" for every lookup of this node (no lookup waits for it; new lookups
    // skip it while its retries go on, and for suspect_ttl once it has failed, unless it
    // is heard from; one lookup per suspect_probe_interval asks it anyway). The peer counts as failed (routing
    // table) only once its last attempt has had the full rpc_timeout: a far peer we never
    // measured is not declared dead for answering late.
    core::Duration rpc_timeout = 1000ms;
    core::Duration rpc_timeout_min = 5ms;
    core::Duration rpc_timeout_slack = 2ms;
    unsigned rpc_retries = 2;
    core::Duration suspect_ttl = 30s;
    core::Duration suspect_probe_interval = 5s;
    // STOREs and ANNOUNCEs are answered after the storer's durable commit (an fdatasync:
    // ~8 ms at the median on a loaded VM, tens of ms at p99): they time out no sooner than
    // this, are not sampled for round trips, and their silence tells lookups nothing.
    core::Duration store_timeout_min = 250ms;
    std::size_t suspects_max = 4096;
    // A lookup waits out one retry only for its lookup_resiliency closest candidates; the
    // rest of the k closest may be slow (see dht/lookup.hpp). A get waits so for its 3
    // closest: that is where a value is. Puts and announces wait through a retry for
    // none when put_waits_for_retries is false: they store on the k closest that
    // answered, and a candidate slower than its expected round trip (dead, or a process
    // not scheduled for a while) gets no replica rather than holding the put. Waiting
    // for all k made every put as slow as the slowest of 20 nodes; waiting for the
    // closest through a retry, after 20% of the nodes died, made a fifth of the puts wait
    // two timeouts of a dead node (several, chained, when more of the closest were
    // dead), where one expected round trip tells a put all it needs. With true, puts wait
    // like gets (lookup_resiliency).
    std::size_t lookup_resiliency = 3;
    bool put_waits_for_retries = false;
    // A put is acknowledged once this many of the replicas it tried (the k closest live
    // nodes it found, and this node when it is among them) have stored the value; 0 means
    // a majority of them. It keeps storing on the rest in the background.
    std::size_t put_quorum = 0;
    // A put's search queries become the STOREs themselves (answered with nodes) once its
    // walk has settled, or from the start when the routing table's bucket for the key is
    // not full (we know every node near it): half the requests per put in a converged
    // network. See DhtNode's stores_while_searching and docs/protocol.md, "Put".
    bool put_stores_while_searching = true;
    // ...and from the very first query for values up to this size: a STORE that asks for
    // nodes is a conditional one, which a node that knows `replicas` nodes closer to the
    // key than itself declines (stores nothing, answers with nodes like a FIND_NODE), so a
    // query that lands outside the replicas costs no spare copy; above this size the
    // value's bytes would make every declined query expensive, and the rule above applies.
    std::size_t store_query_value_max = 1024;
    std::size_t pending_rpcs_max = 4096;
    std::size_t lookups_max = 256;
    // A lookup that has not converged by then finishes with what it has.
    core::Duration lookup_deadline = 30s;

    core::Duration bucket_refresh_interval = 15min;
    // After joining, the farthest this many buckets get a lookup each (see
    // DhtNode::refresh_far_buckets); together they cover 1 - 2^-n of the id space. One
    // (the far half) is the gap that hurts; each lookup more costs the network about
    // 200 packets per joining node (with the eviction pings it sets off), measured in
    // kadmium-sim at 10,000 nodes.
    std::size_t join_refresh_buckets = 1;
    // Growing the table after start. Nodes started together join through tables that are
    // themselves nearly empty: the join lookup finds a handful of contacts, and nothing
    // else would look again before the first bucket refresh, minutes later (islands of
    // 2-3 nodes were seen with 30 nodes started at once). So from bootstrap() or the
    // join on, a node "grows" its table on ticks grow_interval_min apart, doubling up to
    // grow_interval_max: each tick looks up its own id again (the near buckets, through
    // contacts that have learned more since), refreshes up to grow_bucket_lookups buckets
    // that hold fewer than k entries but should be full (see DhtNode's grow_tick), and,
    // while the table has fewer than thin_table_peers entries, says hello again to every
    // bootstrap address whose node it does not hold. Growth ends at a tick at
    // grow_interval_max when the table is not thin and did not grow since the tick
    // before; the periodic bucket refresh takes over. Doubling bounds the join traffic:
    // about 7 ticks in the first two minutes, then one a minute only while the table
    // still grows or is thin (a small network: cheap). Measured in kadmium-sim at 10,000
    // nodes joining within 5 s: see docs/simulator.md.
    core::Duration grow_interval_min = 1s;
    core::Duration grow_interval_max = 60s;
    std::size_t grow_bucket_lookups = 2;
    std::size_t thin_table_peers = 20;
    // bootstrap() addresses the node remembers for the re-hellos above (the first ones).
    std::size_t bootstrap_addresses_max = 16;
    // How often a node republishes the values it put itself.
    core::Duration republish_interval = 1h;
    // Storer-side replication (Kademlia 2.5): every replicate_interval a node scans up to
    // replicate_scan_max of the records it holds (resuming where it stopped) and, for any
    // it is no longer among the k closest known nodes for, stores it again on the k
    // closest, at most replicate_puts_max per tick and once per republish_interval per
    // record. This moves values put during a partition, or before a region of the id
    // space was known, onto the nodes a get will ask.
    core::Duration replicate_interval = 30s;
    std::size_t replicate_scan_max = 2048;
    std::size_t replicate_puts_max = 16;
    // Hand-off to newcomers (Kademlia 2.5): each replication pass also sends every record
    // a node holds (its own puts too) to the nodes that entered its table since the last
    // pass and are now among the record's R closest, if no older node among those is
    // closer to the key than this one (so one holder hands over, not all). At most
    // handoff_stores_max STOREs per tick (the pass resumes at the next), newcomers
    // remembered per pass at most handoff_newcomers_max (the rest are counted and wait
    // for the owner's republish).
    std::size_t handoff_stores_max = 64;
    std::size_t handoff_newcomers_max = 64;
    // How often expired records are swept from the store, and how many per sweep.
    core::Duration expiry_sweep_interval = 60s;
    std::size_t expiry_sweep_batch = 1000;

    // Values and their time to live.
    std::size_t value_size_max = 64 * 1024;
    core::Duration ttl_default = 1h;
    core::Duration ttl_max = 24h;
    std::size_t values_per_key_max = 32;
    std::size_t records_max = 100'000;
    std::size_t records_per_source_max = 1024;
    std::size_t bytes_per_source_max = 4 * 1024 * 1024;
    std::size_t own_puts_max = 4096;

    // Packet security. Packets whose send time is further than this from our wall clock
    // are dropped as stale; within the window, a per-peer sliding window of 64 nonce
    // counters rejects replays.
    core::Duration packet_age_max = 60s;
    // Shared keys cost ~64 µs to derive: cache them per peer public key, and derive keys
    // for packets from unknown senders at most new_keys_per_s (a flood of random keys
    // would otherwise cost a core and evict real peers from the cache).
    std::size_t key_cache_max = 4096;
    double new_keys_per_s = 2000.0;
    double new_keys_burst = 4000.0;
    // Reassembly of messages larger than one packet (big values).
    std::size_t reassembly_max = 64;
    std::size_t reassembly_bytes_max = 4 * 1024 * 1024;
    core::Duration reassembly_timeout = 5s;
    // Hello replies go to an unauthenticated address: limit them (token bucket).
    double hello_rate_per_s = 200.0;
    double hello_burst = 400.0;
    // Requests one peer key may make of us; a lookup asks a peer a handful of times, so
    // only floods hit this.
    double peer_request_rate_per_s = 500.0;
    double peer_request_burst = 1000.0;

    // Topic rendezvous (PUBSUB-NOTES §5, docs/protocol.md). A provider record lives
    // provider_ttl and is announced again every provider_reannounce_interval (jittered by
    // up to an eighth either way) while the node announces the topic. A storer keeps at
    // most providers_per_topic_max records per topic, providers_per_subnet_max per topic
    // from one /24 (/64) of senders (loopback waived with allow_loopback_subnet), and
    // providers_max in all (~250 bytes each in memory); it accepts expiries up to
    // provider_ttl + packet_age_max ahead (the clock skew packets are allowed). An answer
    // carries at most providers_per_reply random records. A provider lookup stops once it
    // holds providers_enough verified distinct providers (2 x GO's D_hi of 12). Above
    // providers_announce_full providers already known at the k closest, a node announces
    // with probability providers_announce_full / n: mesh and peer exchange find the rest.
    core::Duration provider_ttl = 2h;
    core::Duration provider_reannounce_interval = 30min;
    std::size_t providers_per_topic_max = 256;
    std::size_t providers_per_subnet_max = 4;
    std::size_t providers_max = 10'000;
    std::size_t providers_per_reply = 20;
    std::size_t providers_enough = 24;
    // Parallel queries of a provider lookup (find_providers; announce keeps alpha; the
    // larger of the two applies). A publisher outside a topic waits on this lookup before
    // its first message can leave, and the first provider record comes from whichever
    // path reaches a storer first: more paths at once find one sooner. In the simulator
    // (docs/simulator.md, "Cold publishers") 12 instead of 3 brought the first provider
    // from 144 to 74 ms (p50) and 357 to 229 ms (p99) at 2,000 nodes; the cost is a few
    // more small queries per lookup, and only the pub/sub's NeedPeers starts these.
    std::size_t providers_alpha = 12;
    // A provider lookup also asks this many of our contacts with the shortest measured
    // round trips (RoutingTable::nearest), at once and outside the alpha window, and a
    // provider answers with its own record beside the ones it stores. In a topic many
    // nodes subscribe to, one of those near contacts is likely a provider, and its record
    // arrives within a short round trip: the cold publisher dials a near peer first
    // instead of whichever storer-named provider, often in another region. 0: off. With
    // 10% of nodes subscribed, 24 miss every provider with probability 0.9^24 = 8% (12:
    // 28%). Costs up to this many more queries per provider lookup, each answer carrying
    // k contacts (~1.5 KB); docs/simulator.md has the measurements.
    std::size_t providers_nearby = 24;
    std::size_t providers_announce_full = 64;
    std::size_t announcements_max = 1024;  // topics this node announces at once

    // Peers heard from within this window count as active (kadmium_active_peers).
    core::Duration active_window = 5min;
};

}  // namespace dht
