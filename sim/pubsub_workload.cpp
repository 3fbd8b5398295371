// The pub/sub workload and its delivery checker; see pubsub_workload.hpp.
#include "sim/pubsub_workload.hpp"

#include "core/assert.hpp"
#include "core/crypto.hpp"
#include "sim/scenario.hpp"

#include <algorithm>

namespace sim {

namespace {
double ms(core::Duration d) { return static_cast<double>(d.count()) / 1000.0; }
constexpr std::size_t missed_examples_max = 10;
}  // namespace

PubsubWorkload::PubsubWorkload(Simulator& sim, PubsubOptions const& options, std::uint64_t seed)
    : sim_(sim), options_(options), rng_(mix64(seed, 0x70756273 /* "pubs" */)) {
    CORE_ASSERT(options_.topics >= 1);
}

void PubsubWorkload::schedule(core::Instant start, core::Instant end, std::function<NodeIndex()> pick) {
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
}

void PubsubWorkload::subscribe(NodeIndex node) {
    auto it = subscribers_.find(node);
    if (it == subscribers_.end() || !sim_.node(node).up()) return;
    auto const name = topic_name(it->second.topic);
    auto ok = sim_.command(node, [&](node::Engine& e, core::Instant now) { return e.subscribe(now, name).ok(); });
    if (ok && it->second.subscribed_at == core::Instant::max()) it->second.subscribed_at = sim_.now();
}

void PubsubWorkload::publish(std::size_t index, NodeIndex origin) {
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
    publishing_ = index;
    auto receipt = sim_.command(origin, [&](node::Engine& e, core::Instant now) { return e.publish(now, name, payload); });
    publishing_.reset();
    if (!receipt) {
        ++publish_failed_;
        p.abandoned = true;
        return;
    }
    index_of_id_.emplace(receipt.value().id, index);
    // Warm: the publisher had topic peers and sent at once (a subscriber, or a fanout
    // already set up). Cold: it first looks the topic up in the DHT and opens links.
    p.warm = receipt.value().peers > 0;
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
    auto const key = (static_cast<std::uint64_t>(node) << 32) | m;
    if (!delivered_.insert(key).second) {
        ++double_deliveries_;
        sim_.violation(node, "delivered message " + std::to_string(m) + " twice");
        return;
    }
    ++delivered_total_;
    // Whether this delivery was expected is decided at the end (the subscriber may still
    // go down later): keep its latency by (node, message).
    latency_of_.emplace(key, ms(sim_.now() - published_[m].at));
}

void PubsubWorkload::on_down(NodeIndex node) {
    if (auto s = subscribers_.find(node); s != subscribers_.end()) s->second.whole_run = false;
    // Messages this node published within the grace period may never have left it.
    for (auto& p : published_) {
        if (p.origin == node && p.published && !p.abandoned && sim_.now() - p.at < options_.publisher_grace)
            p.abandoned = true;
    }
}

void PubsubWorkload::on_up(NodeIndex node) {
    if (subscribers_.contains(node)) subscribe(node);
}

PubsubSummary PubsubWorkload::summarise() const {
    PubsubSummary r;
    r.ran = true;
    std::vector<double> latencies, warm, cold;
    r.subscribers = subscribers_.size();
    for (auto const& [n, s] : subscribers_)
        if (s.whole_run && s.subscribed_at != core::Instant::max()) ++r.subscribers_whole_run;
    for (std::size_t m = 0; m < published_.size(); ++m) {
        auto const& p = published_[m];
        if (!p.published) continue;  // the run was cut short
        ++r.published;
        if (p.abandoned) {
            ++r.abandoned;
            continue;
        }
        for (auto const& [n, s] : subscribers_) {
            if (!s.whole_run || s.topic != p.topic || s.subscribed_at > p.at) continue;
            ++r.expected_deliveries;
            auto const key = (static_cast<std::uint64_t>(n) << 32) | m;
            auto lat = latency_of_.find(key);
            if (lat == latency_of_.end()) {
                if (r.missed_examples.size() < missed_examples_max)
                    r.missed_examples.push_back("message " + std::to_string(m) + " to node " + std::to_string(n));
                continue;
            }
            ++r.delivered;
            latencies.push_back(lat->second);
            (p.warm ? warm : cold).push_back(lat->second);
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
    return r;
}

}  // namespace sim
