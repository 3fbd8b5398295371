// Report writers for a kadmium-sim run: a human summary, one JSON object, per-lookup CSV
// rows, and an SVG plot of the lookup latency CDF. They only format a ScenarioResult;
// they run nothing and read no clock. Invariant: the same result gives the same bytes
// (apart from the wall-clock figures the result itself carries).
#pragma once

#include "sim/scenario.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace sim {

void write_summary(std::ostream& out, ScenarioResult const& r);
// One JSON object; `command_line` is the reproducing command.
void write_json(std::ostream& out, ScenarioResult const& r, std::string const& command_line);
// Header plus one row per workload lookup.
void write_csv(std::ostream& out, ScenarioResult const& r);
// A standalone SVG (axes, ticks, labels, title) of the CDF of `latencies_ms`.
void write_cdf_svg(std::ostream& out, std::vector<double> latencies_ms, std::string const& title,
                   std::string const& y_label = "fraction of lookups (CDF)");
// Latencies (ms) of the finished workload lookups, in issue order.
std::vector<double> lookup_latencies_ms(ScenarioResult const& r);

// Shell-quotes `args` into one command line that reproduces the run.
std::string quote_command_line(std::vector<std::string> const& args);

}  // namespace sim
