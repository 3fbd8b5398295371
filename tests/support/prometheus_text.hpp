// Test helpers that read the Prometheus text exposition format (what Exporter::serialize()
// and a scrape return) into a map from series key to value. For tests only: it trusts its
// input (kadmium's label values contain no spaces or escaped quotes) and fails the test on a
// line it cannot read.
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace test_support {

using Labels = std::map<std::string, std::string>;

// The series key as the text format writes it: name{k="v",...} with keys sorted, or the
// bare name when there are no labels.
inline std::string series_key(std::string_view name, Labels const& labels) {
    std::string key(name);
    if (labels.empty()) return key;
    key += '{';
    bool first = true;
    for (auto const& [k, v] : labels) {
        if (!first) key += ',';
        first = false;
        key += k + "=\"" + v + '"';
    }
    key += '}';
    return key;
}

// Parses the text exposition format into series key -> value. The key ends at the first
// space after the closing brace (or after the name).
inline std::map<std::string, double> parse_samples(std::string const& text) {
    std::map<std::string, double> samples;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        auto const brace = line.find('}');
        auto const space = line.find(' ', brace == std::string::npos ? 0 : brace);
        if (space == std::string::npos) FAIL("not a sample line: " << line);
        samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return samples;
}

inline std::optional<double> sample(std::map<std::string, double> const& samples, std::string_view name,
                                    Labels const& labels = {}) {
    auto const it = samples.find(series_key(name, labels));
    if (it == samples.end()) return std::nullopt;
    return it->second;
}

// How many series of metric `name` (exactly that name, any labels) the samples hold.
inline std::size_t series_count(std::map<std::string, double> const& samples, std::string_view name) {
    std::size_t n = 0;
    for (auto const& [key, value] : samples) {
        (void)value;
        if (key == name || (key.size() > name.size() && key.compare(0, name.size(), name) == 0 &&
                            key[name.size()] == '{')) {
            ++n;
        }
    }
    return n;
}

}  // namespace test_support
