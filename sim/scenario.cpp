// The standard kadmium-sim scenario: join, settle, workload with faults, drain, and the
// optional liveness phase; the lookup and get checkers. See scenario.hpp for the phases
// and the success rules.
#include "sim/scenario.hpp"

#include "core/assert.hpp"
#include "core/crypto.hpp"
#include "sim/live_set.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <unordered_map>

namespace sim {

double percentile(std::vector<double>& values, double p) {
    if (values.empty()) return 0.0;
    std::sort(values.begin(), values.end());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    rank = std::clamp<std::size_t>(rank, 1, values.size());
    return values[rank - 1];
}

double peak_rss_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

namespace {

double ms(core::Duration d) { return static_cast<double>(d.count()) / 1000.0; }
std::uint64_t word0(core::NodeId const& id) {
    std::uint64_t w = 0;
    for (int i = 0; i < 8; ++i) w = (w << 8) | std::to_integer<std::uint64_t>(id.bytes[i]);
    return w;
}

// A put's value: "sim-value-<i>:" and this many random bytes, so that it is small (one
// datagram) and unique per (seed, put): a get cannot match another put's value.
constexpr std::size_t value_random_bytes = 8;
// The liveness batch is spread over this much virtual time rather than started in one
// instant: no real workload starts a thousand lookups in the same microsecond.
constexpr core::Duration liveness_batch_window = 10s;
// After the workload, publishing stops and messages in flight arrive (a few hops of at
// most a few hundred ms each, plus IWANT repair on the heartbeat).
constexpr core::Duration pubsub_drain_min = 10s;

// The routers' settings for the run: the defaults, with the run's anti-entropy interval
// and choking.
pubsub::Config router_config(ScenarioOptions const& o) {
    pubsub::Config c;
    c.catchup.anti_entropy_interval = o.pubsub.anti_entropy_interval;
    c.choke = o.pubsub.choke_keep > 0;
    if (c.choke) c.choke_keep = o.pubsub.choke_keep;
    return c;
}

class ScenarioRun {
public:
    explicit ScenarioRun(ScenarioOptions const& o)
        : o_(o),
          sim_(SimOptions{.seed = o.seed,
                          .crypto = o.crypto,
                          .dht = o.dht,
                          .pubsub = router_config(o),
                          .link = {},
                          .signing = o.pubsub.enabled(),
                          .network = o.network,
                          .streams = {},
                          .records_max = o.dht.records_max,
                          .events_max = o.events_max}),
          rng_(mix64(o.seed, 0x7363656e /* "scen" */)) {
        CORE_ASSERT(o.nodes >= 1);
        CORE_ASSERT(o.join_rate > 0.0);
        CORE_ASSERT(o.churn >= 0.0 && o.churn <= 1.0);
        CORE_ASSERT(o.bootstrap_peers >= 1);
        // Puts are numbered by 32-bit indexes in the in-flight map.
        CORE_ASSERT(o.puts <= std::numeric_limits<std::uint32_t>::max());
        sim_.on_event = [this](NodeIndex i, dht::Event& ev) { on_event(i, ev); };
        if (o.pubsub.enabled()) {
            pubsub_.emplace(sim_, o.pubsub, o.seed);
            sim_.on_delivered = [this](NodeIndex i, pubsub::Delivered& d) { pubsub_->on_delivered(i, d); };
            sim_.on_watched = [this](NodeIndex i, std::vector<node::Event> const& ev) { pubsub_->on_watched(i, ev); };
        }
    }

    ScenarioResult run() {
        auto const wall_start = std::chrono::steady_clock::now();
        wall_last_ = wall_start;
        double const rss_before = peak_rss_mb();
        schedule_joins();
        auto const join_end = sim_.now() + join_window();
        workload_start_ = join_end + o_.settle;
        workload_end_ = workload_start_ + o_.workload;
        sim_.at(workload_start_, [this] { snapshot_tables(); });
        schedule_workload();
        run_phase(workload_end_, "join/settle/workload");
        // Messages published at the end of the workload are still travelling.
        // A healed partition waits for anti-entropy (see pubsub_drain()).
        if (pubsub_) run_phase(workload_end_ + pubsub_drain(o_), "pubsub drain");
        // Drain: every lookup ends by its deadline; the margin covers the last replies.
        // Nodes that joined late in the workload get the same time to finish joining. A
        // get may wait for its put first: then it may take two lookups' time.
        auto drain_max = o_.dht.lookup_deadline + 10s;
        if (gets_total() > 0) drain_max += o_.dht.lookup_deadline + 10s;
        drain(drain_max, "drain");
        // An exhausted event budget is already a failure; a liveness batch could not run.
        if (o_.liveness && !sim_.stopped() && sim_.events() < o_.events_max) run_liveness();
        auto const wall_end = std::chrono::steady_clock::now();

        ScenarioResult r;
        r.options = o_;
        r.virtual_seconds = core::to_seconds(sim_.now().since_origin);
        r.wall_seconds = std::chrono::duration<double>(wall_end - wall_start).count();
        r.events = sim_.events();
        r.trace_hash = sim_.trace_hash();
        r.peak_rss_mb = peak_rss_mb();
        if (peak_up_ > 0) r.memory_per_node_kb = (r.peak_rss_mb - rss_before) * 1024.0 / static_cast<double>(peak_up_);
        r.queue_peak = sim_.queue_peak();
        r.nodes_created = sim_.node_count();
        for (NodeIndex i = 0; i < sim_.node_count(); ++i) {
            if (!sim_.node(i).up()) continue;
            ++r.nodes_up_end;
            if (state_[i].joined) {
                ++r.nodes_joined_end;
                continue;
            }
            ++r.join_failures;
            if (r.not_joined.size() < 10) r.not_joined.push_back({i, state_[i].started, state_[i].retries});
        }
        r.bootstrap_retries = bootstrap_retries_;
        r.left = left_;
        r.joined_late = joined_late_;
        r.crashes = crashes_;
        r.restarts = restarts_;
        r.join_ms_p50 = percentile(join_ms_, 50);
        r.join_ms_p99 = percentile(join_ms_, 99);
        r.table_sizes = table_sizes_;
        r.table_min = table_stats_[0];
        r.table_p1 = table_stats_[1];
        r.table_p50 = table_stats_[2];
        r.table_max = table_stats_[3];
        r.join_packets_per_node = join_traffic_[0];
        r.join_bytes_per_node = join_traffic_[1];
        r.network = sim_.network().stats();
        r.delivered = sim_.datagrams_delivered();
        r.to_down = sim_.datagrams_to_down();
        r.links_opened = sim_.links().opened_total();
        r.dht = sim_.total_stats();
        r.violations = sim_.violations();
        r.lookups = std::move(lookups_);
        r.puts = std::move(puts_);
        r.gets = std::move(gets_);
        r.liveness_lookups = std::move(liveness_lookups_);
        if (pubsub_) r.pubsub = pubsub_->summarise();
        r.liveness_gets = std::move(liveness_gets_);
        r.liveness.ran = liveness_started_;
        r.liveness.started_s = core::to_seconds(liveness_start_.since_origin);
        summarise(r);
        check(r);
        return r;
    }

private:
    struct NodeState {
        bool joined = false;
        std::uint8_t retries = 0;
        core::Instant started;
    };

    // What a lookup in flight was started for: an index into one of the record vectors.
    enum class What : std::uint8_t { lookup, put, get, liveness_lookup, liveness_get };
    struct Ref {
        What what = What::lookup;
        std::uint32_t index = 0;
    };

    core::Duration join_window() const {
        if (o_.join_window) return *o_.join_window;
        auto us = static_cast<double>(o_.nodes) / o_.join_rate * 1e6;
        return core::Duration{static_cast<std::int64_t>(us)};
    }

    std::size_t gets_total() const { return o_.puts == 0 ? 0 : o_.gets.value_or(o_.puts); }

    // Time offset uniform in [0, span).
    core::Duration uniform_in(core::Duration span) {
        if (span.count() <= 0) return core::Duration{0};
        return core::Duration{static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(span.count())))};
    }

    void schedule_joins() {
        state_.reserve(o_.nodes);
        if (o_.join_window) {
            // Node indexes follow start times: the first node at 0, the rest sorted.
            std::vector<core::Duration> starts(o_.nodes - 1);
            for (auto& t : starts) t = uniform_in(*o_.join_window);
            std::sort(starts.begin(), starts.end());
            sim_.at(core::Instant{}, [this] { join_new_node(); });
            for (auto t : starts) sim_.at(core::Instant{} + t, [this] { join_new_node(); });
            return;
        }
        for (std::size_t i = 0; i < o_.nodes; ++i) {
            auto at = core::Instant{} + core::Duration{static_cast<std::int64_t>(static_cast<double>(i) / o_.join_rate * 1e6)};
            sim_.at(at, [this] { join_new_node(); });
        }
    }

    void schedule_workload() {
        auto const lookups = o_.lookups;
        for (std::size_t k = 0; k < lookups; ++k) {
            // Evenly spread, each with a random offset inside its own slot.
            auto slot = o_.workload / static_cast<std::int64_t>(std::max<std::size_t>(lookups, 1));
            auto at = workload_start_ + slot * static_cast<std::int64_t>(k) + uniform_in(slot);
            sim_.at(at, [this] { issue_lookup(false); });
        }
        auto const churn = static_cast<std::size_t>(std::llround(o_.churn * static_cast<double>(o_.nodes)));
        for (std::size_t k = 0; k < churn; ++k) {
            sim_.at(workload_start_ + uniform_in(o_.workload), [this] { leave_random_node(); });
            sim_.at(workload_start_ + uniform_in(o_.workload), [this] {
                if (liveness_started_) return;
                ++joined_late_;
                join_new_node();
            });
        }
        // Crashes fall early enough for the restart to happen inside the workload.
        auto const crash_span = o_.workload > o_.downtime ? o_.workload - o_.downtime : core::Duration{0};
        for (std::size_t k = 0; k < o_.crashes; ++k) {
            sim_.at(workload_start_ + uniform_in(crash_span), [this] { crash_random_node(); });
        }
        for (auto const& p : o_.partitions) {
            sim_.at(workload_start_ + p.at, [this, p] {
                if (!liveness_started_) sim_.partition(p.fraction, p.one_way);
            });
            sim_.at(workload_start_ + p.at + p.duration, [this] { sim_.heal(); });
        }
        schedule_values();
        // Subscribers are picked among the nodes joined when the workload starts.
        if (pubsub_)
            sim_.at(workload_start_, [this] {
                pubsub_->schedule(workload_start_, workload_end_, [this] { return joined_.pick(rng_); },
                                  NodeControl{.stop = [this](NodeIndex n) { take_down(n, false); },
                                              .restart = [this](NodeIndex n) { start(n); }});
            });
    }

    // Puts spread over the first half of the workload, gets over the second: each get is
    // about half a workload younger than its put, with churn and faults in between. Drawn
    // after everything else, so that a run without values keeps its schedule.
    void schedule_values() {
        auto const puts = o_.puts;
        auto const gets = gets_total();
        if (puts == 0) return;
        puts_.resize(puts);
        gets_waiting_.assign(puts, 0);
        for (std::size_t i = 0; i < puts; ++i) puts_[i].key = core::key_of("sim-key-" + std::to_string(i));
        auto const half = o_.workload / 2;
        auto const put_slot = half / static_cast<std::int64_t>(puts);
        for (std::size_t i = 0; i < puts; ++i) {
            auto at = workload_start_ + put_slot * static_cast<std::int64_t>(i) + uniform_in(put_slot);
            sim_.at(at, [this, i] { issue_put(static_cast<std::uint32_t>(i)); });
        }
        auto const get_slot = (o_.workload - half) / static_cast<std::int64_t>(std::max<std::size_t>(gets, 1));
        for (std::size_t j = 0; j < gets; ++j) {
            auto at = workload_start_ + half + get_slot * static_cast<std::int64_t>(j) + uniform_in(get_slot);
            sim_.at(at, [this, p = static_cast<std::uint32_t>(j % puts)] { request_get(p); });
        }
    }

    // Runs to `end`, printing progress about every 2 wall seconds when asked.
    void run_phase(core::Instant end, char const* phase) {
        while (sim_.now() < end && !sim_.stopped()) {
            auto slice_end = std::min(end, sim_.now() + 100ms);
            sim_.run_until(slice_end);
            if (sim_.now() < slice_end) break;  // events_max reached
            if (!o_.progress) continue;
            auto wall = std::chrono::steady_clock::now();
            if (wall - wall_last_ < std::chrono::seconds(2)) continue;
            wall_last_ = wall;
            std::fprintf(stderr, "[kadmium-sim] %s t=%.1fs events=%llu queue=%zu up=%zu joined=%zu lookups=%zu/%zu rss=%.0fMB\n",
                         phase, core::to_seconds(sim_.now().since_origin), static_cast<unsigned long long>(sim_.events()),
                         sim_.queue_size(), up_.size(), live_.size(), lookups_resolved_, lookups_.size(), peak_rss_mb());
        }
    }

    // Runs until every issued lookup, put and get has finished and every running node has
    // joined, for at most `limit`.
    void drain(core::Duration limit, char const* phase) {
        auto const end = sim_.now() + limit;
        while (sim_.now() < end && !(idle() && joined_.size() == up_.size()) && !sim_.stopped()) {
            run_phase(std::min(end, sim_.now() + 1s), phase);
        }
    }

    bool idle() const { return in_flight_.empty() && gets_waiting_total_ == 0; }

    // Phase 5: the faults stop, the network settles, and a last batch of lookups and a
    // get of every stored value must all succeed (STYLE.md section 4: safety under
    // faults, then liveness once they end).
    void run_liveness() {
        liveness_started_ = true;
        liveness_start_ = sim_.now();
        sim_.network().calm();
        run_phase(sim_.now() + o_.liveness_settle, "liveness settle");
        auto const batch_start = sim_.now();
        auto const lookups = std::min(o_.liveness_lookups_max, o_.lookups);
        auto const slot = liveness_batch_window / static_cast<std::int64_t>(std::max<std::size_t>(lookups, 1));
        for (std::size_t k = 0; k < lookups; ++k) {
            auto at = batch_start + slot * static_cast<std::int64_t>(k) + uniform_in(slot);
            sim_.at(at, [this] { issue_lookup(true); });
        }
        // Every value that was stored somewhere: a put that finished with a replica.
        std::vector<std::uint32_t> stored;
        for (std::uint32_t p = 0; p < puts_.size(); ++p)
            if (puts_[p].finished && puts_[p].stores_accepted > 0) stored.push_back(p);
        auto const get_slot = liveness_batch_window / static_cast<std::int64_t>(std::max<std::size_t>(stored.size(), 1));
        for (std::size_t k = 0; k < stored.size(); ++k) {
            auto at = batch_start + get_slot * static_cast<std::int64_t>(k) + uniform_in(get_slot);
            sim_.at(at, [this, p = stored[k]] { issue_get(p, true); });
        }
        run_phase(batch_start + liveness_batch_window, "liveness");
        drain(o_.dht.lookup_deadline + 10s, "liveness drain");
    }

    // Up to bootstrap_peers distinct random joined nodes (none for the very first node);
    // in the join window, started nodes (joined or not) until the window ends.
    std::vector<NodeIndex> pick_bootstrap_peers(NodeIndex self) {
        std::vector<NodeIndex> peers;
        bool const started_ones = o_.join_window && sim_.now() < core::Instant{} + *o_.join_window;
        auto const& from = started_ones ? up_ : joined_;
        auto const available = from.size() - (from.contains(self) ? 1 : 0);
        if (available == 0) return peers;
        auto const want = rng_.between(1, std::min<std::size_t>(o_.bootstrap_peers, available));
        // Bounded: distinct picks from a set of >= want members end quickly; 64 draws
        // per wanted peer make a shortfall (a smaller list) practically impossible.
        for (std::size_t tries = 0; peers.size() < want && tries < 64 * want; ++tries) {
            auto p = from.pick(rng_);
            if (p == self || std::find(peers.begin(), peers.end(), p) != peers.end()) continue;
            peers.push_back(p);
        }
        return peers;
    }

    // A random joined node other than `avoid` when there is one (64 draws make missing
    // it practically impossible); `avoid` itself in a network of one.
    NodeIndex pick_other_than(NodeIndex avoid) {
        auto p = joined_.pick(rng_);
        for (int tries = 0; p == avoid && joined_.size() > 1 && tries < 64; ++tries) p = joined_.pick(rng_);
        return p;
    }

    void join_new_node() {
        auto i = sim_.add_node();
        state_.push_back(NodeState{});
        ids_.emplace(sim_.node(i).id, i);
        start(i);
    }

    void start(NodeIndex i) {
        auto& st = state_[i];
        st.started = sim_.now();
        st.retries = 0;
        auto peers = pick_bootstrap_peers(i);
        sim_.start_node(i, peers);
        up_.insert(i);
        if (pubsub_) pubsub_->on_up(i);
        peak_up_ = std::max(peak_up_, up_.size());
        if (peers.empty()) {
            // The first node is the network: nothing to join.
            mark_joined(i);
            return;
        }
        arm_join_watchdog(i);
    }

    void arm_join_watchdog(NodeIndex i) {
        auto incarnation = sim_.node(i).incarnation;
        sim_.at(sim_.now() + o_.join_retry_after, [this, i, incarnation] {
            auto& n = sim_.node(i);
            auto& st = state_[i];
            if (!n.up() || n.incarnation != incarnation || st.joined || st.retries >= o_.join_retries) return;
            ++st.retries;
            ++bootstrap_retries_;
            auto peers = pick_bootstrap_peers(i);
            // The DHT runs its join lookup once; when it came back empty (say every reply
            // was lost) the host asks again, as a production node retries its bootstrap:
            // new hellos, and an own-id lookup now if the table holds anyone (else when a
            // hello is answered, in on_event).
            sim_.command(i, [&](node::Engine& e, core::Instant now) {
                for (auto p : peers) e.bootstrap(now, sim_.node(p).endpoint);
                if (e.dht().peer_count() > 0) e.find_node(now, sim_.node(i).id);
            });
            arm_join_watchdog(i);
        });
    }

    // At the workload start: every node's routing-table size, and the traffic so far.
    void snapshot_tables() {
        table_sizes_.assign(sim_.node_count(), 0);
        std::vector<double> sizes;
        for (NodeIndex i = 0; i < sim_.node_count(); ++i) {
            if (!sim_.node(i).up()) continue;
            table_sizes_[i] = static_cast<std::uint32_t>(sim_.node(i).engine->dht().peer_count());
            sizes.push_back(table_sizes_[i]);
        }
        if (sizes.empty()) return;
        table_stats_ = {*std::min_element(sizes.begin(), sizes.end()), percentile(sizes, 1), percentile(sizes, 50),
                        *std::max_element(sizes.begin(), sizes.end())};
        auto const total = sim_.total_stats();
        auto const up = static_cast<double>(sizes.size());
        join_traffic_ = {static_cast<double>(total.packets_out) / up, static_cast<double>(total.bytes_out) / up};
    }

    void mark_joined(NodeIndex i) {
        auto& st = state_[i];
        if (st.joined) return;
        st.joined = true;
        joined_.insert(i);
        live_.insert(sim_.node(i).id, i);
        join_ms_.push_back(ms(sim_.now() - st.started));
    }

    void take_down(NodeIndex i, bool leave) {
        auto& st = state_[i];
        if (st.joined) {
            st.joined = false;
            joined_.erase(i);
            live_.erase(sim_.node(i).id);
        }
        up_.erase(i);
        // Lookups, puts and gets this node started die with it.
        for (auto it = in_flight_.lower_bound({i, 0}); it != in_flight_.end() && it->first.first == i;) {
            abandon(it->second);
            it = in_flight_.erase(it);
        }
        sim_.crash_node(i, leave);
        if (pubsub_) pubsub_->on_down(i);
    }

    void abandon(Ref ref) {
        switch (ref.what) {
            case What::lookup:
                lookups_[ref.index].abandoned = true;
                ++lookups_resolved_;
                break;
            case What::liveness_lookup: liveness_lookups_[ref.index].abandoned = true; break;
            case What::put:
                puts_[ref.index].abandoned = true;
                release_gets(ref.index);  // all skipped: the value may never have been stored
                break;
            case What::get: gets_[ref.index].abandoned = true; break;
            case What::liveness_get: liveness_gets_[ref.index].abandoned = true; break;
        }
    }

    void leave_random_node() {
        // Keep at least one joined node, so that joiners always have someone to ask.
        if (liveness_started_ || joined_.size() <= 1) return;
        auto victim = joined_.pick(rng_);
        ++left_;
        take_down(victim, true);
    }

    void crash_random_node() {
        if (liveness_started_ || joined_.size() <= 1) return;
        auto victim = joined_.pick(rng_);
        ++crashes_;
        take_down(victim, false);
        sim_.at(sim_.now() + o_.downtime, [this, victim] {
            if (sim_.node(victim).state != SimNode::State::down) return;
            ++restarts_;
            start(victim);
        });
    }

    // The truth for a lookup from `origin`: the closest joined node it can reach, other
    // than itself (a lookup reports the nodes that answered it, never its own node).
    std::optional<core::NodeId> truth(NodeIndex origin, core::NodeId const& target) const {
        std::optional<LiveSet::Entry> e;
        if (sim_.network().partitioned()) {
            auto side = sim_.network().side_of(origin);
            e = live_.closest(target, [&](NodeIndex n) { return n != origin && sim_.network().side_of(n) == side; });
        } else {
            e = live_.closest(target, [&](NodeIndex n) { return n != origin; });
        }
        if (!e) return std::nullopt;
        return e->id;
    }

    // Runs `command` (which starts one lookup and returns its id) on `origin`, and files
    // the lookup under `ref`. The lookup may finish inside the call (a node that knows
    // nobody): on_event then finds it through pending_issue_, before its id is known here.
    template <class Fn>
    void issue(NodeIndex origin, Ref ref, Fn&& command) {
        pending_issue_ = PendingIssue{origin, ref};
        dht::LookupId id = sim_.command(origin, std::forward<Fn>(command));
        pending_issue_.reset();
        if (!finished(ref)) in_flight_[{origin, id}] = ref;
    }

    bool finished(Ref ref) const {
        switch (ref.what) {
            case What::lookup: return lookups_[ref.index].finished;
            case What::liveness_lookup: return liveness_lookups_[ref.index].finished;
            case What::put: return puts_[ref.index].finished;
            case What::get: return gets_[ref.index].finished;
            case What::liveness_get: return liveness_gets_[ref.index].finished;
        }
        return false;
    }

    void issue_lookup(bool liveness) {
        if (joined_.empty()) return;
        auto& records = liveness ? liveness_lookups_ : lookups_;
        LookupRecord rec;
        rec.origin = joined_.pick(rng_);
        rng_.fill(rec.target.bytes);
        rec.issued = sim_.now();
        rec.partitioned = sim_.network().partitioned();
        rec.truth_issued = truth(rec.origin, rec.target);
        auto const index = static_cast<std::uint32_t>(records.size());
        auto target = rec.target;
        auto origin = rec.origin;
        records.push_back(std::move(rec));
        issue(origin, Ref{liveness ? What::liveness_lookup : What::lookup, index},
              [&](node::Engine& e, core::Instant now) { return e.find_node(now, target); });
    }

    void issue_put(std::uint32_t p) {
        auto& rec = puts_[p];
        if (joined_.empty()) {
            rec.abandoned = true;
            release_gets(p);
            return;
        }
        rec.origin = joined_.pick(rng_);
        rec.value = core::to_bytes("sim-value-" + std::to_string(p) + ":");
        std::array<std::byte, value_random_bytes> random;
        rng_.fill(random);
        rec.value.insert(rec.value.end(), random.begin(), random.end());
        rec.issued = sim_.now();
        auto const key = rec.key;
        auto value = rec.value;
        // The longest TTL the DHT accepts: far beyond any run's virtual length (a run
        // longer than dht.ttl_max would see its values expire; see docs/simulator.md).
        auto const ttl = o_.dht.ttl_max;
        issue(rec.origin, Ref{What::put, p}, [&](node::Engine& e, core::Instant now) {
            return e.put(now, key, std::move(value), ttl);
        });
    }

    // A workload get of put `p`'s key: now if the put has finished, else when it does.
    void request_get(std::uint32_t p) {
        auto const& put = puts_[p];
        if (put.abandoned) {
            ++gets_skipped_;
            return;
        }
        if (!put.finished) {
            ++gets_waiting_[p];
            ++gets_waiting_total_;
            return;
        }
        issue_get(p, false);
    }

    // Issues the gets waiting for put `p` (or skips them when the put was abandoned).
    void release_gets(std::uint32_t p) {
        auto const n = gets_waiting_.empty() ? 0 : gets_waiting_[p];
        if (n == 0) return;
        gets_waiting_[p] = 0;
        gets_waiting_total_ -= n;
        for (std::uint32_t k = 0; k < n; ++k) {
            if (puts_[p].abandoned) ++gets_skipped_;
            else issue_get(p, false);
        }
    }

    void issue_get(std::uint32_t p, bool liveness) {
        if (joined_.empty()) return;
        auto& records = liveness ? liveness_gets_ : gets_;
        GetRecord rec;
        rec.put = p;
        rec.origin = pick_other_than(puts_[p].origin);
        rec.putter_gone = !sim_.node(puts_[p].origin).up();
        rec.issued = sim_.now();
        rec.partitioned = sim_.network().partitioned();
        auto const index = static_cast<std::uint32_t>(records.size());
        auto const origin = rec.origin;
        auto const key = puts_[p].key;
        records.push_back(std::move(rec));
        issue(origin, Ref{liveness ? What::liveness_get : What::get, index},
              [&](node::Engine& e, core::Instant now) { return e.get(now, key); });
    }

    void on_event(NodeIndex i, dht::Event& ev) {
        if (std::holds_alternative<dht::BootstrapReached>(ev)) {
            auto const& st = state_[i];
            if (!st.joined && st.retries > 0)
                sim_.command(i, [&](node::Engine& e, core::Instant now) { e.find_node(now, sim_.node(i).id); });
            return;
        }
        auto* done = std::get_if<dht::LookupDone>(&ev);
        if (!done) return;
        if (done->internal) {
            ++internal_;
            if (done->kind == dht::LookupKind::find_node && done->target == sim_.node(i).id && !done->closest.empty())
                mark_joined(i);
            return;
        }
        Ref ref;
        if (auto it = in_flight_.find({i, done->id}); it != in_flight_.end()) {
            ref = it->second;
            in_flight_.erase(it);
        } else if (pending_issue_ && pending_issue_->origin == i) {
            ref = pending_issue_->ref;
        } else {
            // A join retry's own-id lookup (arm_join_watchdog), or nothing of ours.
            if (done->target == sim_.node(i).id && !done->closest.empty()) mark_joined(i);
            return;
        }
        switch (ref.what) {
            case What::lookup:
                ++lookups_resolved_;
                on_lookup_done(i, *done, lookups_[ref.index], diagnosed_);
                break;
            case What::liveness_lookup:
                on_lookup_done(i, *done, liveness_lookups_[ref.index], liveness_diagnosed_);
                break;
            case What::put: on_put_done(i, *done, ref.index); break;
            case What::get: on_get_done(i, *done, gets_[ref.index], get_diagnosed_); break;
            case What::liveness_get: on_get_done(i, *done, liveness_gets_[ref.index], liveness_diagnosed_); break;
        }
    }

    void on_lookup_done(NodeIndex i, dht::LookupDone const& done, LookupRecord& rec, std::size_t& diagnosed) {
        CORE_ASSERT(done.kind == dht::LookupKind::find_node);
        rec.finished = true;
        rec.done = sim_.now();
        rec.hops = done.hops;
        rec.queried = done.queried;
        rec.partitioned = rec.partitioned || sim_.network().partitioned();
        if (!done.closest.empty()) rec.found = done.closest.front().id;
        rec.truth_done = truth(i, rec.target);
        // A lone node has nobody to find: an empty answer is then the right one.
        bool const nothing_to_find = !rec.truth_issued && !rec.truth_done && !rec.found;
        rec.success = nothing_to_find || (rec.found && ((rec.truth_issued && *rec.found == *rec.truth_issued) ||
                                    (rec.truth_done && *rec.found == *rec.truth_done) ||
                                    running_and_closer(*rec.found, rec.target, rec.truth_done)));
        if (!rec.success && diagnosed < o_.diagnose_max) {
            ++diagnosed;
            diagnose(rec);
        }
        sim_.trace(now_us(), i, 2, (static_cast<std::uint64_t>(done.hops) << 32) ^ done.queried ^
                                       (rec.found ? word0(*rec.found) : 0));
    }

    void on_put_done(NodeIndex i, dht::LookupDone const& done, std::uint32_t p) {
        CORE_ASSERT(done.kind == dht::LookupKind::put);
        auto& rec = puts_[p];
        rec.finished = true;
        rec.done = sim_.now();
        rec.stores_tried = done.stores_tried;
        rec.stores_accepted = done.stores_accepted;
        sim_.trace(now_us(), i, 6, (static_cast<std::uint64_t>(done.stores_accepted) << 32) ^ done.stores_tried);
        // Not from inside this hook: the put may have finished inside issue_put's
        // command, and a get issued from here would nest a command in it.
        if (!gets_waiting_.empty() && gets_waiting_[p] > 0) sim_.at(sim_.now(), [this, p] { release_gets(p); });
    }

    void on_get_done(NodeIndex i, dht::LookupDone const& done, GetRecord& rec, std::size_t& diagnosed) {
        CORE_ASSERT(done.kind == dht::LookupKind::get);
        rec.finished = true;
        rec.done = sim_.now();
        rec.hops = done.hops;
        rec.queried = done.queried;
        rec.values = done.values.size();
        rec.partitioned = rec.partitioned || sim_.network().partitioned();
        auto const& want = puts_[rec.put].value;
        rec.success = std::find(done.values.begin(), done.values.end(), want) != done.values.end();
        // A partitioned failure is always diagnosed, since the diagnosis decides whether
        // it is excused; the others only up to the diagnosis budget.
        if (!rec.success && (rec.partitioned || diagnosed < o_.diagnose_max)) {
            if (!rec.partitioned) ++diagnosed;
            diagnose(rec);
            rec.excused = rec.partitioned && rec.holders_reachable == 0;
        }
        sim_.trace(now_us(), i, 7, (static_cast<std::uint64_t>(rec.success) << 63) ^
                                       (static_cast<std::uint64_t>(rec.values) << 40) ^
                                       (static_cast<std::uint64_t>(done.hops) << 32) ^ done.queried);
    }

    std::uint64_t now_us() const { return static_cast<std::uint64_t>(sim_.now().since_origin.count()); }

    // Whether `found` is a running node at least as close to `target` as `truth`.
    bool running_and_closer(core::NodeId const& found, core::NodeId const& target,
                            std::optional<core::NodeId> const& truth) const {
        auto it = ids_.find(found);
        if (it == ids_.end() || !sim_.node(it->second).up()) return false;
        return !truth || !target.closer(*truth, found);
    }

    void diagnose(LookupRecord& rec) const {
        if (rec.found) {
            rec.found_rank = 0;
            for (auto const& e : live_.entries())
                if (e.node != rec.origin && rec.target.closer(e.id, *rec.found)) ++rec.found_rank;
        }
        auto truth = rec.truth_done ? rec.truth_done : rec.truth_issued;
        if (!truth) return;
        rec.truth_known_by = 0;
        for (NodeIndex n = 0; n < sim_.node_count(); ++n) {
            auto const& node = sim_.node(n);
            if (!node.up() || node.id == *truth) continue;
            auto known = node.engine->dht().closest_known(*truth, 1);
            if (!known.empty() && known.front().id == *truth) ++rec.truth_known_by;
        }
    }

    // Scans every running node's store for the value (one map lookup per node), and
    // finds the k joined nodes closest to the key (a partial sort of the live set).
    void diagnose(GetRecord& rec) {
        auto const& put = puts_[rec.put];
        auto const unix_now = sim_wall.to_unix(sim_.now());
        auto holds = [&](NodeIndex n) {
            auto records = sim_.node(n).store->get(put.key, unix_now, o_.dht.values_per_key_max);
            return records && std::any_of(records.value().begin(), records.value().end(),
                                          [&](store::Record const& r) { return r.value == put.value; });
        };
        rec.holders_up = 0;
        rec.holders_reachable = 0;
        for (NodeIndex n = 0; n < sim_.node_count(); ++n) {
            if (!sim_.node(n).up() || !holds(n)) continue;
            ++rec.holders_up;
            auto const& net = sim_.network();
            if (net.reachable(rec.origin, n) && net.reachable(n, rec.origin)) ++rec.holders_reachable;
        }
        auto closest = live_.entries();
        auto const k = std::min({o_.dht.replicas, o_.dht.k, closest.size()});
        std::nth_element(closest.begin(), closest.begin() + static_cast<std::ptrdiff_t>(k), closest.end(),
                         [&](LiveSet::Entry const& a, LiveSet::Entry const& b) { return put.key.closer(a.id, b.id); });
        rec.holders_closest = 0;
        for (std::size_t j = 0; j < k; ++j) rec.holders_closest += holds(closest[j].node) ? 1 : 0;
    }

    static LookupSummary summarise(std::vector<LookupRecord> const& lookups) {
        LookupSummary s;
        s.count = lookups.size();
        std::vector<double> hops, latency, queried;
        for (auto const& l : lookups) {
            if (l.abandoned) {
                ++s.abandoned;
                continue;
            }
            if (!l.finished) continue;
            ++s.finished;
            if (l.success) ++s.succeeded;
            hops.push_back(l.hops);
            latency.push_back(ms(l.done - l.issued));
            queried.push_back(static_cast<double>(l.queried));
        }
        auto const counted = s.count - s.abandoned;
        s.success_rate = counted == 0 ? 1.0 : static_cast<double>(s.succeeded) / static_cast<double>(counted);
        s.hops_p50 = percentile(hops, 50);
        s.hops_p99 = percentile(hops, 99);
        s.latency_ms_p50 = percentile(latency, 50);
        s.latency_ms_p99 = percentile(latency, 99);
        s.queried_p50 = percentile(queried, 50);
        return s;
    }

    static GetSummary summarise(std::vector<GetRecord> const& gets, std::size_t skipped) {
        GetSummary s;
        s.count = gets.size();
        s.skipped = skipped;
        std::vector<double> hops, latency;
        for (auto const& g : gets) {
            if (g.abandoned) {
                ++s.abandoned;
                continue;
            }
            if (!g.finished) continue;
            ++s.finished;
            if (g.excused) ++s.excused;
            if (g.success) ++s.succeeded;
            if (g.putter_gone) {
                ++s.putter_gone;
                if (g.success) ++s.putter_gone_succeeded;
            }
            hops.push_back(g.hops);
            latency.push_back(ms(g.done - g.issued));
        }
        auto const counted = s.count - s.abandoned - s.excused;
        s.success_rate = counted == 0 ? 1.0 : static_cast<double>(s.succeeded) / static_cast<double>(counted);
        s.hops_p50 = percentile(hops, 50);
        s.latency_ms_p50 = percentile(latency, 50);
        s.latency_ms_p99 = percentile(latency, 99);
        return s;
    }

    void summarise(ScenarioResult& r) const {
        r.summary = summarise(r.lookups);
        r.summary.internal = internal_;
        auto& v = r.values;
        v.puts = r.puts.size();
        std::vector<double> accepted, latency;
        for (auto const& p : r.puts) {
            if (p.abandoned) ++v.puts_abandoned;
            if (!p.finished) continue;
            ++v.puts_finished;
            accepted.push_back(static_cast<double>(p.stores_accepted));
            latency.push_back(ms(p.done - p.issued));
        }
        if (!accepted.empty()) v.puts_accepted_min = *std::min_element(accepted.begin(), accepted.end());
        v.puts_accepted_p50 = percentile(accepted, 50);
        v.put_latency_ms_p50 = percentile(latency, 50);
        v.put_latency_ms_p99 = percentile(latency, 99);
        v.gets = summarise(r.gets, gets_skipped_);
        if (r.liveness.ran) {
            r.liveness.lookups = summarise(r.liveness_lookups);
            r.liveness.gets = summarise(r.liveness_gets, 0);
            r.liveness.passed = r.liveness.lookups.succeeded == r.liveness.lookups.count &&
                                r.liveness.gets.succeeded == r.liveness.gets.count;
        }
    }

    void check(ScenarioResult& r) const {
        if (!r.violations.empty())
            r.failures.push_back(std::to_string(r.violations.size()) + " safety violation(s), first: " +
                                 r.violations.front().what + " (node " + std::to_string(r.violations.front().node) + ")");
        char buf[200];
        if (o_.min_success && r.summary.success_rate < *o_.min_success) {
            std::snprintf(buf, sizeof buf, "lookup success %.4f below --min-success %.4f", r.summary.success_rate,
                          *o_.min_success);
            r.failures.push_back(buf);
        }
        if (o_.min_success && r.values.gets.success_rate < *o_.min_success) {
            std::snprintf(buf, sizeof buf, "get success %.4f below --min-success %.4f", r.values.gets.success_rate,
                          *o_.min_success);
            r.failures.push_back(buf);
        }
        if (r.pubsub.ran) {
            auto const& p = r.pubsub;
            if (p.double_deliveries > 0 || p.unknown_deliveries > 0) {
                std::snprintf(buf, sizeof buf, "pubsub: %zu double deliveries and %zu deliveries of unpublished messages",
                              p.double_deliveries, p.unknown_deliveries);
                r.failures.push_back(buf);
            }
            if (o_.min_delivery && p.delivery_ratio < *o_.min_delivery) {
                std::snprintf(buf, sizeof buf, "pubsub delivery %.5f below --min-delivery %.5f (%zu of %zu)",
                              p.delivery_ratio, *o_.min_delivery, p.delivered, p.expected_deliveries);
                r.failures.push_back(buf);
            }
        }
        if (r.liveness.ran && !r.liveness.passed) {
            auto const& l = r.liveness;
            std::snprintf(buf, sizeof buf,
                          "liveness: after healing, %zu of %zu lookups and %zu of %zu gets succeeded (all must)",
                          l.lookups.succeeded, l.lookups.count, l.gets.succeeded, l.gets.count);
            r.failures.push_back(buf);
        }
    }

    struct PendingIssue {
        NodeIndex origin = 0;
        Ref ref;
    };

    ScenarioOptions o_;
    Simulator sim_;
    core::Rng rng_;
    std::vector<NodeState> state_;
    IndexSet up_;
    IndexSet joined_;
    LiveSet live_;
    std::vector<LookupRecord> lookups_;
    std::vector<PutRecord> puts_;  // sized to o_.puts when the workload is scheduled
    std::vector<GetRecord> gets_;
    std::vector<LookupRecord> liveness_lookups_;
    std::vector<GetRecord> liveness_gets_;
    // Workload gets waiting for their put to finish, per put, and in all.
    std::vector<std::uint32_t> gets_waiting_;
    std::size_t gets_waiting_total_ = 0;
    std::size_t gets_skipped_ = 0;
    // (origin, LookupId) -> what it was started for. Ordered (never hashed) so that
    // abandoning a crashed node's lookups walks them in a fixed order.
    std::map<std::pair<NodeIndex, dht::LookupId>, Ref> in_flight_;
    std::optional<PendingIssue> pending_issue_;
    // Every node id ever created -> its index. Looked up, never iterated.
    std::unordered_map<core::NodeId, NodeIndex, core::NodeIdHash> ids_;
    std::size_t diagnosed_ = 0, get_diagnosed_ = 0, liveness_diagnosed_ = 0;
    std::size_t lookups_resolved_ = 0;
    std::size_t internal_ = 0;
    std::size_t peak_up_ = 0;
    std::vector<std::uint32_t> table_sizes_;
    std::array<double, 4> table_stats_{};   // min, p1, p50, max
    std::array<double, 2> join_traffic_{};  // packets, bytes sent per node up
    std::size_t bootstrap_retries_ = 0, left_ = 0, joined_late_ = 0, crashes_ = 0, restarts_ = 0;
    std::vector<double> join_ms_;
    core::Instant workload_start_{}, workload_end_{};
    bool liveness_started_ = false;
    core::Instant liveness_start_{};
    std::chrono::steady_clock::time_point wall_last_;
    std::optional<PubsubWorkload> pubsub_;
};

}  // namespace

namespace {

// The same nodes joining one after another at join_rate, without a workload: their
// routing-table sizes at the workload start are the yardstick for a join window's.
void compare_with_sequential(ScenarioOptions const& options, ScenarioResult& r) {
    ScenarioOptions seq = options;
    seq.join_window.reset();
    seq.compare_sequential = false;
    seq.lookups = 0;
    seq.puts = 0;
    seq.gets.reset();
    seq.workload = core::Duration{0};
    seq.liveness = false;
    seq.min_success.reset();
    seq.progress = false;
    auto s = ScenarioRun(seq).run();
    ScenarioResult::TableComparison c;
    std::vector<double> ratios;
    auto const n = std::min(r.table_sizes.size(), s.table_sizes.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (r.table_sizes[i] == 0 || s.table_sizes[i] == 0) continue;  // down in one of them
        auto ratio = static_cast<double>(r.table_sizes[i]) / static_cast<double>(s.table_sizes[i]);
        if (ratio < 0.5 || ratio > 2.0) ++c.outside_2x;
        ratios.push_back(ratio);
    }
    c.nodes = ratios.size();
    if (!ratios.empty()) {
        c.ratio_min = *std::min_element(ratios.begin(), ratios.end());
        c.ratio_max = *std::max_element(ratios.begin(), ratios.end());
        c.ratio_p1 = percentile(ratios, 1);
        c.ratio_p50 = percentile(ratios, 50);
    }
    c.sequential_p50 = s.table_p50;
    c.sequential_packets_per_node = s.join_packets_per_node;
    c.sequential_bytes_per_node = s.join_bytes_per_node;
    r.table_comparison = c;
    if (c.outside_2x > 0) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%zu of %zu routing tables not within 2x of their size with sequential joins",
                      c.outside_2x, c.nodes);
        r.failures.push_back(buf);
    }
}

}  // namespace

core::Duration pubsub_drain(ScenarioOptions const& o) {
    if (o.pubsub.drain) return *o.pubsub.drain;
    auto const interval = o.pubsub.anti_entropy_interval;
    if (o.partitions.empty() || interval <= core::Duration{0}) return pubsub_drain_min;
    // Anti-entropy runs every interval +-25% on each node: two intervals after the last
    // publish give every node at least one run after a heal inside the workload.
    return pubsub_drain_min + 2 * interval;
}

ScenarioResult run_scenario(ScenarioOptions const& options) {
    auto r = ScenarioRun(options).run();
    if (options.compare_sequential) compare_with_sequential(options, r);
    return r;
}

void randomize_faults(ScenarioOptions& o) {
    core::Rng rng(mix64(o.seed, 0x766f7072 /* "vopr" */));
    auto maybe = [&](double hi) { return rng.chance(0.5) ? 0.0 : rng.unit() * hi; };
    auto ms = [](std::uint64_t v) { return core::Duration{static_cast<std::int64_t>(v) * 1000}; };
    o.network.loss = maybe(0.10);
    o.network.duplicate = maybe(0.05);
    o.network.reorder_window = ms(static_cast<std::uint64_t>(maybe(50.0)));
    switch (rng.uniform(3)) {
        case 0:
            o.network.latency = LatencyModel::constant(ms(rng.between(1, 100)));
            break;
        case 1: {
            auto lo = rng.between(1, 50);
            o.network.latency = LatencyModel::uniform(ms(lo), ms(lo + rng.between(0, 150)));
            break;
        }
        default:
            o.network.latency = LatencyModel::regions(ms(rng.between(0, 20)));
    }
    o.churn = maybe(0.2);
    o.crashes = rng.chance(0.5) ? 0 : rng.between(0, std::max<std::size_t>(1, o.nodes / 10));
    o.downtime = ms(rng.between(1'000, 60'000));
    o.partitions.clear();
    auto const partitions = rng.chance(0.5) ? 0 : rng.between(1, 2);
    auto const workload_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(o.workload.count() / 1000, 3000));
    for (std::uint64_t k = 0; k < partitions; ++k) {
        PartitionSpec p;
        p.at = ms(rng.uniform(workload_ms));
        p.duration = ms(rng.between(1'000, std::max<std::uint64_t>(1'000, workload_ms / 3)));
        p.fraction = 0.1 + 0.4 * rng.unit();
        p.one_way = rng.chance(0.25);
        o.partitions.push_back(p);
    }
    // Protocol settings within the ranges the DHT documents as legal.
    o.dht.alpha = rng.between(1, 5);
    // A timeout below the round trip would time out every request: not a legal setting.
    auto const rtt_ms = static_cast<std::uint64_t>(
        2 * (o.network.latency.max_one_way() + o.network.reorder_window).count() / 1000 + 50);
    auto const timeout_lo = std::max<std::uint64_t>(200, rtt_ms);
    o.dht.rpc_timeout = ms(rng.between(timeout_lo, std::max<std::uint64_t>(timeout_lo, 2'000)));
    o.dht.rpc_retries = static_cast<unsigned>(rng.between(0, 2));
}

}  // namespace sim
