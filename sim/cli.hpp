// The kadmium-sim command line: parses arguments into a RunConfig. It runs nothing. Bad
// arguments give a message on `err` and exit code 2; --help prints the usage and gives 0.
#pragma once

#include "sim/scenario.hpp"

#include <ostream>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sim {

struct RunConfig {
    ScenarioOptions scenario;
    std::string json_path;
    std::string csv_path;
    std::string plot_path;
    bool quiet = false;
};

// A RunConfig, or the exit code to return right away (0 after --help, 2 on bad input).
std::variant<RunConfig, int> parse_command_line(std::vector<std::string> const& args, std::ostream& out,
                                                std::ostream& err);

// Parses "AT_S:DURATION_S[:FRACTION[:oneway]]"; nullopt when malformed or out of range.
std::optional<PartitionSpec> parse_partition(std::string const& text);

// Parses "START:LENGTH" (fractions of the publishing period, START >= 0, LENGTH > 0,
// START + LENGTH <= 1); nullopt when malformed or out of range.
std::optional<std::pair<double, double>> parse_offline_window(std::string const& text);

}  // namespace sim
