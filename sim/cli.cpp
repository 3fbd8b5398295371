// kadmium-sim argument parsing with CLI11; see cli.hpp and docs/simulator.md.
#include "sim/cli.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>

namespace sim {

namespace {

std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

core::Duration seconds(double s) { return core::Duration{static_cast<std::int64_t>(std::llround(s * 1e6))}; }

// A bound on the virtual durations a flag may ask for: a week is far beyond any useful run
// and keeps every Instant computation far from overflow.
constexpr double seconds_max = 7 * 24 * 3600.0;

}  // namespace

std::optional<PartitionSpec> parse_partition(std::string const& text) {
    std::vector<std::string_view> parts;
    std::string_view rest = text;
    for (;;) {
        auto pos = rest.find(':');
        parts.push_back(rest.substr(0, pos));
        if (pos == std::string_view::npos) break;
        rest.remove_prefix(pos + 1);
    }
    if (parts.size() < 2 || parts.size() > 4) return std::nullopt;
    auto at = parse_double(parts[0]);
    auto dur = parse_double(parts[1]);
    if (!at || !dur || *at < 0 || *dur <= 0 || *at > seconds_max || *dur > seconds_max) return std::nullopt;
    PartitionSpec p;
    p.at = seconds(*at);
    p.duration = seconds(*dur);
    if (parts.size() >= 3) {
        auto f = parse_double(parts[2]);
        if (!f || *f <= 0 || *f >= 1) return std::nullopt;
        p.fraction = *f;
    }
    if (parts.size() == 4) {
        if (parts[3] == "oneway") p.one_way = true;
        else if (parts[3] != "both") return std::nullopt;
    }
    return p;
}

std::optional<std::pair<double, double>> parse_offline_window(std::string const& text) {
    auto colon = text.find(':');
    if (colon == std::string::npos) return std::nullopt;
    auto start = parse_double(std::string_view(text).substr(0, colon));
    auto length = parse_double(std::string_view(text).substr(colon + 1));
    if (!start || !length || *start < 0 || *length <= 0 || *start + *length > 1.0) return std::nullopt;
    return std::pair{*start, *length};
}

std::variant<RunConfig, int> parse_command_line(std::vector<std::string> const& args, std::ostream& out,
                                                std::ostream& err) {
    RunConfig cfg;
    auto& s = cfg.scenario;
    CLI::App app{
        "kadmium-sim: a deterministic network simulator running the real kadmium DHT engine.\n"
        "Nodes join, the tables settle, then random lookups (and puts and gets) run while faults\n"
        "are injected; every lookup is checked against the true XOR-closest live node and every get\n"
        "against the value put. With faults on, the network then heals and a last batch must all\n"
        "succeed (the liveness phase). See docs/simulator.md.",
        "kadmium-sim"};
    app.set_help_flag("-h,--help", "Print this help and exit");

    std::string latency = "constant:20", crypto = "standin", matrix;
    std::vector<std::string> partitions;
    double minutes = 1.0, settle_s = 30.0, downtime_s = 30.0, reorder_ms = 0.0, min_success = -1.0;
    double join_window_s = 0.0;
    double liveness_settle_s = core::to_seconds(s.liveness_settle);
    std::size_t gets = 0;
    bool liveness_on = false, liveness_off = false;
    std::size_t mtu = s.network.mtu;
    std::size_t key_cache = 0;

    app.add_option("--nodes", s.nodes, "Nodes in the network at the start")->check(CLI::Range(1, 2'000'000))->capture_default_str();
    app.add_option("--seed", s.seed, "Seed of every random choice in the run")->capture_default_str();
    app.add_option("--lookups", s.lookups, "Lookups (find_node to random targets) in the workload phase")
        ->check(CLI::Range(0, 10'000'000))
        ->capture_default_str();
    app.add_option("--puts", s.puts, "Values put from random nodes in the first half of the workload")
        ->check(CLI::Range(0, 1'000'000))
        ->capture_default_str();
    auto* gets_option =
        app.add_option("--gets", gets,
                       "Gets of the put keys from other random nodes in the second half of the workload (default: --puts)")
            ->check(CLI::Range(0, 10'000'000));
    auto* liveness_option = app.add_flag(
        "--liveness", liveness_on,
        "After the workload, heal the network, settle, and require every lookup and get of a final batch to "
        "succeed (default: on when loss, duplication, churn, crashes or partitions are on)");
    app.add_flag("--no-liveness", liveness_off, "No liveness phase, even with faults on")->excludes(liveness_option);
    app.add_option("--liveness-settle-s", liveness_settle_s, "Virtual seconds the healed network settles before the final batch")
        ->check(CLI::Range(0.0, seconds_max))
        ->capture_default_str();
    app.add_option("--liveness-lookups", s.liveness_lookups_max,
                   "At most this many lookups in the liveness batch (never more than --lookups)")
        ->check(CLI::Range(0, 10'000'000))
        ->capture_default_str();
    auto& ps = s.pubsub;
    double min_delivery = -1.0;
    app.add_option("--subscribers", ps.subscribers, "Nodes subscribed to the topics (pub/sub workload; 0 = none)")
        ->check(CLI::Range(0, 2'000'000))
        ->capture_default_str();
    app.add_option("--messages", ps.messages,
                   "Messages published by random nodes (subscribers or not) during the workload, after the meshes settle")
        ->check(CLI::Range(0, 10'000'000))
        ->capture_default_str();
    app.add_option("--topics", ps.topics, "Topics the subscribers are spread over (round-robin)")
        ->check(CLI::Range(1, 10'000))
        ->capture_default_str();
    app.add_option("--msg-size", ps.msg_size, "Payload bytes of each message")->check(CLI::Range(8, 64 * 1024))->capture_default_str();
    app.add_option("--choke-keep", ps.choke_keep,
                   "Mesh peers each subscriber keeps pushing whole messages to it; the others are choked and "
                   "announce each message in an IHAVE (pubsub::Config::choke_keep; 0 = choking off)")
        ->check(CLI::Range(0, 64))
        ->capture_default_str();
    std::string offline_window = "0.2:0.4";
    double anti_entropy_s = core::to_seconds(ps.anti_entropy_interval), pubsub_drain_s = -1.0;
    app.add_option("--offline", ps.offline,
                   "Fraction of the subscribers that go offline (node stopped, store kept) for a window of the "
                   "publishing period, then come back and must catch up")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    app.add_option("--offline-window", offline_window,
                   "START:LENGTH of the --offline absence, as fractions of the publishing period (first publish to "
                   "the end of the workload)")
        ->capture_default_str();
    app.add_option("--anti-entropy", anti_entropy_s,
                   "Seconds between a router's anti-entropy reconciliations (CatchupConfig::anti_entropy_interval; "
                   "0 = off)")
        ->check(CLI::Range(0.0, seconds_max))
        ->capture_default_str();
    app.add_option("--pubsub-drain-s", pubsub_drain_s,
                   "Virtual seconds the run goes on after the last publish, for catch-up and anti-entropy (default 10, "
                   "plus 2 x --anti-entropy with a --partition)")
        ->check(CLI::Range(0.0, seconds_max));
    app.add_option("--min-delivery", min_delivery, "Fail (exit 1) when the pub/sub delivery ratio is below this (0..1)")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--churn", s.churn, "Fraction of the nodes that leave during the workload; as many new ones join")
        ->check(CLI::Range(0.0, 0.9))
        ->capture_default_str();
    app.add_option("--loss", s.network.loss, "Probability that a datagram is lost")->check(CLI::Range(0.0, 0.9))->capture_default_str();
    app.add_option("--duplicate", s.network.duplicate, "Probability that a datagram arrives twice")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    app.add_option("--reorder-ms", reorder_ms, "Extra per-datagram delay, uniform in [0, MS]: reorders datagrams")
        ->check(CLI::Range(0.0, 60'000.0))
        ->capture_default_str();
    app.add_option("--latency", latency, "Latency model: constant:MS, uniform:LO:HI or regions[:JITTER_MS]")->capture_default_str();
    app.add_option("--latency-matrix", matrix, "Region matrix file for --latency regions (header of names, R rows of ms)");
    app.add_option("--mtu", mtu, "Datagrams above this size are counted as oversize")->check(CLI::Range(576, 65'507))->capture_default_str();
    app.add_option("--partition", partitions,
                   "AT_S:DURATION_S[:FRACTION[:oneway|both]]: cut the network AT_S seconds into the workload, heal "
                   "after DURATION_S; FRACTION of nodes on one side (default 0.5). Repeatable")
        ->take_all();
    app.add_option("--crashes", s.crashes, "Nodes that crash during the workload and restart after --downtime-s")
        ->check(CLI::Range(0, 1'000'000))
        ->capture_default_str();
    app.add_option("--downtime-s", downtime_s, "How long a crashed node stays down")->check(CLI::Range(0.0, seconds_max))->capture_default_str();
    app.add_option("--crypto", crypto, "Packet crypto: standin (cheap, same sizes) or real (libsodium)")
        ->check(CLI::IsMember({"standin", "real"}))
        ->capture_default_str();
    app.add_option("--minutes", minutes, "Length of the workload phase in virtual minutes")
        ->check(CLI::Range(0.0, seconds_max / 60))
        ->capture_default_str();
    app.add_option("--settle-s", settle_s, "Virtual seconds between the last join and the workload")
        ->check(CLI::Range(0.0, seconds_max))
        ->capture_default_str();
    app.add_option("--join-rate", s.join_rate, "Nodes joining per virtual second in the join phase")
        ->check(CLI::Range(0.001, 1e6))
        ->capture_default_str();
    auto* join_window_option =
        app.add_option("--join-window", join_window_s,
                       "Start every node within this many virtual seconds (uniformly at random), each bootstrapping "
                       "from random nodes started before it, joined or not (instead of --join-rate)")
            ->check(CLI::Range(0.001, seconds_max));
    app.add_flag("--compare-sequential", s.compare_sequential,
                 "Also run the same nodes joining one after another at --join-rate (no workload) and fail unless "
                 "every node's routing table at the workload start is within 2x of its size there");
    app.add_option("--bootstrap-peers", s.bootstrap_peers, "A joining node bootstraps from 1..K random joined nodes")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    app.add_option("--key-cache", key_cache,
                   "Shared keys each node caches (default 256 with standin crypto, the production 4096 with real)")
        ->check(CLI::Range(1, 1'000'000));
    app.add_option("--min-success", min_success, "Fail (exit 1) when the lookup or the get success rate is below this (0..1)")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--diagnose", s.diagnose_max, "Diagnose up to N failed lookups (rank of the answer, tables holding the truth)")
        ->check(CLI::Range(0, 100'000))
        ->capture_default_str();
    app.add_option("--max-events", s.events_max, "Stop (and fail) after this many events")->capture_default_str();
    app.add_option("--json", cfg.json_path, "Write the report as one JSON object to FILE");
    app.add_option("--csv", cfg.csv_path, "Write one CSV row per lookup to FILE");
    app.add_option("--plot", cfg.plot_path,
                   "Write the lookup latency CDF as an SVG to FILE (and, with pub/sub, the delivery latency CDF to "
                   "FILE with -delivery before its extension)");
    bool randomize = false;
    app.add_flag("--randomize-faults", randomize,
                 "Let the seed choose loss, duplication, reordering, latency, churn, crashes, partitions and the "
                 "DHT's alpha, rpc_timeout and rpc_retries (overrides those flags)");
    app.add_flag("-q,--quiet", cfg.quiet, "No progress on stderr and no summary on stdout");

    std::vector<char const*> argv;
    argv.reserve(args.size());
    for (auto const& a : args) argv.push_back(a.c_str());
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (CLI::CallForHelp const&) {
        out << app.help();
        return 0;
    } catch (CLI::ParseError const& e) {
        err << "kadmium-sim: " << e.what() << "\nRun with --help for usage.\n";
        return 2;
    }

    auto bad = [&](std::string const& msg) {
        err << "kadmium-sim: " << msg << "\nRun with --help for usage.\n";
        return 2;
    };
    std::string error;
    auto model = LatencyModel::parse(latency, error);
    if (!model) return bad(error);
    s.network.latency = *model;
    if (!matrix.empty()) {
        if (s.network.latency.kind() != LatencyModel::Kind::regions) return bad("--latency-matrix needs --latency regions");
        if (!s.network.latency.load_matrix(matrix, error)) return bad(error);
    }
    for (auto const& p : partitions) {
        auto spec = parse_partition(p);
        if (!spec) return bad("bad --partition '" + p + "': expected AT_S:DURATION_S[:FRACTION[:oneway|both]]");
        s.partitions.push_back(*spec);
    }
    s.network.reorder_window = core::Duration{static_cast<std::int64_t>(std::llround(reorder_ms * 1000.0))};
    s.network.mtu = mtu;
    s.crypto = crypto == "real" ? CryptoMode::real : CryptoMode::standin;
    // A cache miss costs ~64 µs with real crypto and nothing with the stand-in: real runs
    // keep the production cache size unless told otherwise.
    if (key_cache > 0) s.dht.key_cache_max = key_cache;
    else if (s.crypto == CryptoMode::real) s.dht.key_cache_max = dht::Config{}.key_cache_max;
    s.workload = seconds(minutes * 60.0);
    s.settle = seconds(settle_s);
    if (join_window_option->count() > 0) s.join_window = seconds(join_window_s);
    s.downtime = seconds(downtime_s);
    if (min_success >= 0.0) s.min_success = min_success;
    if (min_delivery >= 0.0) s.min_delivery = min_delivery;
    if (ps.messages > 0 && ps.subscribers == 0) return bad("--messages needs --subscribers: someone must receive them");
    auto window = parse_offline_window(offline_window);
    if (!window) return bad("bad --offline-window '" + offline_window + "': expected START:LENGTH, fractions with START + LENGTH <= 1");
    ps.offline_start = window->first;
    ps.offline_length = window->second;
    if (ps.offline > 0 && ps.messages == 0) return bad("--offline needs --subscribers and --messages: it measures missed messages");
    ps.anti_entropy_interval = seconds(anti_entropy_s);
    if (pubsub_drain_s >= 0.0) ps.drain = seconds(pubsub_drain_s);
    if (s.events_max == 0) return bad("--max-events must be positive");
    s.progress = !cfg.quiet;
    if (gets_option->count() > 0) {
        if (s.puts == 0 && gets > 0) return bad("--gets needs --puts: gets read the values the workload put");
        s.gets = gets;
    }
    s.liveness_settle = seconds(liveness_settle_s);
    if (randomize) randomize_faults(s);
    // Faults on: check liveness once they end (STYLE.md section 4), unless told not to.
    bool const faults = s.network.loss > 0 || s.network.duplicate > 0 || s.churn > 0 || s.crashes > 0 ||
                        !s.partitions.empty();
    s.liveness = liveness_on || (faults && !liveness_off);
    return cfg;
}

}  // namespace sim
