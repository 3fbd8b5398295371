// kadmium-sim's command line and report writers, on hand-built inputs (no run).
#include "sim/cli.hpp"
#include "sim/report.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace sim;

namespace {

std::variant<RunConfig, int> parse(std::vector<std::string> args, std::string* err_text = nullptr) {
    args.insert(args.begin(), "kadmium-sim");
    std::ostringstream out, err;
    auto r = parse_command_line(args, out, err);
    if (err_text) *err_text = err.str();
    return r;
}

ScenarioResult sample_result() {
    ScenarioResult r;
    r.options.nodes = 3;
    r.options.seed = 9;
    r.trace_hash = 0xabcdef;
    r.events = 1234;
    r.wall_seconds = 0.5;
    r.virtual_seconds = 61;
    for (int i = 0; i < 4; ++i) {
        LookupRecord l;
        l.origin = static_cast<NodeIndex>(i);
        l.issued = core::Instant{core::Duration{1'000'000}};
        l.done = core::Instant{core::Duration{1'000'000 + (i + 1) * 100'000}};
        l.finished = i < 3;
        l.success = i < 2;
        l.hops = i;
        r.lookups.push_back(l);
    }
    r.summary.count = 4;
    r.summary.success_rate = 0.5;
    r.failures.push_back("lookup success \"low\"");
    r.values.puts = 2;
    r.values.puts_accepted_p50 = 19;
    r.values.gets.count = 1;
    r.values.gets.success_rate = 0;
    r.liveness.ran = true;
    r.liveness.lookups.count = 5;
    r.liveness.lookups.succeeded = 4;
    r.liveness.passed = false;
    return r;
}

}  // namespace

TEST_CASE("cli: flags fill the scenario options", "[sim]") {
    auto r = parse({"--nodes", "500", "--seed", "42", "--lookups", "77", "--churn", "0.2", "--loss", "0.1", "--latency",
                    "regions:3", "--duplicate", "0.01", "--reorder-ms", "15", "--partition", "10:20", "--partition",
                    "5:1:0.25:oneway", "--crypto", "real", "--minutes", "2.5", "--min-success", "0.99", "--json", "a.json",
                    "--csv", "a.csv", "--plot", "a.svg", "--quiet", "--crashes", "4", "--downtime-s", "12"});
    REQUIRE(std::holds_alternative<RunConfig>(r));
    auto const& c = std::get<RunConfig>(r);
    auto const& s = c.scenario;
    CHECK(s.nodes == 500);
    CHECK(s.seed == 42);
    CHECK(s.lookups == 77);
    CHECK(s.churn == 0.2);
    CHECK(s.network.loss == 0.1);
    CHECK(s.network.duplicate == 0.01);
    CHECK(s.network.reorder_window == core::Duration{15'000});
    CHECK(s.network.latency.kind() == LatencyModel::Kind::regions);
    REQUIRE(s.partitions.size() == 2);
    CHECK(s.partitions[1].fraction == 0.25);
    CHECK(s.partitions[1].one_way);
    CHECK(s.crypto == CryptoMode::real);
    CHECK(s.dht.key_cache_max == dht::Config{}.key_cache_max);  // real crypto keeps the production cache
    CHECK(s.workload == core::Duration{150'000'000});
    CHECK(s.min_success == 0.99);
    CHECK(s.crashes == 4);
    CHECK(s.downtime == core::Duration{12'000'000});
    CHECK(c.json_path == "a.json");
    CHECK(c.csv_path == "a.csv");
    CHECK(c.plot_path == "a.svg");
    CHECK(c.quiet);
    CHECK_FALSE(s.progress);
}

TEST_CASE("cli: defaults and the key cache", "[sim]") {
    auto r = parse({});
    REQUIRE(std::holds_alternative<RunConfig>(r));
    auto const& s = std::get<RunConfig>(r).scenario;
    CHECK(s.nodes == 1000);
    CHECK(s.crypto == CryptoMode::standin);
    CHECK(s.dht.key_cache_max == 256);
    CHECK_FALSE(s.min_success);
    CHECK(s.progress);
    auto big = parse({"--key-cache", "1000", "--randomize-faults", "--seed", "5"});
    REQUIRE(std::holds_alternative<RunConfig>(big));
    CHECK(std::get<RunConfig>(big).scenario.dht.key_cache_max == 1000);
}

TEST_CASE("cli: values and the liveness phase", "[sim]") {
    auto get = [](std::vector<std::string> args) {
        auto r = parse(std::move(args));
        REQUIRE(std::holds_alternative<RunConfig>(r));
        return std::get<RunConfig>(r).scenario;
    };
    auto plain = get({});
    CHECK(plain.puts == 0);
    CHECK_FALSE(plain.gets);
    CHECK_FALSE(plain.liveness);  // no faults: no liveness phase unless asked
    auto values = get({"--puts", "50"});
    CHECK(values.puts == 50);
    CHECK_FALSE(values.gets);  // as many gets as puts
    CHECK(get({"--puts", "50", "--gets", "70"}).gets == std::optional<std::size_t>{70});
    // Faults turn the liveness phase on; --no-liveness turns it off again.
    CHECK(get({"--loss", "0.1"}).liveness);
    CHECK(get({"--churn", "0.1"}).liveness);
    CHECK(get({"--partition", "1:2"}).liveness);
    CHECK(get({"--crashes", "2"}).liveness);
    CHECK_FALSE(get({"--loss", "0.1", "--no-liveness"}).liveness);
    auto asked = get({"--liveness", "--liveness-settle-s", "5", "--liveness-lookups", "7"});
    CHECK(asked.liveness);
    CHECK(asked.liveness_settle == core::Duration{5'000'000});
    CHECK(asked.liveness_lookups_max == 7);

    std::string err;
    auto gets_alone = parse({"--gets", "5"}, &err);
    REQUIRE(std::holds_alternative<int>(gets_alone));
    CHECK(std::get<int>(gets_alone) == 2);
    CHECK(err.find("--gets needs --puts") != std::string::npos);
    auto both = parse({"--liveness", "--no-liveness"});
    REQUIRE(std::holds_alternative<int>(both));
    CHECK(std::get<int>(both) == 2);
}

TEST_CASE("cli: bad arguments exit 2 with a message, --help exits 0", "[sim]") {
    std::string err;
    for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
             {"--nodes", "0"},
             {"--nodes", "many"},
             {"--loss", "1.5"},
             {"--latency", "lognormal"},
             {"--crypto", "rot13"},
             {"--partition", "10"},
             {"--partition", "10:0"},
             {"--partition", "1:2:1.5"},
             {"--unknown-flag"},
             {"--latency-matrix", "/nonexistent"},
         }) {
        auto r = parse(bad, &err);
        REQUIRE(std::holds_alternative<int>(r));
        CHECK(std::get<int>(r) == 2);
        CHECK(err.find("kadmium-sim:") != std::string::npos);
    }
    auto help = parse({"--help"});
    REQUIRE(std::holds_alternative<int>(help));
    CHECK(std::get<int>(help) == 0);
}

TEST_CASE("cli: partition syntax", "[sim]") {
    auto p = parse_partition("30:60");
    REQUIRE(p);
    CHECK(p->at == core::Duration{30'000'000});
    CHECK(p->duration == core::Duration{60'000'000});
    CHECK(p->fraction == 0.5);
    CHECK_FALSE(p->one_way);
    CHECK(parse_partition("0.5:1:0.1:both"));
    CHECK_FALSE(parse_partition("1:2:0.5:sideways"));
    CHECK_FALSE(parse_partition("-1:2"));
    CHECK_FALSE(parse_partition("1:2:3:4:5"));
}

TEST_CASE("report: percentile is nearest-rank", "[sim]") {
    std::vector<double> v{5, 1, 4, 2, 3};
    CHECK(percentile(v, 50) == 3);
    CHECK(percentile(v, 99) == 5);
    CHECK(percentile(v, 0) == 1);
    std::vector<double> empty;
    CHECK(percentile(empty, 50) == 0);
}

TEST_CASE("report: JSON carries the required fields", "[sim]") {
    std::ostringstream out;
    write_json(out, sample_result(), "kadmium-sim --seed 9");
    auto json = out.str();
    for (auto key : {"\"nodes\": 3", "\"seed\": 9", "\"virtual_seconds\"", "\"wall_seconds\"", "\"events\": 1234",
                     "\"trace_hash\": \"0000000000abcdef\"", "\"peak_rss_mb\"", "\"lookups\": {\"count\": 4",
                     "\"success_rate\": 0.500000", "\"hops_p50\"", "\"hops_p99\"", "\"latency_ms_p50\"", "\"latency_ms_p99\"",
                     "\"passed\": false", "lookup success \\\"low\\\"", "\"command\": \"kadmium-sim --seed 9\"",
                     "\"values\": {\"puts\": 2", "\"puts_accepted_p50\": 19.0", "\"gets\": 1", "\"get_success_rate\": 0.000000",
                     "\"get_latency_ms_p50\"", "\"get_latency_ms_p99\"", "\"liveness\": {\"ran\": true",
                     "\"lookups_succeeded\": 4", "\"passed\": false}"}) {
        INFO(key);
        CHECK(json.find(key) != std::string::npos);
    }
    CHECK(json.front() == '{');
    CHECK(json.substr(json.size() - 2) == "}\n");
}

TEST_CASE("report: the summary shows values and the liveness verdict", "[sim]") {
    std::ostringstream out;
    write_summary(out, sample_result());
    auto text = out.str();
    CHECK(text.find("values:   2 puts") != std::string::npos);
    CHECK(text.find("liveness: ") != std::string::npos);
    CHECK(text.find("4 of 5 lookups") != std::string::npos);
    CHECK(text.find("FAILED") != std::string::npos);
    std::ostringstream plain;
    ScenarioResult nothing;
    write_summary(plain, nothing);
    CHECK(plain.str().find("values:") == std::string::npos);
    CHECK(plain.str().find("liveness:") == std::string::npos);
}

TEST_CASE("report: CSV has one row per lookup", "[sim]") {
    std::ostringstream out;
    write_csv(out, sample_result());
    auto csv = out.str();
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
    CHECK(csv.rfind("index,origin,issued_ms", 0) == 0);
    CHECK(csv.find("\n0,0,1000.000,1100.000,100.000,0,") != std::string::npos);
}

TEST_CASE("report: the SVG plot has axes, ticks, labels and a curve", "[sim]") {
    auto r = sample_result();
    auto latencies = lookup_latencies_ms(r);
    CHECK(latencies == std::vector<double>{100, 200, 300});
    std::ostringstream out;
    write_cdf_svg(out, latencies, "title <&>");
    auto svg = out.str();
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("title &lt;&amp;&gt;") != std::string::npos);
    CHECK(svg.find("lookup latency (ms)") != std::string::npos);
    CHECK(svg.find("fraction of lookups") != std::string::npos);
    CHECK(svg.find("<polyline") != std::string::npos);
    CHECK(svg.find(">300<") != std::string::npos);  // an x tick at the maximum
    std::ostringstream empty;
    write_cdf_svg(empty, {}, "none");
    CHECK(empty.str().find("no finished lookups") != std::string::npos);
}

TEST_CASE("report: command lines are shell-quoted", "[sim]") {
    CHECK(quote_command_line({"kadmium-sim", "--seed", "4", "--json", "out dir/a.json", "--latency", "regions:5"}) ==
          "kadmium-sim --seed 4 --json 'out dir/a.json' --latency regions:5");
    CHECK(quote_command_line({"it's"}) == "'it'\\''s'");
}
