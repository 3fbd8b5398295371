// The standard kadmium-sim scenario: join, settle, workload with faults, drain; and the
// lookup checker. See scenario.hpp for the phases and the success rule.
#include "sim/scenario.hpp"

#include "core/assert.hpp"
#include "sim/live_set.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
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

class ScenarioRun {
public:
    explicit ScenarioRun(ScenarioOptions const& o)
        : o_(o),
          sim_(SimOptions{.seed = o.seed,
                          .crypto = o.crypto,
                          .dht = o.dht,
                          .network = o.network,
                          .streams = {},
                          .records_max = o.dht.records_max,
                          .events_max = o.events_max}),
          rng_(mix64(o.seed, 0x7363656e /* "scen" */)) {
        CORE_ASSERT(o.nodes >= 1);
        CORE_ASSERT(o.join_rate > 0.0);
        CORE_ASSERT(o.churn >= 0.0 && o.churn <= 1.0);
        CORE_ASSERT(o.bootstrap_peers >= 1);
        sim_.on_event = [this](NodeIndex i, dht::Event& ev) { on_event(i, ev); };
    }

    ScenarioResult run() {
        auto const wall_start = std::chrono::steady_clock::now();
        wall_last_ = wall_start;
        double const rss_before = peak_rss_mb();
        schedule_joins();
        auto const join_end = sim_.now() + join_window();
        workload_start_ = join_end + o_.settle;
        workload_end_ = workload_start_ + o_.workload;
        schedule_workload();
        run_phase(workload_end_, "join/settle/workload");
        // Drain: every lookup ends by its deadline; the margin covers the last replies.
        // Nodes that joined late in the workload get the same time to finish joining.
        auto const drain_end = workload_end_ + o_.dht.lookup_deadline + 10s;
        while (sim_.now() < drain_end && !(all_lookups_resolved() && joined_.size() == up_.size()) &&
               !sim_.stopped()) {
            run_phase(std::min(drain_end, sim_.now() + 1s), "drain");
        }
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
        r.network = sim_.network().stats();
        r.delivered = sim_.datagrams_delivered();
        r.to_down = sim_.datagrams_to_down();
        r.links_opened = sim_.links().opened_total();
        r.dht = sim_.total_stats();
        r.violations = sim_.violations();
        r.lookups = std::move(lookups_);
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

    core::Duration join_window() const {
        auto us = static_cast<double>(o_.nodes) / o_.join_rate * 1e6;
        return core::Duration{static_cast<std::int64_t>(us)};
    }

    // Time offset uniform in [0, span).
    core::Duration uniform_in(core::Duration span) {
        if (span.count() <= 0) return core::Duration{0};
        return core::Duration{static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(span.count())))};
    }

    void schedule_joins() {
        state_.reserve(o_.nodes);
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
            sim_.at(at, [this] { issue_lookup(); });
        }
        auto const churn = static_cast<std::size_t>(std::llround(o_.churn * static_cast<double>(o_.nodes)));
        for (std::size_t k = 0; k < churn; ++k) {
            sim_.at(workload_start_ + uniform_in(o_.workload), [this] { leave_random_node(); });
            sim_.at(workload_start_ + uniform_in(o_.workload), [this] {
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
            sim_.at(workload_start_ + p.at, [this, p] { sim_.partition(p.fraction, p.one_way); });
            sim_.at(workload_start_ + p.at + p.duration, [this] { sim_.heal(); });
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

    // Up to bootstrap_peers distinct random joined nodes (none for the very first node).
    std::vector<NodeIndex> pick_bootstrap_peers(NodeIndex self) {
        std::vector<NodeIndex> peers;
        auto const available = joined_.size() - (joined_.contains(self) ? 1 : 0);
        if (available == 0) return peers;
        auto const want = rng_.between(1, std::min<std::size_t>(o_.bootstrap_peers, available));
        // Bounded: distinct picks from a set of >= want members end quickly; 64 draws
        // per wanted peer make a shortfall (a smaller list) practically impossible.
        for (std::size_t tries = 0; peers.size() < want && tries < 64 * want; ++tries) {
            auto p = joined_.pick(rng_);
            if (p == self || std::find(peers.begin(), peers.end(), p) != peers.end()) continue;
            peers.push_back(p);
        }
        return peers;
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
                for (auto p : peers) e.dht().bootstrap(now, sim_.node(p).endpoint);
                if (e.dht().peer_count() > 0) e.dht().find_node(now, sim_.node(i).id);
            });
            arm_join_watchdog(i);
        });
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
        // Lookups this node started die with it.
        for (auto it = in_flight_.lower_bound({i, 0}); it != in_flight_.end() && it->first.first == i;) {
            lookups_[it->second].abandoned = true;
            ++lookups_resolved_;
            it = in_flight_.erase(it);
        }
        sim_.crash_node(i, leave);
    }

    void leave_random_node() {
        // Keep at least one joined node, so that joiners always have someone to ask.
        if (joined_.size() <= 1) return;
        auto victim = joined_.pick(rng_);
        ++left_;
        take_down(victim, true);
    }

    void crash_random_node() {
        if (joined_.size() <= 1) return;
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

    void issue_lookup() {
        if (joined_.empty()) return;
        LookupRecord rec;
        rec.origin = joined_.pick(rng_);
        rng_.fill(rec.target.bytes);
        rec.issued = sim_.now();
        rec.partitioned = sim_.network().partitioned();
        rec.truth_issued = truth(rec.origin, rec.target);
        auto const index = static_cast<std::uint32_t>(lookups_.size());
        auto target = rec.target;
        auto origin = rec.origin;
        lookups_.push_back(std::move(rec));
        // find_node may finish inside the call (a node that knows nobody): on_event then
        // finds the record through pending_issue_, before the id is known here.
        pending_issue_ = index;
        auto id = sim_.command(origin, [&](node::Engine& e, core::Instant now) { return e.dht().find_node(now, target); });
        pending_issue_.reset();
        if (!lookups_[index].finished) in_flight_[{origin, id}] = index;
    }

    void on_event(NodeIndex i, dht::Event& ev) {
        if (std::holds_alternative<dht::BootstrapReached>(ev)) {
            auto const& st = state_[i];
            if (!st.joined && st.retries > 0)
                sim_.command(i, [&](node::Engine& e, core::Instant now) { e.dht().find_node(now, sim_.node(i).id); });
            return;
        }
        auto* done = std::get_if<dht::LookupDone>(&ev);
        if (!done) return;
        auto const now_us = static_cast<std::uint64_t>(sim_.now().since_origin.count());
        if (done->internal) {
            ++internal_;
            if (done->kind == dht::LookupKind::find_node && done->target == sim_.node(i).id && !done->closest.empty())
                mark_joined(i);
            return;
        }
        std::uint32_t index;
        if (auto it = in_flight_.find({i, done->id}); it != in_flight_.end()) {
            index = it->second;
            in_flight_.erase(it);
        } else if (pending_issue_ && lookups_[*pending_issue_].origin == i) {
            index = *pending_issue_;
        } else {
            // A join retry's own-id lookup (arm_join_watchdog), or nothing of ours.
            if (done->target == sim_.node(i).id && !done->closest.empty()) mark_joined(i);
            return;
        }
        auto& rec = lookups_[index];
        ++lookups_resolved_;
        rec.finished = true;
        rec.done = sim_.now();
        rec.hops = done->hops;
        rec.queried = done->queried;
        rec.partitioned = rec.partitioned || sim_.network().partitioned();
        if (!done->closest.empty()) rec.found = done->closest.front().id;
        rec.truth_done = truth(i, rec.target);
        // A lone node has nobody to find: an empty answer is then the right one.
        bool const nothing_to_find = !rec.truth_issued && !rec.truth_done && !rec.found;
        rec.success = nothing_to_find || (rec.found && ((rec.truth_issued && *rec.found == *rec.truth_issued) ||
                                    (rec.truth_done && *rec.found == *rec.truth_done) ||
                                    running_and_closer(*rec.found, rec.target, rec.truth_done)));
        if (!rec.success && diagnosed_ < o_.diagnose_max) {
            ++diagnosed_;
            diagnose(rec);
        }
        sim_.trace(now_us, i, 2, (static_cast<std::uint64_t>(done->hops) << 32) ^ done->queried ^
                                     (rec.found ? word0(*rec.found) : 0));
    }

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

    bool all_lookups_resolved() const { return lookups_resolved_ == lookups_.size(); }

    void summarise(ScenarioResult& r) const {
        auto& s = r.summary;
        s.count = r.lookups.size();
        s.internal = internal_;
        std::vector<double> hops, latency, queried;
        for (auto const& l : r.lookups) {
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
    }

    void check(ScenarioResult& r) const {
        if (!r.violations.empty())
            r.failures.push_back(std::to_string(r.violations.size()) + " safety violation(s), first: " +
                                 r.violations.front().what + " (node " + std::to_string(r.violations.front().node) + ")");
        if (o_.min_success && r.summary.success_rate < *o_.min_success) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "lookup success %.4f below --min-success %.4f", r.summary.success_rate,
                          *o_.min_success);
            r.failures.push_back(buf);
        }
    }

    ScenarioOptions o_;
    Simulator sim_;
    core::Rng rng_;
    std::vector<NodeState> state_;
    IndexSet up_;
    IndexSet joined_;
    LiveSet live_;
    std::vector<LookupRecord> lookups_;
    // (origin, LookupId) -> index in lookups_. Ordered (never hashed) so that abandoning
    // a crashed node's lookups walks them in a fixed order.
    std::map<std::pair<NodeIndex, dht::LookupId>, std::uint32_t> in_flight_;
    std::optional<std::uint32_t> pending_issue_;
    // Every node id ever created -> its index. Looked up, never iterated.
    std::unordered_map<core::NodeId, NodeIndex, core::NodeIdHash> ids_;
    std::size_t diagnosed_ = 0;
    std::size_t lookups_resolved_ = 0;
    std::size_t internal_ = 0;
    std::size_t peak_up_ = 0;
    std::size_t bootstrap_retries_ = 0, left_ = 0, joined_late_ = 0, crashes_ = 0, restarts_ = 0;
    std::vector<double> join_ms_;
    core::Instant workload_start_{}, workload_end_{};
    std::chrono::steady_clock::time_point wall_last_;
};

}  // namespace

ScenarioResult run_scenario(ScenarioOptions const& options) { return ScenarioRun(options).run(); }

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
