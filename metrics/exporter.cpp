// metrics::Exporter: prometheus-cpp families built from metric_names.hpp, fed with the
// deltas of dht::Stats and of the pub/sub and store snapshots. The only file in kadmium that includes prometheus-cpp headers, so
// their compile cost and their exceptions stay here.
#include "metrics/exporter.hpp"

#include "core/assert.hpp"
#include "metrics/health_http.hpp"
#include "metrics/metric_names.hpp"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <cmath>
#include <exception>
#include <map>
#include <utility>

#ifndef KADMIUM_VERSION
#define KADMIUM_VERSION "unknown"
#endif

namespace metrics {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;
using prometheus::Registry;

std::string str(std::string_view s) { return std::string(s); }

prometheus::Family<Counter>& counter_family(Registry& registry, std::string_view name, std::string_view help) {
    return prometheus::BuildCounter().Name(str(name)).Help(str(help)).Register(registry);
}
prometheus::Family<Gauge>& gauge_family(Registry& registry, std::string_view name, std::string_view help) {
    return prometheus::BuildGauge().Name(str(name)).Help(str(help)).Register(registry);
}
prometheus::Family<Histogram>& histogram_family(Registry& registry, std::string_view name, std::string_view help) {
    return prometheus::BuildHistogram().Name(str(name)).Help(str(help)).Register(registry);
}

std::string_view help_of(std::string_view metric_name) {
    for (auto const& m : all_metrics) {
        if (m.name == metric_name) return m.help;
    }
    CORE_ASSERT(false && "metric missing from all_metrics");
    return {};
}

// Adds the growth of a monotonic core counter. A value below the last one means the host
// replaced the node (its counters restarted at 0), so the whole new value is growth.
void add_delta(Counter& counter, std::uint64_t now, std::uint64_t last) {
    std::uint64_t const delta = now >= last ? now - last : now;
    if (delta != 0) counter.Increment(static_cast<double>(delta));
}

// A histogram observation of a duration: NaN is no observation, a negative one (clock
// skew) is 0.
void observe_nonnegative(Histogram& histogram, double seconds) {
    if (std::isnan(seconds)) return;
    histogram.Observe(seconds < 0 ? 0.0 : seconds);
}

template <std::size_t N>
Histogram::BucketBoundaries bounds(std::array<double, N> const& buckets) {
    return Histogram::BucketBoundaries(buckets.begin(), buckets.end());
}

// Length of the UTF-8 sequence that starts at `i`, or 0 when it is not valid UTF-8 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF) or is an ASCII control character.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    auto const byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char const lead = byte(i);
    if (lead < 0x80) return lead >= 0x20 && lead != 0x7f ? 1 : 0;
    std::size_t length = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
    } else {
        return 0;
    }
    // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and code
    // points above U+10FFFF (F4).
    unsigned char const low = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
    unsigned char const high = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
    if (i + length > s.size()) return 0;
    if (byte(i + 1) < low || byte(i + 1) > high) return 0;
    for (std::size_t k = 2; k < length; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
    }
    return length;
}

// Whether a topic name may be a label value of its own: bounded length, printable UTF-8,
// and not the name of the aggregate series.
bool topic_labelable(std::string_view topic) {
    if (topic.empty() || topic.size() > max_topic_label_bytes || topic == other_topic_label) return false;
    for (std::size_t i = 0; i < topic.size();) {
        std::size_t const length = utf8_sequence_length(topic, i);
        if (length == 0) return false;
        i += length;
    }
    return true;
}

}  // namespace

struct Exporter::Impl {
    // Declared first so that it is destroyed last: the families and the exposer point into it.
    std::shared_ptr<Registry> registry = std::make_shared<Registry>();

    Gauge* peers = nullptr;
    Gauge* active_peers = nullptr;
    Gauge* records = nullptr;
    Gauge* lookups_in_flight = nullptr;
    Gauge* uptime = nullptr;

    std::array<Counter*, dht::drop_reason_count> dropped{};
    std::array<std::array<Counter*, dht::rpc_outcome_count>, dht::rpc_type_count> rpc{};
    Counter* bytes_in = nullptr;
    Counter* bytes_out = nullptr;
    Counter* packets_in = nullptr;
    Counter* packets_out = nullptr;
    Counter* store_errors = nullptr;
    Counter* evictions = nullptr;
    Counter* handoffs = nullptr;
    Counter* handoff_newcomers_skipped = nullptr;
    std::array<Counter*, dht::provider_reject_count> providers_rejected{};
    std::array<Counter*, lan_result_labels.size()> lan{};
    std::array<std::uint64_t, lan_result_labels.size()> lan_last{};

    std::array<Histogram*, lookup_kind_labels.size()> lookup_duration{};
    std::array<Histogram*, lookup_kind_labels.size()> lookup_hops{};

    // The Stats seen by the previous update(); counters start at 0 like a new DhtNode's.
    dht::Stats last{};

    // Pub/sub.
    Counter* published = nullptr;
    Counter* delivered = nullptr;
    Counter* duplicate = nullptr;
    std::array<Counter*, invalid_reason_count> invalid{};
    std::array<Counter*, flow_count> link_bytes{};
    std::array<Counter*, link_drop_reason_count> link_drops{};
    std::array<std::array<Counter*, flow_count>, control_type_count> control{};
    std::array<Counter*, pubsub::drop_reason_count> router_drops{};
    Gauge* topics = nullptr;
    std::array<Gauge*, link_direction_count> links{};
    prometheus::Family<Gauge>* mesh_family = nullptr;
    Gauge* mesh_other = nullptr;
    std::map<std::string, Gauge*, std::less<>> mesh_topics;  // at most max_topic_series
    Histogram* delivery_latency = nullptr;
    Histogram* peer_score = nullptr;
    PubsubSnapshot last_pubsub{};  // counters only; its mesh_peers stays empty

    // Message store and catch-up.
    Counter* catchup_messages = nullptr;
    Counter* dht_records_written_through = nullptr;
    Counter* dht_records_lost = nullptr;
    std::array<Counter*, sync_outcome_count> sync_sessions{};
    Gauge* store_messages = nullptr;
    Gauge* store_bytes = nullptr;
    Gauge* store_capacity = nullptr;
    Histogram* store_commit = nullptr;
    StoreSnapshot last_store{};
    // Shared with the HTTP threads' port table (health_http.hpp).
    std::shared_ptr<Health> health = std::make_shared<Health>();

    // Declared last so that it is destroyed first: no scrape can run while the metrics go.
    std::unique_ptr<prometheus::Exposer> exposer;

    Impl();
    void add_pubsub_metrics();
    void add_store_metrics();
    void set_mesh_peers(std::vector<TopicMesh> const& mesh);
    ~Impl();
};

Exporter::Impl::Impl() {
    Registry& r = *registry;
    auto gauge = [&](std::string_view n) -> Gauge* { return &gauge_family(r, n, help_of(n)).Add({}); };

    peers = gauge(name::peers);
    active_peers = gauge(name::active_peers);
    records = gauge(name::dht_records);
    lookups_in_flight = gauge(name::lookups_in_flight);
    uptime = gauge(name::uptime_seconds);
    gauge_family(r, name::build_info, help_of(name::build_info))
        .Add({{str(label::version), KADMIUM_VERSION}})
        .Set(1);

    // Every label combination is added now so that it is exported as 0 from the first
    // scrape: rate() and increase() need a sample before the first event, and a missing
    // series would look like "no data" instead of "no drops".
    auto& dropped_family = counter_family(r, name::packets_dropped_total, help_of(name::packets_dropped_total));
    for (std::size_t i = 0; i < dropped.size(); ++i) {
        dropped[i] = &dropped_family.Add({{str(label::reason), str(drop_reason_labels[i])}});
    }

    auto& rpc_family = counter_family(r, name::rpc_total, help_of(name::rpc_total));
    for (std::size_t t = 0; t < rpc.size(); ++t) {
        for (std::size_t o = 0; o < rpc[t].size(); ++o) {
            rpc[t][o] = &rpc_family.Add(
                {{str(label::type), str(rpc_type_labels[t])}, {str(label::outcome), str(rpc_outcome_labels[o])}});
        }
    }

    auto& bytes_family = counter_family(r, name::bytes_total, help_of(name::bytes_total));
    bytes_in = &bytes_family.Add({{str(label::direction), str(direction_in)}});
    bytes_out = &bytes_family.Add({{str(label::direction), str(direction_out)}});
    auto& packets_family = counter_family(r, name::packets_total, help_of(name::packets_total));
    packets_in = &packets_family.Add({{str(label::direction), str(direction_in)}});
    packets_out = &packets_family.Add({{str(label::direction), str(direction_out)}});

    store_errors = &counter_family(r, name::store_errors_total, help_of(name::store_errors_total)).Add({});
    evictions = &counter_family(r, name::routing_evictions_total, help_of(name::routing_evictions_total)).Add({});
    handoffs = &counter_family(r, name::dht_handoffs_total, help_of(name::dht_handoffs_total)).Add({});
    handoff_newcomers_skipped = &counter_family(r, name::dht_handoff_newcomers_skipped_total,
                                                help_of(name::dht_handoff_newcomers_skipped_total)).Add({});
    auto& rejected_family =
        counter_family(r, name::provider_records_rejected_total, help_of(name::provider_records_rejected_total));
    for (std::size_t i = 0; i < providers_rejected.size(); ++i) {
        providers_rejected[i] = &rejected_family.Add({{str(label::reason), str(provider_reject_labels[i])}});
    }
    auto& lan_family = counter_family(r, name::lan_announcements_total, help_of(name::lan_announcements_total));
    for (std::size_t i = 0; i < lan.size(); ++i) lan[i] = &lan_family.Add({{str(label::result), str(lan_result_labels[i])}});

    Histogram::BucketBoundaries const duration_bounds(lookup_duration_buckets.begin(), lookup_duration_buckets.end());
    Histogram::BucketBoundaries const hops_bounds(lookup_hops_buckets.begin(), lookup_hops_buckets.end());
    auto& duration_family =
        histogram_family(r, name::lookup_duration_seconds, help_of(name::lookup_duration_seconds));
    auto& hops_family = histogram_family(r, name::lookup_hops, help_of(name::lookup_hops));
    for (std::size_t k = 0; k < lookup_kind_labels.size(); ++k) {
        Labels const labels{{str(label::kind), str(lookup_kind_labels[k])}};
        lookup_duration[k] = &duration_family.Add(labels, duration_bounds);
        lookup_hops[k] = &hops_family.Add(labels, hops_bounds);
    }

    add_pubsub_metrics();
    add_store_metrics();
}

void Exporter::Impl::add_pubsub_metrics() {
    Registry& r = *registry;
    auto counter = [&](std::string_view n) -> Counter* { return &counter_family(r, n, help_of(n)).Add({}); };
    auto labelled = [](std::string_view key, std::string_view value) { return Labels{{str(key), str(value)}}; };

    published = counter(name::messages_published_total);
    delivered = counter(name::messages_delivered_total);
    duplicate = counter(name::messages_duplicate_total);

    auto& invalid_family = counter_family(r, name::messages_invalid_total, help_of(name::messages_invalid_total));
    for (std::size_t i = 0; i < invalid.size(); ++i) {
        invalid[i] = &invalid_family.Add(labelled(label::reason, invalid_reason_labels[i]));
    }
    auto& bytes_family = counter_family(r, name::link_bytes_total, help_of(name::link_bytes_total));
    for (std::size_t f = 0; f < link_bytes.size(); ++f) {
        link_bytes[f] = &bytes_family.Add(labelled(label::direction, label_of(static_cast<Flow>(f))));
    }
    auto& drops_family = counter_family(r, name::link_frames_dropped_total, help_of(name::link_frames_dropped_total));
    for (std::size_t i = 0; i < link_drops.size(); ++i) {
        link_drops[i] = &drops_family.Add(labelled(label::reason, link_drop_reason_labels[i]));
    }
    auto& control_family = counter_family(r, name::gossip_control_total, help_of(name::gossip_control_total));
    for (std::size_t t = 0; t < control.size(); ++t) {
        for (std::size_t f = 0; f < control[t].size(); ++f) {
            control[t][f] = &control_family.Add({{str(label::type), str(control_type_labels[t])},
                                                 {str(label::direction), str(label_of(static_cast<Flow>(f)))}});
        }
    }

    auto& router_drops_family = counter_family(r, name::pubsub_dropped_total, help_of(name::pubsub_dropped_total));
    for (std::size_t i = 0; i < router_drops.size(); ++i) {
        router_drops[i] = &router_drops_family.Add(labelled(label::reason, pubsub::drop_reason_names[i]));
    }

    topics = &gauge_family(r, name::topics, help_of(name::topics)).Add({});
    auto& links_family = gauge_family(r, name::links, help_of(name::links));
    for (std::size_t d = 0; d < links.size(); ++d) {
        links[d] = &links_family.Add(labelled(label::direction, link_direction_labels[d]));
    }
    mesh_family = &gauge_family(r, name::mesh_peers, help_of(name::mesh_peers));
    mesh_other = &mesh_family->Add(labelled(label::topic, other_topic_label));

    delivery_latency = &histogram_family(r, name::message_delivery_latency_seconds,
                                         help_of(name::message_delivery_latency_seconds))
                            .Add({}, bounds(delivery_latency_buckets));
    peer_score = &histogram_family(r, name::peer_score, help_of(name::peer_score)).Add({}, bounds(peer_score_buckets));
}

void Exporter::Impl::add_store_metrics() {
    Registry& r = *registry;
    catchup_messages =
        &counter_family(r, name::catchup_messages_total, help_of(name::catchup_messages_total)).Add({});
    dht_records_written_through = &counter_family(r, name::dht_records_written_through_total,
                                                  help_of(name::dht_records_written_through_total)).Add({});
    dht_records_lost = &counter_family(r, name::dht_records_lost_total, help_of(name::dht_records_lost_total)).Add({});
    auto& sync_family = counter_family(r, name::sync_sessions_total, help_of(name::sync_sessions_total));
    for (std::size_t o = 0; o < sync_sessions.size(); ++o) {
        sync_sessions[o] = &sync_family.Add({{str(label::outcome), str(sync_outcome_labels[o])}});
    }
    store_messages = &gauge_family(r, name::store_messages, help_of(name::store_messages)).Add({});
    store_bytes = &gauge_family(r, name::store_bytes, help_of(name::store_bytes)).Add({});
    store_capacity = &gauge_family(r, name::store_capacity_bytes, help_of(name::store_capacity_bytes)).Add({});
    store_commit = &histogram_family(r, name::store_commit_seconds, help_of(name::store_commit_seconds))
                        .Add({}, bounds(store_commit_buckets));
}

// Topics that already have a series keep it; new ones take free slots in name order; the
// rest, and topics that cannot be labels, are summed under "other". Series of topics that
// left are removed, so the count stays at most max_topic_series + 1 for the node's life.
void Exporter::Impl::set_mesh_peers(std::vector<TopicMesh> const& mesh) {
    std::map<std::string_view, std::size_t> by_topic;
    for (auto const& t : mesh) by_topic[t.topic] += t.peers;

    for (auto it = mesh_topics.begin(); it != mesh_topics.end();) {
        if (by_topic.contains(it->first)) {
            ++it;
            continue;
        }
        mesh_family->Remove(it->second);
        it = mesh_topics.erase(it);
    }

    std::size_t other = 0;
    for (auto const& [topic, peers] : by_topic) {
        auto series = mesh_topics.find(topic);
        if (series == mesh_topics.end() && mesh_topics.size() < max_topic_series && topic_labelable(topic)) {
            Gauge* gauge = &mesh_family->Add({{str(label::topic), str(topic)}});
            series = mesh_topics.emplace(str(topic), gauge).first;
        }
        if (series == mesh_topics.end()) {
            other += peers;
        } else {
            series->second->Set(static_cast<double>(peers));
        }
    }
    mesh_other->Set(static_cast<double>(other));
}

Exporter::Impl::~Impl() {
    if (exposer) {
        for (int port : exposer->GetListeningPorts()) health_http::detach(port);
    }
}

Exporter::Exporter() : impl_(std::make_unique<Impl>()) {}

Exporter::~Exporter() = default;

core::Result<std::unique_ptr<Exporter>, std::string> Exporter::start(std::string const& bind_address) {
    if (bind_address.empty()) {
        return core::Err{std::string("metrics: empty bind address (expected host:port, e.g. 127.0.0.1:9100)")};
    }
    auto exporter = std::make_unique<Exporter>();
    // civetweb reports a failed bind by throwing from the Exposer's constructor; this is
    // an operating error at startup, so it becomes a Result (STYLE.md, section 7).
    try {
        auto exposer = health_http::make_exposer(bind_address);
        exposer->RegisterCollectable(exporter->impl_->registry);
        for (int port : exposer->GetListeningPorts()) health_http::attach(port, exporter->impl_->health);
        exporter->impl_->exposer = std::move(exposer);
    } catch (std::exception const& e) {
        return core::Err{"metrics: cannot serve on '" + bind_address + "': " + e.what()};
    }
    if (exporter->port() == 0) {
        return core::Err{"metrics: '" + bind_address + "' is listening on no TCP port"};
    }
    return exporter;
}

std::uint16_t Exporter::port() const {
    if (!impl_->exposer) return 0;
    auto const ports = impl_->exposer->GetListeningPorts();
    if (ports.empty() || ports.front() <= 0 || ports.front() > 65535) return 0;
    return static_cast<std::uint16_t>(ports.front());
}

void Exporter::update(dht::Stats const& stats, Gauges const& gauges) {
    Impl& m = *impl_;
    dht::Stats const& last = m.last;

    for (std::size_t i = 0; i < m.dropped.size(); ++i) {
        add_delta(*m.dropped[i], stats.dropped[i], last.dropped[i]);
    }
    for (std::size_t t = 0; t < m.rpc.size(); ++t) {
        for (std::size_t o = 0; o < m.rpc[t].size(); ++o) {
            add_delta(*m.rpc[t][o], stats.rpc[t][o], last.rpc[t][o]);
        }
    }
    add_delta(*m.bytes_in, stats.bytes_in, last.bytes_in);
    add_delta(*m.bytes_out, stats.bytes_out, last.bytes_out);
    add_delta(*m.packets_in, stats.packets_in, last.packets_in);
    add_delta(*m.packets_out, stats.packets_out, last.packets_out);
    add_delta(*m.store_errors, stats.store_errors, last.store_errors);
    add_delta(*m.evictions, stats.evictions, last.evictions);
    add_delta(*m.handoffs, stats.handoffs, last.handoffs);
    add_delta(*m.handoff_newcomers_skipped, stats.handoff_newcomers_skipped, last.handoff_newcomers_skipped);
    for (std::size_t i = 0; i < m.providers_rejected.size(); ++i) {
        add_delta(*m.providers_rejected[i], stats.providers_rejected[i], last.providers_rejected[i]);
    }
    m.last = stats;

    m.peers->Set(static_cast<double>(gauges.peers));
    m.active_peers->Set(static_cast<double>(gauges.active_peers));
    m.records->Set(static_cast<double>(gauges.records));
    m.lookups_in_flight->Set(static_cast<double>(gauges.lookups_in_flight));
    m.uptime->Set(gauges.uptime_s);
}

void Exporter::update_lan(std::span<std::uint64_t const> totals) {
    CORE_ASSERT(totals.size() == lan_result_labels.size());
    for (std::size_t i = 0; i < totals.size(); ++i) {
        add_delta(*impl_->lan[i], totals[i], impl_->lan_last[i]);
        impl_->lan_last[i] = totals[i];
    }
}

void Exporter::observe_lookup(dht::LookupDone const& done) {
    auto const k = static_cast<std::size_t>(done.kind);
    CORE_ASSERT(k < lookup_kind_labels.size());
    impl_->lookup_duration[k]->Observe(core::to_seconds(done.elapsed));
    impl_->lookup_hops[k]->Observe(static_cast<double>(done.hops));
}

void Exporter::update_pubsub(PubsubSnapshot const& snapshot) {
    Impl& m = *impl_;
    PubsubSnapshot const& last = m.last_pubsub;

    add_delta(*m.published, snapshot.published, last.published);
    add_delta(*m.delivered, snapshot.delivered, last.delivered);
    add_delta(*m.duplicate, snapshot.duplicate, last.duplicate);
    for (std::size_t i = 0; i < m.invalid.size(); ++i) add_delta(*m.invalid[i], snapshot.invalid[i], last.invalid[i]);
    for (std::size_t f = 0; f < m.link_bytes.size(); ++f) {
        add_delta(*m.link_bytes[f], snapshot.link_bytes[f], last.link_bytes[f]);
    }
    for (std::size_t i = 0; i < m.link_drops.size(); ++i) {
        add_delta(*m.link_drops[i], snapshot.link_drops[i], last.link_drops[i]);
    }
    for (std::size_t t = 0; t < m.control.size(); ++t) {
        for (std::size_t f = 0; f < m.control[t].size(); ++f) {
            add_delta(*m.control[t][f], snapshot.control[t][f], last.control[t][f]);
        }
    }
    for (std::size_t i = 0; i < m.router_drops.size(); ++i) {
        add_delta(*m.router_drops[i], snapshot.router_drops[i], last.router_drops[i]);
    }
    m.last_pubsub = snapshot;
    m.last_pubsub.mesh_peers.clear();

    m.topics->Set(static_cast<double>(snapshot.topics));
    for (std::size_t d = 0; d < m.links.size(); ++d) m.links[d]->Set(static_cast<double>(snapshot.links[d]));
    m.set_mesh_peers(snapshot.mesh_peers);
}

void Exporter::observe_delivery_latency(double seconds) { observe_nonnegative(*impl_->delivery_latency, seconds); }

void Exporter::observe_peer_scores(std::span<double const> scores) {
    for (double const score : scores) {
        if (!std::isnan(score)) impl_->peer_score->Observe(score);
    }
}

void Exporter::update_store(StoreSnapshot const& snapshot) {
    Impl& m = *impl_;
    add_delta(*m.catchup_messages, snapshot.catchup_messages, m.last_store.catchup_messages);
    add_delta(*m.dht_records_written_through, snapshot.dht_records_written_through,
              m.last_store.dht_records_written_through);
    add_delta(*m.dht_records_lost, snapshot.dht_records_lost, m.last_store.dht_records_lost);
    for (std::size_t o = 0; o < m.sync_sessions.size(); ++o) {
        add_delta(*m.sync_sessions[o], snapshot.sync_sessions[o], m.last_store.sync_sessions[o]);
    }
    m.last_store = snapshot;
    m.store_messages->Set(static_cast<double>(snapshot.messages));
    m.store_bytes->Set(static_cast<double>(snapshot.bytes));
    m.store_capacity->Set(static_cast<double>(snapshot.capacity_bytes));
}

void Exporter::observe_store_commit(double seconds) { observe_nonnegative(*impl_->store_commit, seconds); }
Health& Exporter::health() { return *impl_->health; }

std::string Exporter::serialize() const {
    return prometheus::TextSerializer{}.Serialize(impl_->registry->Collect());
}

}  // namespace metrics
