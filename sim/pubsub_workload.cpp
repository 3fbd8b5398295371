// The pub/sub workload and its delivery checker; see pubsub_workload.hpp.
#include "sim/pubsub_workload.hpp"

#include "core/assert.hpp"
#include "core/crypto.hpp"
#include "pubsub/topic.hpp"
#include "sim/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

namespace sim {

namespace {
double ms(core::Duration d) { return static_cast<double>(d.count()) / 1000.0; }
double seconds(core::Instant t) { return core::to_seconds(t.since_origin); }
constexpr std::size_t missed_examples_max = 10;
}  // namespace

PubsubWorkload::PubsubWorkload(Simulator& sim, PubsubOptions const& options, std::uint64_t seed)
    : sim_(sim), options_(options), rng_(mix64(seed, 0x70756273 /* "pubs" */)) {
    CORE_ASSERT(options_.topics >= 1);
}

void PubsubWorkload::schedule(core::Instant start, core::Instant end, std::function<NodeIndex()> pick,
                              NodeControl control) {
    control_ = std::move(control);
    // Subscribers: distinct random joined nodes (bounded draws; a small network may have
    // fewer nodes than asked).
    std::size_t const want = std::min(options_.subscribers, sim_.node_count());
    std::vector<NodeIndex> chosen;
    for (std::size_t draws = 0; chosen.size() < want && draws < want * 20 + 100; ++draws) {
        auto n = pick();
        if (subscribers_.contains(n)) continue;
        subscribers_.emplace(n, Subscriber{chosen.size() % options_.topics, core::Instant::max(), true});
        chosen.push_back(n);
    }
    auto const window = options_.subscribe_window;
    for (std::size_t k = 0; k < chosen.size(); ++k) {
        auto at = start + core::Duration{static_cast<std::int64_t>(rng_.uniform(
                              static_cast<std::uint64_t>(std::max<std::int64_t>(window.count(), 1))))};
        sim_.at(at, [this, n = chosen[k]] { subscribe(n); });
    }
    // Publishes, evenly spread after the meshes settle.
    auto const first = start + window + options_.mesh_settle;
    if (options_.messages == 0 || first >= end) return;
    auto const span = end - first;
    published_.resize(options_.messages);
    for (std::size_t m = 0; m < options_.messages; ++m) {
        auto at = first + core::Duration{span.count() * static_cast<std::int64_t>(m) /
                                         static_cast<std::int64_t>(options_.messages)};
        sim_.at(at, [this, m, pick] { publish(m, pick()); });
    }
    // Drawn after everything else, so that a run without --offline keeps its schedule.
    if (options_.offline > 0.0) schedule_offline(chosen, first, span);
}

void PubsubWorkload::schedule_offline(std::vector<NodeIndex> const& chosen, core::Instant first, core::Duration span) {
    CORE_ASSERT(control_.stop && control_.restart);
    CORE_ASSERT(options_.offline_start >= 0.0 && options_.offline_length > 0.0 &&
                options_.offline_start + options_.offline_length <= 1.0);
    auto const count = std::min(chosen.size(), static_cast<std::size_t>(std::llround(
                                                   options_.offline * static_cast<double>(chosen.size()))));
    auto at_fraction = [&](double f) {
        return first + core::Duration{static_cast<std::int64_t>(f * static_cast<double>(span.count()))};
    };
    auto const down = at_fraction(options_.offline_start);
    auto const back = at_fraction(options_.offline_start + options_.offline_length);
    auto const spread = static_cast<std::uint64_t>(std::max<std::int64_t>(options_.offline_spread.count(), 1));
    offline_chosen_ = count;
    // A partial Fisher-Yates shuffle: `count` distinct subscribers, topics mixed.
    auto pool = chosen;
    for (std::size_t k = 0; k < count; ++k) {
        auto j = k + static_cast<std::size_t>(rng_.uniform(pool.size() - k));
        std::swap(pool[k], pool[j]);
        auto const n = pool[k];
        subscribers_.at(n).offline_planned = true;
        sim_.at(down + core::Duration{static_cast<std::int64_t>(rng_.uniform(spread))}, [this, n] { go_offline(n); });
        sim_.at(back + core::Duration{static_cast<std::int64_t>(rng_.uniform(spread))}, [this, n] { come_back(n); });
    }
}

void PubsubWorkload::go_offline(NodeIndex node) {
    auto& s = subscribers_.at(node);
    // Already down (a crash or churn took it): it has no planned absence then.
    if (!sim_.node(node).up() || !s.whole_run) {
        s.offline_planned = false;
        ++offline_skipped_;
        return;
    }
    s.down_at = sim_.now();
    going_offline_ = node;
    control_.stop(node);
    going_offline_.reset();
}

void PubsubWorkload::come_back(NodeIndex node) {
    auto& s = subscribers_.at(node);
    if (!s.offline_planned || s.down_at == core::Instant::max()) return;
    if (sim_.node(node).state != SimNode::State::down) {
        // Not down any more, or gone for good: no clean absence to measure.
        s.whole_run = false;
        return;
    }
    s.back_at = sim_.now();
    control_.restart(node);  // subscribes again through on_up
}

void PubsubWorkload::subscribe(NodeIndex node) {
    auto it = subscribers_.find(node);
    if (it == subscribers_.end() || !sim_.node(node).up()) return;
    auto const name = topic_name(it->second.topic);
    auto ok = sim_.command(node, [&](node::Engine& e, core::Instant now) { return e.subscribe(now, name).ok(); });
    if (ok && it->second.subscribed_at == core::Instant::max()) it->second.subscribed_at = sim_.now();
}

void PubsubWorkload::publish(std::size_t index, NodeIndex origin) {
    if (!mesh_at_first_publish_.taken) mesh_at_first_publish_ = mesh_shape();
    auto& p = published_[index];
    p.origin = origin;
    p.topic = index % options_.topics;
    p.at = sim_.now();
    p.published = true;
    // The payload: the message index and filler, unique per run.
    core::Bytes payload(std::max<std::size_t>(options_.msg_size, 8));
    for (std::size_t i = 0; i < 8; ++i) payload[i] = static_cast<std::byte>(index >> (8 * i));
    for (std::size_t i = 8; i < payload.size(); ++i) payload[i] = static_cast<std::byte>(rng_.next());
    auto const name = topic_name(p.topic);
    // A subscribed publisher delivers to its own application inside the command, before
    // the receipt names the id: on_delivered files that one under `publishing_`.
    auto const before = cold_counters(origin);
    publishing_ = index;
    auto receipt = sim_.command(origin, [&](node::Engine& e, core::Instant now) { return e.publish(now, name, payload); });
    publishing_.reset();
    if (!receipt) {
        ++publish_failed_;
        p.abandoned = true;
        return;
    }
    index_of_id_.emplace(receipt.value().id, index);
    // Subscribers the publisher cannot reach now (a partition): only catch-up or
    // anti-entropy after the heal can bring them this message.
    auto const& net = sim_.network();
    if (net.partitioned()) {
        for (auto const& [n, s] : subscribers_) {
            if (s.topic != p.topic || !sim_.node(n).up()) continue;
            if (!net.reachable(origin, n) || !net.reachable(n, origin)) cut_.insert(key_of(n, index));
        }
    }
    // Warm: the publisher had topic peers and sent at once (a subscriber, or a fanout
    // already set up). Cold: it first looks the topic up in the DHT and opens links.
    p.warm = receipt.value().peers > 0;
    // A cold publish is timed on its publisher (one at a time per publisher): from now on
    // each of its inputs is checked for the next milestone.
    if (!p.warm && !cold_watch_.contains(origin)) {
        auto watch = before;
        watch.message = index;
        cold_watch_.emplace(origin, watch);
        sim_.node(origin).watched = true;
        on_watched(origin, {});  // what the publish command itself did (a dial from local records)
    }
}

PubsubWorkload::ColdWatch PubsubWorkload::cold_counters(NodeIndex node) const {
    auto const& e = *sim_.node(node).engine;
    auto const stats = e.stats();
    return ColdWatch{0, stats.streams_opened_out, stats.links_established, e.pubsub().stats().pending_sent};
}

void PubsubWorkload::on_watched(NodeIndex node, std::vector<node::Event> const& events) {
    auto it = cold_watch_.find(node);
    if (it == cold_watch_.end()) return;
    auto& p = published_[it->second.message];
    auto const now = sim_.now();
    auto const counters = cold_counters(node);
    auto stamp = [&](ColdStep step, bool reached) {
        auto& at = p.cold_at[static_cast<std::size_t>(step)];
        if (reached && !at) at = now;
    };
    stamp(ColdStep::first_dial, counters.streams_opened > it->second.streams_opened);
    stamp(ColdStep::first_link, counters.links_established > it->second.links_established);
    stamp(ColdStep::first_sent, counters.pending_sent > it->second.pending_sent);
    auto const key = pubsub::topic_key(topic_name(p.topic));
    for (auto const& ev : events) {
        auto const* dht_event = std::get_if<dht::Event>(&ev);
        auto const* done = dht_event ? std::get_if<dht::LookupDone>(dht_event) : nullptr;
        stamp(ColdStep::lookup_done, done && done->kind == dht::LookupKind::find_providers && done->target == key);
    }
    bool const all = std::all_of(p.cold_at.begin(), p.cold_at.end(), [](auto const& at) { return at.has_value(); });
    if (all || now - p.at >= cold_watch_max) stop_watching(node);
}

void PubsubWorkload::stop_watching(NodeIndex node) {
    cold_watch_.erase(node);
    sim_.node(node).watched = false;
}

void PubsubWorkload::on_delivered(NodeIndex node, pubsub::Delivered const& d) {
    // The id from the bytes themselves: a delivery whose bytes are not exactly what was
    // published (and signed) matches no published message.
    auto const id = core::blake2b_256(d.message.encoded);
    auto it = index_of_id_.find(id);
    if (it == index_of_id_.end() && publishing_ && node == published_[*publishing_].origin && id == d.message.id)
        it = index_of_id_.emplace(id, *publishing_).first;
    if (it == index_of_id_.end() || id != d.message.id) {
        ++unknown_deliveries_;
        sim_.violation(node, "delivered a message that was never published: " + id.short_hex());
        return;
    }
    auto const m = it->second;
    auto const key = key_of(node, m);
    if (!delivered_.insert(key).second) {
        ++double_deliveries_;
        sim_.violation(node, "delivered message " + std::to_string(m) + " twice");
        return;
    }
    ++delivered_total_;
    if (d.caught_up()) ++caught_up_deliveries_;
    // Whether this delivery was expected is decided at the end (the subscriber may still
    // go down later): keep its latency and path by (node, message).
    delivery_of_.emplace(key, Delivery{ms(sim_.now() - published_[m].at), d.arrival});
}

void PubsubWorkload::on_down(NodeIndex node) {
    if (cold_watch_.contains(node)) stop_watching(node);
    // A planned absence keeps the subscriber in the count: it must catch up.
    if (auto s = subscribers_.find(node); s != subscribers_.end() && going_offline_ != node) s->second.whole_run = false;
    // Messages this node published within the grace period may never have left it.
    for (auto& p : published_) {
        if (p.origin == node && p.published && !p.abandoned && sim_.now() - p.at < options_.publisher_grace)
            p.abandoned = true;
    }
}

bool PubsubWorkload::counted(Subscriber const& s) {
    // Down at the end of a run cut short, before its planned return: no clean absence.
    bool const still_away = s.down_at != core::Instant::max() && s.back_at == core::Instant::max();
    return s.whole_run && !still_away && s.subscribed_at != core::Instant::max();
}

void PubsubWorkload::on_up(NodeIndex node) {
    if (subscribers_.contains(node)) subscribe(node);
}

PubsubSummary PubsubWorkload::summarise() const {
    PubsubSummary r;
    r.ran = true;
    std::vector<double> latencies, warm, cold;
    std::array<std::vector<double>, pubsub::arrival_count> warm_by_arrival;
    r.subscribers = subscribers_.size();
    for (auto const& [n, s] : subscribers_) {
        if (!counted(s)) continue;
        if (s.back_at != core::Instant::max()) ++r.subscribers_offline;
        else ++r.subscribers_whole_run;
    }
    for (std::size_t m = 0; m < published_.size(); ++m) {
        auto const& p = published_[m];
        if (!p.published) continue;  // the run was cut short
        ++r.published;
        if (p.abandoned) {
            ++r.abandoned;
            continue;
        }
        for (auto const& [n, s] : subscribers_) {
            if (!counted(s) || s.topic != p.topic || s.subscribed_at > p.at) continue;
            ++r.expected_deliveries;
            auto const key = key_of(n, m);
            auto d = delivery_of_.find(key);
            if (d == delivery_of_.end()) {
                if (r.missed_examples.size() < missed_examples_max)
                    r.missed_examples.push_back("message " + std::to_string(m) + " to node " + std::to_string(n));
                continue;
            }
            ++r.delivered;
            latencies.push_back(d->second.latency_ms);
            (p.warm ? warm : cold).push_back(d->second.latency_ms);
            if (p.warm) warm_by_arrival[static_cast<std::size_t>(d->second.arrival)].push_back(d->second.latency_ms);
        }
    }
    r.publish_failed = publish_failed_;
    r.delivered_total = delivered_total_;
    r.delivery_ratio = r.expected_deliveries == 0 ? 1.0
                                                  : static_cast<double>(r.delivered) / static_cast<double>(r.expected_deliveries);
    auto& lat = latencies;
    r.latency_ms_p50 = percentile(lat, 50);
    r.latency_ms_p90 = percentile(lat, 90);
    r.latency_ms_p99 = percentile(lat, 99);
    r.latency_ms_max = lat.empty() ? 0 : lat.back();
    r.latencies_ms = std::move(lat);
    r.warm_deliveries = warm.size();
    r.warm_latency_ms_p50 = percentile(warm, 50);
    r.warm_latency_ms_p99 = percentile(warm, 99);
    r.cold_latency_ms_p50 = percentile(cold, 50);
    r.cold_latency_ms_p99 = percentile(cold, 99);
    for (std::size_t a = 0; a < pubsub::arrival_count; ++a) {
        auto& split = r.warm_by_arrival[a];
        split.deliveries = warm_by_arrival[a].size();
        split.latency_ms_p50 = percentile(warm_by_arrival[a], 50);
        split.latency_ms_p99 = percentile(warm_by_arrival[a], 99);
    }
    for (NodeIndex i = 0; i < sim_.node_count(); ++i) {
        auto const& n = sim_.node(i);
        r.link_bytes += n.link_bytes_before;
        r.duplicates += n.pubsub_duplicates_before;
        if (n.up()) {
            r.link_bytes += n.engine->stats().bytes_out;
            r.duplicates += n.engine->pubsub().stats().duplicate;
        }
    }
    if (r.delivered_total > 0) {
        r.duplicates_per_delivery = static_cast<double>(r.duplicates) / static_cast<double>(r.delivered_total);
        r.bytes_per_delivery = static_cast<double>(r.link_bytes) / static_cast<double>(r.delivered_total);
    }
    r.double_deliveries = double_deliveries_;
    r.unknown_deliveries = unknown_deliveries_;
    r.mesh_at_first_publish = mesh_at_first_publish_;
    r.mesh_at_end = mesh_shape();
    summarise_catchup(r);
    summarise_cold(r);
    dump_deliveries();
    return r;
}

// Analysis aid: KADMIUM_SIM_DELIVERY_DUMP=FILE writes one CSV row per expected delivery
// (message, warm, publisher region, cold milestones in ms, subscriber region, latency ms,
// arrival). Not part of the report.
void PubsubWorkload::dump_deliveries() const {
    char const* path = std::getenv("KADMIUM_SIM_DELIVERY_DUMP");
    if (path == nullptr) return;
    std::ofstream out(path);
    auto const& net = sim_.network();
    out << "msg,warm,origin_region,first_dial,lookup_done,first_link,first_sent,sub,sub_region,latency_ms,arrival\n";
    for (std::size_t m = 0; m < published_.size(); ++m) {
        auto const& p = published_[m];
        if (!p.published || p.abandoned) continue;
        std::string steps;
        for (std::size_t s = 0; s < 4; ++s) {
            steps += ',';
            steps += p.cold_at[s] ? std::to_string(ms(*p.cold_at[s] - p.at)) : std::string("-1");
        }
        for (auto const& [n, sub] : subscribers_) {
            if (!counted(sub) || sub.topic != p.topic || sub.subscribed_at > p.at) continue;
            auto d = delivery_of_.find(key_of(n, m));
            out << m << ',' << p.warm << ',' << net.region_of(p.origin) << steps << ',' << n << ',' << net.region_of(n) << ','
                << (d == delivery_of_.end() ? -1.0 : d->second.latency_ms) << ','
                << (d == delivery_of_.end() ? "none" : pubsub::to_string(d->second.arrival)) << '\n';
        }
    }
}

char const* to_string(ColdStep step) {
    switch (step) {
        case ColdStep::first_dial: return "first_dial";
        case ColdStep::lookup_done: return "lookup_done";
        case ColdStep::first_link: return "first_link";
        case ColdStep::first_sent: return "first_sent";
        case ColdStep::first_delivery: return "first_delivery";
        case ColdStep::last_delivery: return "last_delivery";
    }
    return "unknown";
}

ColdStep previous_of(ColdStep step) {
    switch (step) {
        case ColdStep::first_link: return ColdStep::first_dial;
        case ColdStep::first_sent: return ColdStep::first_link;
        case ColdStep::first_delivery: return ColdStep::first_sent;
        case ColdStep::last_delivery: return ColdStep::first_delivery;
        default: return step;  // first_dial, lookup_done: timed from the publish
    }
}

void PubsubWorkload::summarise_cold(PubsubSummary& r) const {
    std::array<std::vector<double>, cold_step_count> since_publish, since_previous;
    for (std::size_t m = 0; m < published_.size(); ++m) {
        auto const& p = published_[m];
        if (!p.published || p.abandoned || p.warm) continue;
        ++r.cold_published;
        // Milestones in ms since the publish; negative: not reached.
        std::array<double, cold_step_count> at;
        at.fill(-1);
        for (std::size_t s = 0; s < p.cold_at.size(); ++s) {
            if (p.cold_at[s]) at[s] = ms(*p.cold_at[s] - p.at);
        }
        for (auto const& [n, sub] : subscribers_) {
            if (!counted(sub) || sub.topic != p.topic || sub.subscribed_at > p.at) continue;
            auto d = delivery_of_.find(key_of(n, m));
            if (d == delivery_of_.end()) continue;
            auto& first = at[static_cast<std::size_t>(ColdStep::first_delivery)];
            auto& last = at[static_cast<std::size_t>(ColdStep::last_delivery)];
            if (first < 0 || d->second.latency_ms < first) first = d->second.latency_ms;
            last = std::max(last, d->second.latency_ms);
        }
        for (std::size_t s = 0; s < cold_step_count; ++s) {
            if (at[s] < 0) continue;
            since_publish[s].push_back(at[s]);
            auto const prev = static_cast<std::size_t>(previous_of(static_cast<ColdStep>(s)));
            if (prev == s) since_previous[s].push_back(at[s]);
            else if (at[prev] >= 0) since_previous[s].push_back(at[s] - at[prev]);
        }
    }
    for (std::size_t s = 0; s < cold_step_count; ++s) {
        auto& out = r.cold_steps[s];
        out.count = since_publish[s].size();
        out.ms_p50 = percentile(since_publish[s], 50);
        out.ms_p99 = percentile(since_publish[s], 99);
        out.step_ms_p50 = percentile(since_previous[s], 50);
        out.step_ms_p99 = percentile(since_previous[s], 99);
    }
}

void PubsubWorkload::summarise_catchup(PubsubSummary& r) const {
    auto& c = r.catchup;
    c.offline_planned = offline_chosen_;
    c.offline_skipped = offline_skipped_;
    std::vector<double> catchup_s;
    // Walk subscribers in index order, so the examples do not depend on hashing.
    std::vector<NodeIndex> nodes;
    for (auto const& [n, s] : subscribers_) nodes.push_back(n);
    std::sort(nodes.begin(), nodes.end());
    for (auto n : nodes) {
        auto const& s = subscribers_.at(n);
        if (!counted(s) || s.back_at == core::Instant::max()) continue;
        ++c.offline_subscribers;
        std::size_t missed = 0, recovered = 0;
        double last_s = 0;  // the last missed message's arrival, after the return
        for (std::size_t m = 0; m < published_.size(); ++m) {
            auto const& p = published_[m];
            if (!p.published || p.abandoned || p.topic != s.topic || p.at < s.down_at || p.at >= s.back_at) continue;
            if (s.subscribed_at > p.at) continue;
            ++missed;
            auto d = delivery_of_.find(key_of(n, m));
            if (d == delivery_of_.end()) continue;
            ++recovered;
            if (d->second.arrival == pubsub::Arrival::catchup) ++c.recovered_caught_up;
            last_s = std::max(last_s, seconds(p.at) + d->second.latency_ms / 1000.0 - seconds(s.back_at));
        }
        c.missed += missed;
        c.recovered += recovered;
        if (missed == 0) continue;
        if (recovered == missed) {
            ++c.recovered_subscribers;
            catchup_s.push_back(last_s);
        } else {
            ++c.unrecovered_subscribers;
            if (c.unrecovered_examples.size() < missed_examples_max)
                c.unrecovered_examples.push_back("node " + std::to_string(n) + ": " + std::to_string(missed - recovered) +
                                                 " of " + std::to_string(missed) + " missed messages never arrived");
        }
    }
    c.recovered_ratio = c.missed == 0 ? 1.0 : static_cast<double>(c.recovered) / static_cast<double>(c.missed);
    c.catchup_s_p50 = percentile(catchup_s, 50);
    c.catchup_s_p99 = percentile(catchup_s, 99);
    c.catchup_s_max = catchup_s.empty() ? 0 : catchup_s.back();
    // Deliveries a partition cut at publish time, among the expected ones.
    for (auto key : cut_) {
        auto const n = static_cast<NodeIndex>(key >> 32);
        auto const m = static_cast<std::size_t>(key & 0xffffffffU);
        auto const& s = subscribers_.at(n);
        auto const& p = published_[m];
        if (!counted(s) || p.abandoned || s.subscribed_at > p.at) continue;
        ++c.partition_cut;
        auto d = delivery_of_.find(key);
        if (d == delivery_of_.end()) continue;
        ++c.partition_cut_delivered;
        c.partition_cut_latency_s_max = std::max(c.partition_cut_latency_s_max, d->second.latency_ms / 1000.0);
    }
    c.caught_up_deliveries = caught_up_deliveries_;
    for (NodeIndex i = 0; i < sim_.node_count(); ++i) {
        auto const& node = sim_.node(i);
        c.counters.add(node.catchup_before);
        if (node.up()) c.counters.add(node.engine->pubsub().stats());
    }
    auto const recovered = c.recovered + c.partition_cut_delivered;
    if (recovered > 0)
        c.sync_bytes_per_recovered_message =
            static_cast<double>(c.counters.sync_bytes_sent) / static_cast<double>(recovered);
}

}  // namespace sim

namespace sim {

MeshShape PubsubWorkload::mesh_shape() const {
    MeshShape shape;
    shape.taken = true;
    auto const key = pubsub::topic_key(topic_name(0));
    // Running subscribers of topic 0 and their mesh peers, by node id.
    std::unordered_map<core::NodeId, std::vector<core::NodeId>, core::NodeIdHash> mesh;
    for (auto const& [n, s] : subscribers_) {
        auto const& node = sim_.node(n);
        if (s.topic != 0 || !node.up()) continue;
        mesh.emplace(node.identity.id, node.engine->pubsub().mesh(key));
    }
    shape.subscribers = mesh.size();
    if (mesh.empty()) return shape;
    std::size_t const d_lo = pubsub::Config{}.d_lo;
    std::vector<std::size_t> degrees;
    // Union-find over the edges both ends agree on.
    std::unordered_map<core::NodeId, core::NodeId, core::NodeIdHash> parent;
    for (auto const& [id, peers] : mesh) parent.emplace(id, id);
    auto find = [&](core::NodeId x) {
        for (std::size_t step = 0; step < parent.size() && parent.at(x) != x; ++step) x = parent.at(x);
        return x;
    };
    for (auto const& [id, peers] : mesh) {
        degrees.push_back(peers.size());
        shape.below_d_lo += peers.size() < d_lo;
        for (auto const& peer : peers) {
            auto other = mesh.find(peer);
            bool const mutual = other != mesh.end() &&
                                std::find(other->second.begin(), other->second.end(), id) != other->second.end();
            if (!mutual) {
                ++shape.one_sided_edges;
                continue;
            }
            auto a = find(id), b = find(peer);
            if (a != b) parent[a] = b;
        }
    }
    std::unordered_map<core::NodeId, std::size_t, core::NodeIdHash> sizes;
    for (auto const& [id, _] : mesh) ++sizes[find(id)];
    shape.components = sizes.size();
    for (auto const& [_, size] : sizes) shape.largest_component = std::max(shape.largest_component, size);
    std::sort(degrees.begin(), degrees.end());
    shape.degree_min = degrees.front();
    shape.degree_p50 = degrees[(degrees.size() - 1) / 2];
    shape.degree_max = degrees.back();
    return shape;
}

}  // namespace sim
