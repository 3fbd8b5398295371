// Regression seeds for randomized faults: each seed in randomized_seeds.txt sets its own
// faults and DHT settings (sim::randomize_faults, as `kadmium-sim --randomize-faults`
// does), runs a small network with puts and gets, heals it, and must pass every check,
// the liveness phase included. Each seed once exposed a DHT bug (named in the file).
#include "sim/scenario.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {
std::vector<std::uint64_t> read_seeds() {
    std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "randomized_seeds.txt");
    std::vector<std::uint64_t> seeds;
    std::string line;
    while (std::getline(in, line)) {
        auto hash = line.find('#');
        std::istringstream fields(line.substr(0, hash));
        std::uint64_t seed;
        if (fields >> seed) seeds.push_back(seed);
    }
    return seeds;
}
}  // namespace

TEST_CASE("randomized faults: regression seeds pass, liveness included", "[sim]") {
    auto seeds = read_seeds();
    REQUIRE(seeds.size() >= 5);
    for (auto seed : seeds) {
        sim::ScenarioOptions o;
        o.seed = seed;
        o.nodes = 200;
        o.lookups = 200;
        o.puts = 100;
        o.gets = 100;
        o.progress = false;
        sim::randomize_faults(o);
        o.liveness = true;
        auto r = sim::run_scenario(o);
        INFO("seed " << seed << ": kadmium-sim --nodes 200 --lookups 200 --puts 100 --randomize-faults --seed " << seed);
        for (auto const& f : r.failures) UNSCOPED_INFO(f);
        CHECK(r.passed());
        CHECK(r.liveness.ran);
    }
}
