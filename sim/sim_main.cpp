// kadmium-sim: runs one simulated network (sim::run_scenario) and writes its reports.
// Exit codes: 0 the checks passed, 1 a check failed (the reproducing command is printed on
// stderr), 2 bad arguments or an output file that cannot be written.
#include "core/crypto.hpp"
#include "sim/cli.hpp"
#include "sim/report.hpp"

#include <fstream>
#include <iostream>

namespace {

bool write_file(std::string const& path, auto&& write) {
    std::ofstream f(path);
    if (!f) {
        std::cerr << "kadmium-sim: cannot write '" << path << "'\n";
        return false;
    }
    write(f);
    f.flush();
    if (!f) {
        std::cerr << "kadmium-sim: error writing '" << path << "'\n";
        return false;
    }
    return true;
}

// Fails before the run, not after an hour of it, when an output path is unusable.
bool check_writable(std::string const& path) {
    if (path.empty()) return true;
    std::ofstream f(path, std::ios::app);
    if (!f) std::cerr << "kadmium-sim: cannot write '" << path << "'\n";
    return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    auto parsed = sim::parse_command_line(args, std::cout, std::cerr);
    if (auto* code = std::get_if<int>(&parsed)) return *code;
    auto const& cfg = std::get<sim::RunConfig>(parsed);
    if (!check_writable(cfg.json_path) || !check_writable(cfg.csv_path) || !check_writable(cfg.plot_path)) return 2;

    core::crypto_init();
    auto const command = sim::quote_command_line(args);
    auto result = sim::run_scenario(cfg.scenario);

    if (!cfg.quiet) sim::write_summary(std::cout, result);
    bool files_ok = true;
    if (!cfg.json_path.empty())
        files_ok &= write_file(cfg.json_path, [&](std::ostream& o) { sim::write_json(o, result, command); });
    if (!cfg.csv_path.empty()) files_ok &= write_file(cfg.csv_path, [&](std::ostream& o) { sim::write_csv(o, result); });
    if (!cfg.plot_path.empty()) {
        auto title = "kadmium-sim lookup latency: " + std::to_string(cfg.scenario.nodes) + " nodes, seed " +
                     std::to_string(cfg.scenario.seed);
        files_ok &= write_file(cfg.plot_path,
                               [&](std::ostream& o) { sim::write_cdf_svg(o, sim::lookup_latencies_ms(result), title); });
        if (result.pubsub.ran) {
            // out/latency.svg -> out/latency-delivery.svg
            auto path = cfg.plot_path;
            auto dot = path.rfind('.');
            auto slash = path.rfind('/');
            if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) dot = path.size();
            path.insert(dot, "-delivery");
            auto t = "kadmium-sim delivery latency: " + std::to_string(result.pubsub.subscribers) + " subscribers, " +
                     std::to_string(cfg.scenario.nodes) + " nodes, seed " + std::to_string(cfg.scenario.seed);
            files_ok &= write_file(path, [&](std::ostream& o) {
                sim::write_cdf_svg(o, result.pubsub.latencies_ms, t, "fraction of deliveries (CDF)");
            });
        }
    }
    if (!result.passed()) {
        for (auto const& f : result.failures) std::cerr << "kadmium-sim: FAILED: " << f << "\n";
        std::cerr << "kadmium-sim: reproduce with: " << command << "\n";
        return 1;
    }
    return files_ok ? 0 : 2;
}
