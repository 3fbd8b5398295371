// metrics::Exporter: prometheus-cpp families built from metric_names.hpp, fed with the
// deltas of dht::Stats. The only file in kadmium that includes prometheus-cpp headers, so
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
#include <exception>
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
    std::array<Counter*, lan_result_labels.size()> lan{};
    std::array<std::uint64_t, lan_result_labels.size()> lan_last{};

    std::array<Histogram*, lookup_kind_labels.size()> lookup_duration{};
    std::array<Histogram*, lookup_kind_labels.size()> lookup_hops{};

    // The Stats seen by the previous update(); counters start at 0 like a new DhtNode's.
    dht::Stats last{};

    // Shared with the HTTP threads' port table (health_http.hpp).
    std::shared_ptr<Health> health = std::make_shared<Health>();

    // Declared last so that it is destroyed first: no scrape can run while the metrics go.
    std::unique_ptr<prometheus::Exposer> exposer;

    Impl();
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

Health& Exporter::health() { return *impl_->health; }

std::string Exporter::serialize() const {
    return prometheus::TextSerializer{}.Serialize(impl_->registry->Collect());
}

}  // namespace metrics
