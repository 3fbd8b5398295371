// Report writers; see report.hpp. JSON and SVG are written by hand: both are small and
// fixed in shape, and the simulator links no JSON or plotting library.
#include "sim/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace sim {

namespace {

std::string fixed(double v, int digits) {
    if (!std::isfinite(v)) return "0";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string hex64(std::uint64_t v) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

std::string xml_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

char const* crypto_name(CryptoMode m) { return m == CryptoMode::real ? "real" : "standin"; }

// The first few diagnosed failures, one line each.
void write_failed_lookups(std::ostream& out, std::vector<LookupRecord> const& lookups, char const* what) {
    std::size_t shown = 0;
    for (std::size_t i = 0; i < lookups.size() && shown < 5; ++i) {
        auto const& l = lookups[i];
        if (l.success || l.abandoned || (l.found_rank < 0 && l.truth_known_by < 0)) continue;
        ++shown;
        out << "            failed " << what << " " << i << " from node " << l.origin << ": " << l.found_rank
            << " live nodes closer than its answer; the truth was in " << l.truth_known_by << " routing tables\n";
    }
}

void write_failed_gets(std::ostream& out, std::vector<GetRecord> const& gets) {
    std::size_t shown = 0;
    for (std::size_t i = 0; i < gets.size() && shown < 5; ++i) {
        auto const& g = gets[i];
        if (g.success || g.abandoned || g.excused || g.holders_up < 0) continue;
        ++shown;
        out << "            failed get " << i << " of put " << g.put << " from node " << g.origin << ": " << g.values
            << " values found; the value was held by " << g.holders_up << " running nodes, " << g.holders_reachable
            << " of them reachable, " << g.holders_closest << " of the replicas closest to the key\n";
    }
}

std::string sync_sessions_text(CatchupCounters const& c) {
    std::string out;
    for (std::size_t i = 0; i < c.sync_sessions.size(); ++i) {
        out += (i ? " " : "");
        out += pubsub::to_string(static_cast<pubsub::SyncOutcome>(i));
        out += "=" + std::to_string(c.sync_sessions[i]);
    }
    return out;
}

// The catch-up lines of the pub/sub block: absences (--offline), partition cuts, and the
// routers' catch-up counters.
void write_catchup_summary(std::ostream& out, ScenarioResult const& r) {
    auto const& c = r.pubsub.catchup;
    auto const& k = c.counters;
    out << "  catchup:  " << c.offline_subscribers << " of " << c.offline_planned << " offline subscribers came back ("
        << c.offline_skipped << " skipped: down already); " << c.recovered << " of " << c.missed
        << " missed messages recovered (" << fixed(100.0 * c.recovered_ratio, 3) << "%, " << c.recovered_caught_up
        << " marked caught up)\n";
    out << "            catch-up time after return p50 " << fixed(c.catchup_s_p50, 2) << " s p99 "
        << fixed(c.catchup_s_p99, 2) << " s max " << fixed(c.catchup_s_max, 2) << " s over " << c.recovered_subscribers
        << " subscribers; " << c.unrecovered_subscribers << " subscribers still missing messages\n";
    if (c.partition_cut > 0 || !r.options.partitions.empty())
        out << "            partition: " << c.partition_cut_delivered << " of " << c.partition_cut
            << " deliveries cut at publish time arrived (longest wait " << fixed(c.partition_cut_latency_s_max, 1)
            << " s)\n";
    out << "            routers: " << k.catchup_messages << " messages found by catch-up, " << c.caught_up_deliveries
        << " caught-up deliveries; sync " << k.sync_bytes_sent << " bytes sent, " << k.sync_bytes_received
        << " received, " << fixed(c.sync_bytes_per_recovered_message, 0) << " per recovered message; "
        << k.anti_entropy_runs << " anti-entropy runs\n";
    out << "            sync sessions: " << sync_sessions_text(k) << "\n";
    for (auto const& e : c.unrecovered_examples) out << "            unrecovered: " << e << "\n";
}

void write_catchup_json(std::ostream& out, ScenarioResult const& r) {
    auto const& o = r.options.pubsub;
    auto const& c = r.pubsub.catchup;
    auto const& k = c.counters;
    out << "  \"catchup\": {\"offline\": " << fixed(o.offline, 4) << ", \"offline_start\": " << fixed(o.offline_start, 4)
        << ", \"offline_length\": " << fixed(o.offline_length, 4) << ", \"anti_entropy_s\": "
        << fixed(core::to_seconds(o.anti_entropy_interval), 3) << ", \"drain_s\": "
        << fixed(core::to_seconds(pubsub_drain(r.options)), 3) << ", \"offline_planned\": " << c.offline_planned
        << ", \"offline_subscribers\": " << c.offline_subscribers << ", \"offline_skipped\": " << c.offline_skipped
        << ", \"missed\": " << c.missed << ", \"recovered\": " << c.recovered << ", \"recovered_caught_up\": "
        << c.recovered_caught_up << ", \"recovered_ratio\": " << fixed(c.recovered_ratio, 6)
        << ", \"recovered_subscribers\": " << c.recovered_subscribers << ", \"unrecovered_subscribers\": "
        << c.unrecovered_subscribers << ", \"catchup_s_p50\": " << fixed(c.catchup_s_p50, 3) << ", \"catchup_s_p99\": "
        << fixed(c.catchup_s_p99, 3) << ", \"catchup_s_max\": " << fixed(c.catchup_s_max, 3)
        << ", \"unrecovered_examples\": [";
    for (std::size_t i = 0; i < c.unrecovered_examples.size(); ++i)
        out << (i ? ", " : "") << json_string(c.unrecovered_examples[i]);
    out << "], \"partition_cut\": " << c.partition_cut << ", \"partition_cut_delivered\": " << c.partition_cut_delivered
        << ", \"partition_cut_latency_s_max\": " << fixed(c.partition_cut_latency_s_max, 3)
        << ", \"caught_up_deliveries\": " << c.caught_up_deliveries << ", \"catchup_messages\": " << k.catchup_messages
        << ", \"sync_bytes_sent\": " << k.sync_bytes_sent << ", \"sync_bytes_received\": " << k.sync_bytes_received
        << ", \"fetch_served\": " << k.fetch_served << ", \"sync_bytes_per_recovered_message\": "
        << fixed(c.sync_bytes_per_recovered_message, 1) << ", \"anti_entropy_runs\": " << k.anti_entropy_runs
        << ", \"sync_sessions\": {";
    for (std::size_t i = 0; i < k.sync_sessions.size(); ++i)
        out << (i ? ", " : "") << json_string(pubsub::to_string(static_cast<pubsub::SyncOutcome>(i))) << ": "
            << k.sync_sessions[i];
    out << "}},\n";
}

}  // namespace

std::vector<double> lookup_latencies_ms(ScenarioResult const& r) {
    std::vector<double> out;
    for (auto const& l : r.lookups)
        if (l.finished && !l.abandoned) out.push_back(static_cast<double>((l.done - l.issued).count()) / 1000.0);
    return out;
}

void write_summary(std::ostream& out, ScenarioResult const& r) {
    auto const& o = r.options;
    auto const& s = r.summary;
    out << "kadmium-sim: " << o.nodes << " nodes, seed " << o.seed << ", crypto " << crypto_name(o.crypto) << ", latency "
        << o.network.latency.describe() << ", loss " << o.network.loss << ", churn " << o.churn << "\n";
    out << "  config:   alpha " << o.dht.alpha << ", k " << o.dht.k << ", replicas " << o.dht.replicas << ", rpc_timeout " << o.dht.rpc_timeout.count() / 1000
        << " ms, rpc_retries " << o.dht.rpc_retries << "; duplicate " << o.network.duplicate << ", reorder "
        << o.network.reorder_window.count() / 1000 << " ms, crashes " << o.crashes << " (down "
        << fixed(core::to_seconds(o.downtime), 1) << " s), partitions";
    if (o.partitions.empty()) out << " none";
    for (auto const& p : o.partitions)
        out << " " << fixed(core::to_seconds(p.at), 1) << ":" << fixed(core::to_seconds(p.duration), 1) << ":"
            << fixed(p.fraction, 2) << (p.one_way ? ":oneway" : "");
    out << "\n";
    out << "  run:      " << fixed(r.virtual_seconds, 1) << " s virtual in " << fixed(r.wall_seconds, 2) << " s wall, "
        << r.events << " events (" << fixed(r.wall_seconds > 0 ? static_cast<double>(r.events) / r.wall_seconds : 0, 0)
        << "/s), trace " << hex64(r.trace_hash) << "\n";
    out << "  memory:   peak RSS " << fixed(r.peak_rss_mb, 1) << " MB, " << fixed(r.memory_per_node_kb, 1)
        << " KB per node, queue peak " << r.queue_peak << "\n";
    out << "  nodes:    " << r.nodes_created << " created, " << r.nodes_up_end << " up at end, " << r.nodes_joined_end
        << " joined, " << r.join_failures << " never joined; join p50 " << fixed(r.join_ms_p50, 0) << " ms, p99 "
        << fixed(r.join_ms_p99, 0) << " ms; " << r.bootstrap_retries << " bootstrap retries\n";
    out << "  tables:   at the workload start: peers min " << fixed(r.table_min, 0) << " p1 " << fixed(r.table_p1, 0)
        << " p50 " << fixed(r.table_p50, 0) << " max " << fixed(r.table_max, 0) << "; sent per node "
        << fixed(r.join_packets_per_node, 0) << " packets, " << fixed(r.join_bytes_per_node / 1024.0, 1) << " KiB\n";
    if (auto const& c = r.table_comparison)
        out << "            vs sequential joins (p50 " << fixed(c->sequential_p50, 0) << " peers, sent per node "
            << fixed(c->sequential_packets_per_node, 0) << " packets, " << fixed(c->sequential_bytes_per_node / 1024.0, 1)
            << " KiB): size ratio min " << fixed(c->ratio_min, 2) << " p1 " << fixed(c->ratio_p1, 2) << " p50 "
            << fixed(c->ratio_p50, 2) << " max " << fixed(c->ratio_max, 2) << ", " << c->outside_2x << " of "
            << c->nodes << " outside 2x\n";
    for (auto const& n : r.not_joined)
        out << "            never joined: node " << n.node << ", started at " << fixed(core::to_seconds(n.started.since_origin), 3)
            << " s, " << n.retries << " bootstrap retries\n";
    if (r.left + r.joined_late + r.crashes > 0)
        out << "  churn:    " << r.left << " left, " << r.joined_late << " joined late, " << r.crashes << " crashed, "
            << r.restarts << " restarted\n";
    out << "  lookups:  " << s.count << " issued, " << s.finished << " finished, " << s.abandoned << " abandoned, "
        << s.succeeded << " correct: success " << fixed(100.0 * s.success_rate, 2) << "%\n";
    out << "            hops p50 " << fixed(s.hops_p50, 0) << " p99 " << fixed(s.hops_p99, 0) << ", latency p50 "
        << fixed(s.latency_ms_p50, 1) << " ms p99 " << fixed(s.latency_ms_p99, 1) << " ms, queried p50 "
        << fixed(s.queried_p50, 0) << "; " << s.internal << " internal lookups\n";
    write_failed_lookups(out, r.lookups, "lookup");
    if (r.values.puts > 0) {
        auto const& v = r.values;
        auto const& g = v.gets;
        out << "  values:   " << v.puts << " puts, " << v.puts_finished << " finished, " << v.puts_abandoned
            << " abandoned; stores accepted p50 " << fixed(v.puts_accepted_p50, 0) << " (min "
            << fixed(v.puts_accepted_min, 0) << "); put latency p50 " << fixed(v.put_latency_ms_p50, 1) << " ms p99 "
            << fixed(v.put_latency_ms_p99, 1) << " ms\n";
        out << "            " << g.count << " gets (" << g.skipped << " skipped: put abandoned), " << g.finished
            << " finished, " << g.abandoned << " abandoned, " << g.excused << " excused, " << g.succeeded
            << " found the value: success " << fixed(100.0 * g.success_rate, 2) << "%\n";
        out << "            get hops p50 " << fixed(g.hops_p50, 0) << ", latency p50 " << fixed(g.latency_ms_p50, 1)
            << " ms p99 " << fixed(g.latency_ms_p99, 1) << " ms; " << g.putter_gone_succeeded << " of " << g.putter_gone
            << " gets whose putter was gone found the value\n";
        write_failed_gets(out, r.gets);
    }
    if (r.liveness.ran) {
        auto const& l = r.liveness;
        out << "  liveness: healed at " << fixed(l.started_s, 1) << " s, settled "
            << fixed(core::to_seconds(o.liveness_settle), 1) << " s; " << l.lookups.succeeded << " of "
            << l.lookups.count << " lookups and " << l.gets.succeeded << " of " << l.gets.count << " gets succeeded: "
            << (l.passed ? "passed" : "FAILED") << "\n";
        out << "            lookup latency p50 " << fixed(l.lookups.latency_ms_p50, 1) << " ms p99 "
            << fixed(l.lookups.latency_ms_p99, 1) << " ms";
        if (l.gets.count > 0)
            out << ", get latency p50 " << fixed(l.gets.latency_ms_p50, 1) << " ms p99 " << fixed(l.gets.latency_ms_p99, 1)
                << " ms";
        out << "\n";
        write_failed_lookups(out, r.liveness_lookups, "liveness lookup");
        write_failed_gets(out, r.liveness_gets);
    }
    if (r.pubsub.ran) {
        auto const& p = r.pubsub;
        out << "  pubsub:   " << p.subscribers << " subscribers (" << p.subscribers_whole_run << " up all run, "
            << p.subscribers_offline << " offline for a window), "
            << p.published << " published (" << p.abandoned << " abandoned), " << p.delivered << " of "
            << p.expected_deliveries << " expected deliveries: " << fixed(100.0 * p.delivery_ratio, 3) << "%\n";
        out << "            latency p50 " << fixed(p.latency_ms_p50, 1) << " ms p90 " << fixed(p.latency_ms_p90, 1)
            << " ms p99 " << fixed(p.latency_ms_p99, 1) << " ms max " << fixed(p.latency_ms_max, 1) << " ms; "
            << fixed(p.duplicates_per_delivery, 2) << " duplicates and " << fixed(p.bytes_per_delivery, 0)
            << " link bytes per delivery\n";
        out << "            warm publishers (" << p.warm_deliveries << " deliveries) p50 " << fixed(p.warm_latency_ms_p50, 1)
            << " ms p99 " << fixed(p.warm_latency_ms_p99, 1) << " ms; cold (topic lookup and dial first) p50 "
            << fixed(p.cold_latency_ms_p50, 1) << " ms p99 " << fixed(p.cold_latency_ms_p99, 1) << " ms\n";
        if (p.cold_published > 0) {
            // Cumulative since the publish call, then the step from the milestone before.
            out << "            cold publishes (" << p.cold_published << "), ms since publish p50/p99 [step p50/p99]:";
            for (std::size_t s = 0; s < p.cold_steps.size(); ++s) {
                auto const& c = p.cold_steps[s];
                out << (s == 0 ? " " : ", ") << to_string(static_cast<ColdStep>(s)) << " " << fixed(c.ms_p50, 0) << "/"
                    << fixed(c.ms_p99, 0) << " [" << fixed(c.step_ms_p50, 0) << "/" << fixed(c.step_ms_p99, 0) << "]";
                if (c.count != p.cold_published) out << " (" << c.count << ")";
            }
            out << "\n";
        }
        out << "            warm, by arrival:";
        for (std::size_t a = 0; a < p.warm_by_arrival.size(); ++a) {
            auto const& split = p.warm_by_arrival[a];
            if (split.deliveries == 0) continue;
            out << " " << pubsub::to_string(static_cast<pubsub::Arrival>(a)) << " " << split.deliveries << " (p50 "
                << fixed(split.latency_ms_p50, 1) << " p99 " << fixed(split.latency_ms_p99, 1) << " ms)";
        }
        out << "\n";
        for (auto const* shape : {&p.mesh_at_first_publish, &p.mesh_at_end}) {
            if (!shape->taken) continue;
            out << "            mesh of topic 0 " << (shape == &p.mesh_at_end ? "at the end" : "at the first publish") << ": "
                << shape->subscribers << " subscribers, mesh peers min " << shape->degree_min << " p50 "
                << shape->degree_p50 << " max " << shape->degree_max << ", " << shape->below_d_lo << " below D_lo, "
                << shape->components << " components (largest " << shape->largest_component << "), "
                << shape->one_sided_edges << " one-sided edges\n";
        }
        for (auto const& m : p.missed_examples) out << "            missed: " << m << "\n";
        write_catchup_summary(out, r);
    }
    out << "  network:  " << r.network.sent << " sent, " << r.delivered << " delivered, " << r.network.lost << " lost, "
        << r.network.duplicated << " duplicated, " << r.network.cut << " cut by partitions, " << r.to_down
        << " to down nodes, " << r.network.oversize << " over MTU, " << r.network.unroutable << " unroutable\n";
    out << "  dht:      " << r.dht.packets_out << " packets out, " << r.dht.dropped_total() << " dropped";
    for (std::size_t i = 0; i < r.dht.dropped.size(); ++i) {
        if (r.dht.dropped[i] == 0) continue;
        out << " " << dht::to_string(static_cast<dht::DropReason>(i)) << "=" << r.dht.dropped[i];
    }
    out << ", " << r.dht.evictions << " evictions\n";
    if (r.passed()) {
        out << "  checks:   passed\n";
    } else {
        for (auto const& f : r.failures) out << "  FAILED:   " << f << "\n";
    }
}

void write_json(std::ostream& out, ScenarioResult const& r, std::string const& command_line) {
    auto const& o = r.options;
    auto const& s = r.summary;
    auto const& n = r.network;
    out << "{\n";
    out << "  \"nodes\": " << o.nodes << ",\n";
    out << "  \"seed\": " << o.seed << ",\n";
    out << "  \"crypto\": " << json_string(crypto_name(o.crypto)) << ",\n";
    out << "  \"latency\": " << json_string(o.network.latency.describe()) << ",\n";
    out << "  \"loss\": " << o.network.loss << ",\n";
    out << "  \"duplicate\": " << o.network.duplicate << ",\n";
    out << "  \"churn\": " << o.churn << ",\n";
    out << "  \"reorder_ms\": " << fixed(static_cast<double>(o.network.reorder_window.count()) / 1000.0, 3) << ",\n";
    out << "  \"crashes\": " << o.crashes << ",\n";
    out << "  \"partitions\": " << o.partitions.size() << ",\n";
    out << "  \"dht_alpha\": " << o.dht.alpha << ",\n";
    out << "  \"dht_rpc_timeout_ms\": " << o.dht.rpc_timeout.count() / 1000 << ",\n";
    out << "  \"dht_rpc_retries\": " << o.dht.rpc_retries << ",\n";
    out << "  \"virtual_seconds\": " << fixed(r.virtual_seconds, 3) << ",\n";
    out << "  \"wall_seconds\": " << fixed(r.wall_seconds, 3) << ",\n";
    out << "  \"events\": " << r.events << ",\n";
    out << "  \"events_per_second\": " << fixed(r.wall_seconds > 0 ? static_cast<double>(r.events) / r.wall_seconds : 0, 0)
        << ",\n";
    out << "  \"trace_hash\": " << json_string(hex64(r.trace_hash)) << ",\n";
    out << "  \"peak_rss_mb\": " << fixed(r.peak_rss_mb, 1) << ",\n";
    out << "  \"memory_per_node_kb\": " << fixed(r.memory_per_node_kb, 2) << ",\n";
    out << "  \"queue_peak\": " << r.queue_peak << ",\n";
    out << "  \"lookups\": {\"count\": " << s.count << ", \"finished\": " << s.finished << ", \"abandoned\": " << s.abandoned
        << ", \"succeeded\": " << s.succeeded << ", \"success_rate\": " << fixed(s.success_rate, 6)
        << ", \"hops_p50\": " << fixed(s.hops_p50, 1) << ", \"hops_p99\": " << fixed(s.hops_p99, 1)
        << ", \"latency_ms_p50\": " << fixed(s.latency_ms_p50, 3) << ", \"latency_ms_p99\": " << fixed(s.latency_ms_p99, 3)
        << ", \"queried_p50\": " << fixed(s.queried_p50, 1) << ", \"internal\": " << s.internal << "},\n";
    auto const& v = r.values;
    out << "  \"values\": {\"puts\": " << v.puts << ", \"puts_finished\": " << v.puts_finished
        << ", \"puts_abandoned\": " << v.puts_abandoned << ", \"puts_accepted_p50\": " << fixed(v.puts_accepted_p50, 1)
        << ", \"puts_accepted_min\": " << fixed(v.puts_accepted_min, 0) << ", \"put_latency_ms_p50\": "
        << fixed(v.put_latency_ms_p50, 3) << ", \"put_latency_ms_p99\": " << fixed(v.put_latency_ms_p99, 3)
        << ", \"gets\": " << v.gets.count << ", \"gets_skipped\": " << v.gets.skipped << ", \"gets_finished\": "
        << v.gets.finished << ", \"gets_abandoned\": " << v.gets.abandoned << ", \"gets_excused\": " << v.gets.excused
        << ", \"gets_succeeded\": " << v.gets.succeeded << ", \"gets_putter_gone\": " << v.gets.putter_gone
        << ", \"gets_putter_gone_succeeded\": " << v.gets.putter_gone_succeeded
        << ", \"get_success_rate\": " << fixed(v.gets.success_rate, 6)
        << ", \"get_hops_p50\": " << fixed(v.gets.hops_p50, 1) << ", \"get_latency_ms_p50\": "
        << fixed(v.gets.latency_ms_p50, 3) << ", \"get_latency_ms_p99\": " << fixed(v.gets.latency_ms_p99, 3) << "},\n";
    auto const& l = r.liveness;
    out << "  \"liveness\": {\"ran\": " << (l.ran ? "true" : "false") << ", \"started_s\": " << fixed(l.started_s, 3)
        << ", \"settle_s\": " << fixed(core::to_seconds(o.liveness_settle), 3) << ", \"lookups\": " << l.lookups.count
        << ", \"lookups_succeeded\": " << l.lookups.succeeded << ", \"lookup_success_rate\": "
        << fixed(l.lookups.success_rate, 6) << ", \"lookup_hops_p50\": " << fixed(l.lookups.hops_p50, 1)
        << ", \"lookup_latency_ms_p50\": " << fixed(l.lookups.latency_ms_p50, 3) << ", \"lookup_latency_ms_p99\": "
        << fixed(l.lookups.latency_ms_p99, 3) << ", \"gets\": " << l.gets.count << ", \"gets_succeeded\": "
        << l.gets.succeeded << ", \"get_success_rate\": " << fixed(l.gets.success_rate, 6)
        << ", \"get_latency_ms_p50\": " << fixed(l.gets.latency_ms_p50, 3) << ", \"get_latency_ms_p99\": "
        << fixed(l.gets.latency_ms_p99, 3) << ", \"passed\": " << (l.passed ? "true" : "false") << "},\n";
    out << "  \"membership\": {\"created\": " << r.nodes_created << ", \"up_end\": " << r.nodes_up_end
        << ", \"joined_end\": " << r.nodes_joined_end << ", \"join_failures\": " << r.join_failures
        << ", \"bootstrap_retries\": " << r.bootstrap_retries << ", \"left\": " << r.left
        << ", \"joined_late\": " << r.joined_late << ", \"crashes\": " << r.crashes << ", \"restarts\": " << r.restarts
        << ", \"join_ms_p50\": " << fixed(r.join_ms_p50, 3) << ", \"join_ms_p99\": " << fixed(r.join_ms_p99, 3) << "},\n";
    out << "  \"tables\": {\"join_window_s\": "
        << (o.join_window ? fixed(core::to_seconds(*o.join_window), 3) : std::string("null"))
        << ", \"peers_min\": " << fixed(r.table_min, 0) << ", \"peers_p1\": " << fixed(r.table_p1, 0)
        << ", \"peers_p50\": " << fixed(r.table_p50, 0) << ", \"peers_max\": " << fixed(r.table_max, 0)
        << ", \"sent_packets_per_node\": " << fixed(r.join_packets_per_node, 1)
        << ", \"sent_bytes_per_node\": " << fixed(r.join_bytes_per_node, 1);
    if (auto const& c = r.table_comparison)
        out << ", \"vs_sequential\": {\"nodes\": " << c->nodes << ", \"ratio_min\": " << fixed(c->ratio_min, 4)
            << ", \"ratio_p1\": " << fixed(c->ratio_p1, 4) << ", \"ratio_p50\": " << fixed(c->ratio_p50, 4)
            << ", \"ratio_max\": " << fixed(c->ratio_max, 4) << ", \"outside_2x\": " << c->outside_2x
            << ", \"sequential_peers_p50\": " << fixed(c->sequential_p50, 0) << ", \"sequential_packets_per_node\": "
            << fixed(c->sequential_packets_per_node, 1) << ", \"sequential_bytes_per_node\": "
            << fixed(c->sequential_bytes_per_node, 1) << "}";
    out << "},\n";
    out << "  \"network\": {\"sent\": " << n.sent << ", \"delivered\": " << r.delivered << ", \"lost\": " << n.lost
        << ", \"duplicated\": " << n.duplicated << ", \"cut\": " << n.cut << ", \"to_down\": " << r.to_down
        << ", \"oversize\": " << n.oversize << ", \"unroutable\": " << n.unroutable << ", \"links_opened\": "
        << r.links_opened << "},\n";
    out << "  \"dht\": {\"packets_out\": " << r.dht.packets_out << ", \"packets_in\": " << r.dht.packets_in
        << ", \"bytes_out\": " << r.dht.bytes_out << ", \"lookups_started\": " << r.dht.lookups_started
        << ", \"lookups_done\": " << r.dht.lookups_done << ", \"provider_probes\": " << r.dht.provider_probes
        << ", \"evictions\": " << r.dht.evictions
        << ", \"store_errors\": " << r.dht.store_errors << ", \"dropped\": {";
    for (std::size_t i = 0; i < r.dht.dropped.size(); ++i) {
        out << (i ? ", " : "") << json_string(dht::to_string(static_cast<dht::DropReason>(i))) << ": " << r.dht.dropped[i];
    }
    out << "}},\n";
    out << "  \"violations\": [";
    for (std::size_t i = 0; i < r.violations.size(); ++i) {
        auto const& v = r.violations[i];
        out << (i ? ", " : "") << "{\"at_s\": " << fixed(core::to_seconds(v.at.since_origin), 6) << ", \"node\": " << v.node
            << ", \"what\": " << json_string(v.what) << "}";
    }
    out << "],\n";
    if (r.pubsub.ran) {
        auto const& p = r.pubsub;
        out << "  \"pubsub\": {\"subscribers\": " << p.subscribers << ", \"subscribers_whole_run\": " << p.subscribers_whole_run
            << ", \"topics\": " << o.pubsub.topics << ", \"msg_size\": " << o.pubsub.msg_size
            << ", \"choke_keep\": " << o.pubsub.choke_keep
            << ", \"published\": " << p.published << ", \"abandoned\": " << p.abandoned
            << ", \"publish_failed\": " << p.publish_failed << ", \"expected_deliveries\": " << p.expected_deliveries
            << ", \"delivered\": " << p.delivered << ", \"delivered_total\": " << p.delivered_total
            << ", \"delivery_ratio\": " << fixed(p.delivery_ratio, 6) << ", \"latency_ms_p50\": " << fixed(p.latency_ms_p50, 3)
            << ", \"latency_ms_p90\": " << fixed(p.latency_ms_p90, 3) << ", \"latency_ms_p99\": " << fixed(p.latency_ms_p99, 3)
            << ", \"latency_ms_max\": " << fixed(p.latency_ms_max, 3) << ", \"warm_deliveries\": " << p.warm_deliveries
            << ", \"warm_latency_ms_p50\": " << fixed(p.warm_latency_ms_p50, 3)
            << ", \"warm_latency_ms_p99\": " << fixed(p.warm_latency_ms_p99, 3)
            << ", \"cold_latency_ms_p50\": " << fixed(p.cold_latency_ms_p50, 3)
            << ", \"cold_latency_ms_p99\": " << fixed(p.cold_latency_ms_p99, 3) << ", \"cold_published\": " << p.cold_published
            << ", \"cold_steps\": {";
        for (std::size_t s = 0; s < p.cold_steps.size(); ++s) {
            auto const& c = p.cold_steps[s];
            out << (s == 0 ? "" : ", ") << "\"" << to_string(static_cast<ColdStep>(s)) << "\": {\"count\": " << c.count
                << ", \"ms_p50\": " << fixed(c.ms_p50, 3) << ", \"ms_p99\": " << fixed(c.ms_p99, 3)
                << ", \"step_ms_p50\": " << fixed(c.step_ms_p50, 3) << ", \"step_ms_p99\": " << fixed(c.step_ms_p99, 3) << "}";
        }
        out << "}, \"warm_by_arrival\": {";
        for (std::size_t a = 0; a < p.warm_by_arrival.size(); ++a) {
            auto const& split = p.warm_by_arrival[a];
            out << (a == 0 ? "" : ", ") << "\"" << pubsub::to_string(static_cast<pubsub::Arrival>(a))
                << "\": {\"deliveries\": " << split.deliveries << ", \"latency_ms_p50\": " << fixed(split.latency_ms_p50, 3)
                << ", \"latency_ms_p99\": " << fixed(split.latency_ms_p99, 3) << "}";
        }
        out << "}"
            << ", \"duplicates_per_delivery\": " << fixed(p.duplicates_per_delivery, 4)
            << ", \"bytes_per_delivery\": " << fixed(p.bytes_per_delivery, 1) << ", \"link_bytes\": " << p.link_bytes
            << ", \"double_deliveries\": " << p.double_deliveries << ", \"unknown_deliveries\": " << p.unknown_deliveries
            << ", \"subscribers_offline\": " << p.subscribers_offline << "},\n";
        write_catchup_json(out, r);
    }
    out << "  \"passed\": " << (r.passed() ? "true" : "false") << ",\n";
    out << "  \"failures\": [";
    for (std::size_t i = 0; i < r.failures.size(); ++i) out << (i ? ", " : "") << json_string(r.failures[i]);
    out << "],\n";
    out << "  \"command\": " << json_string(command_line) << "\n";
    out << "}\n";
}

void write_csv(std::ostream& out, ScenarioResult const& r) {
    out << "index,origin,issued_ms,done_ms,latency_ms,hops,queried,finished,abandoned,partitioned,success,target,found,"
           "truth_issued,truth_done,found_rank,truth_known_by\n";
    auto id = [](std::optional<core::NodeId> const& v) { return v ? v->hex() : std::string(); };
    for (std::size_t i = 0; i < r.lookups.size(); ++i) {
        auto const& l = r.lookups[i];
        double issued = static_cast<double>(l.issued.since_origin.count()) / 1000.0;
        double done = l.finished ? static_cast<double>(l.done.since_origin.count()) / 1000.0 : 0.0;
        out << i << ',' << l.origin << ',' << fixed(issued, 3) << ',' << (l.finished ? fixed(done, 3) : "") << ','
            << (l.finished ? fixed(done - issued, 3) : "") << ',' << l.hops << ',' << l.queried << ',' << l.finished << ','
            << l.abandoned << ',' << l.partitioned << ',' << l.success << ',' << l.target.hex() << ',' << id(l.found) << ','
            << id(l.truth_issued) << ',' << id(l.truth_done) << ',' << l.found_rank << ',' << l.truth_known_by << '\n';
    }
}

namespace {

// "Nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks over `span`.
double tick_step(double span, int count) {
    if (span <= 0) return 1;
    double raw = span / count;
    double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (raw <= m * p) return m * p;
    return 10 * p;
}

std::string tick_label(double v) {
    std::ostringstream os;
    os << std::setprecision(6) << v;
    return os.str();
}

}  // namespace

void write_cdf_svg(std::ostream& out, std::vector<double> latencies_ms, std::string const& title,
                   std::string const& y_label) {
    std::sort(latencies_ms.begin(), latencies_ms.end());
    constexpr double width = 720, height = 480;
    constexpr double left = 80, right = 30, top = 50, bottom = 70;
    constexpr double plot_w = width - left - right, plot_h = height - top - bottom;
    double const max_v = latencies_ms.empty() ? 1.0 : std::max(latencies_ms.back(), 1e-3);
    double const step = tick_step(max_v, 8);
    double const x_max = std::ceil(max_v / step) * step;
    auto x_of = [&](double v) { return left + v / x_max * plot_w; };
    auto y_of = [&](double p) { return top + (1.0 - p) * plot_h; };

    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
        << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    out << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    out << "<text x=\"" << width / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">" << xml_escape(title)
        << "</text>\n";
    // Grid and ticks.
    for (double v = 0; v <= x_max + step / 2; v += step) {
        double x = x_of(v);
        out << "<line x1=\"" << fixed(x, 1) << "\" y1=\"" << top << "\" x2=\"" << fixed(x, 1) << "\" y2=\"" << top + plot_h
            << "\" stroke=\"#e0e0e0\"/>\n";
        out << "<line x1=\"" << fixed(x, 1) << "\" y1=\"" << top + plot_h << "\" x2=\"" << fixed(x, 1) << "\" y2=\""
            << top + plot_h + 5 << "\" stroke=\"black\"/>\n";
        out << "<text x=\"" << fixed(x, 1) << "\" y=\"" << top + plot_h + 20 << "\" text-anchor=\"middle\">"
            << tick_label(v) << "</text>\n";
    }
    for (int i = 0; i <= 10; ++i) {
        double p = i / 10.0;
        double y = y_of(p);
        out << "<line x1=\"" << left << "\" y1=\"" << fixed(y, 1) << "\" x2=\"" << left + plot_w << "\" y2=\"" << fixed(y, 1)
            << "\" stroke=\"#e0e0e0\"/>\n";
        out << "<line x1=\"" << left - 5 << "\" y1=\"" << fixed(y, 1) << "\" x2=\"" << left << "\" y2=\"" << fixed(y, 1)
            << "\" stroke=\"black\"/>\n";
        out << "<text x=\"" << left - 9 << "\" y=\"" << fixed(y + 4, 1) << "\" text-anchor=\"end\">" << fixed(p, 1)
            << "</text>\n";
    }
    // Axes and labels.
    out << "<line x1=\"" << left << "\" y1=\"" << top + plot_h << "\" x2=\"" << left + plot_w << "\" y2=\"" << top + plot_h
        << "\" stroke=\"black\"/>\n";
    out << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << top + plot_h
        << "\" stroke=\"black\"/>\n";
    out << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << height - 20
        << "\" text-anchor=\"middle\">lookup latency (ms)</text>\n";
    out << "<text x=\"20\" y=\"" << top + plot_h / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 20 "
        << top + plot_h / 2 << ")\">" << y_label << "</text>\n";
    // The step curve: at most ~2000 points, so a 100,000-lookup run stays a small file.
    if (!latencies_ms.empty()) {
        std::size_t const n = latencies_ms.size();
        std::size_t const stride = std::max<std::size_t>(1, n / 2000);
        out << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"" << fixed(x_of(0), 1) << ','
            << fixed(y_of(0), 1);
        double prev_p = 0;
        for (std::size_t i = 0; i < n; i += stride) {
            std::size_t j = std::min(n - 1, i + stride - 1);
            double x = x_of(latencies_ms[j]);
            double p = static_cast<double>(j + 1) / static_cast<double>(n);
            out << ' ' << fixed(x, 1) << ',' << fixed(y_of(prev_p), 1) << ' ' << fixed(x, 1) << ',' << fixed(y_of(p), 1);
            prev_p = p;
        }
        out << "\"/>\n";
        out << "<text x=\"" << left + plot_w - 5 << "\" y=\"" << top + plot_h - 10 << "\" text-anchor=\"end\" fill=\"#555\">n = "
            << n << ", median " << fixed(latencies_ms[(n - 1) / 2], 1) << " ms</text>\n";
    } else {
        out << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << top + plot_h / 2
            << "\" text-anchor=\"middle\">no finished lookups</text>\n";
    }
    out << "</svg>\n";
}

std::string quote_command_line(std::vector<std::string> const& args) {
    std::string out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (i) out += ' ';
        auto const& a = args[i];
        bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_./:=,+@%").find(c) != std::string_view::npos;
        });
        if (plain) {
            out += a;
            continue;
        }
        out += '\'';
        for (char c : a) {
            if (c == '\'') out += "'\\''";
            else out += c;
        }
        out += '\'';
    }
    return out;
}

}  // namespace sim
