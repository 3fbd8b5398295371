// Latency models for the simulated network; see latency_model.hpp.
#include "sim/latency_model.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace sim {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

core::Duration from_ms(double ms) { return core::Duration{static_cast<std::int64_t>(std::llround(ms * 1000.0))}; }

std::optional<double> parse_ms(std::string_view s) {
    if (s.empty()) return std::nullopt;
    // std::from_chars for double is in libstdc++ 11+; it is locale-independent.
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v) || v < 0 || v > 60'000) return std::nullopt;
    return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (;;) {
        auto pos = s.find(sep);
        out.push_back(s.substr(0, pos));
        if (pos == std::string_view::npos) break;
        s.remove_prefix(pos + 1);
    }
    return out;
}

std::string fmt_ms(core::Duration d) {
    std::ostringstream os;
    os << static_cast<double>(d.count()) / 1000.0;
    return os.str();
}

}  // namespace

std::uint64_t mix64(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    return splitmix(splitmix(splitmix(a) ^ b) ^ c);
}

LatencyModel LatencyModel::constant(core::Duration d) {
    CORE_ASSERT(d.count() >= 0);
    LatencyModel m;
    m.kind_ = Kind::constant;
    m.lo_ = m.hi_ = d;
    return m;
}

LatencyModel LatencyModel::uniform(core::Duration lo, core::Duration hi) {
    CORE_ASSERT(lo.count() >= 0 && lo <= hi);
    LatencyModel m;
    m.kind_ = Kind::uniform;
    m.lo_ = lo;
    m.hi_ = hi;
    return m;
}

LatencyModel LatencyModel::regions(core::Duration jitter) {
    // One-way latencies in ms, roughly half the public inter-region round trips of large
    // cloud providers; the diagonal is traffic inside one region.
    std::vector<double> const ms = {
        5,  35, 40,  90,  60,   //
        35, 5,  70,  60,  85,   //
        40, 70, 8,   110, 100,  //
        90, 60, 110, 15,  150,  //
        60, 85, 100, 150, 10,
    };
    return regions({"us-east", "us-west", "europe", "asia", "south-america"}, ms, jitter);
}

LatencyModel LatencyModel::regions(std::vector<std::string> names, std::vector<double> matrix_ms, core::Duration jitter) {
    CORE_ASSERT(!names.empty() && matrix_ms.size() == names.size() * names.size());
    CORE_ASSERT(jitter.count() >= 0);
    LatencyModel m;
    m.kind_ = Kind::regions;
    m.names_ = std::move(names);
    m.jitter_ = jitter;
    m.matrix_.reserve(matrix_ms.size());
    for (double v : matrix_ms) m.matrix_.push_back(from_ms(v));
    return m;
}

std::optional<LatencyModel> LatencyModel::parse(std::string_view spec, std::string& error) {
    auto parts = split(spec, ':');
    auto const& name = parts[0];
    if (name == "constant" && parts.size() == 2) {
        if (auto ms = parse_ms(parts[1])) return constant(from_ms(*ms));
    } else if (name == "uniform" && parts.size() == 3) {
        auto lo = parse_ms(parts[1]);
        auto hi = parse_ms(parts[2]);
        if (lo && hi && *lo <= *hi) return uniform(from_ms(*lo), from_ms(*hi));
    } else if (name == "regions" && parts.size() <= 2) {
        if (parts.size() == 1) return regions(from_ms(5));
        if (auto ms = parse_ms(parts[1])) return regions(from_ms(*ms));
    }
    error = "bad latency model '" + std::string(spec) +
            "': expected constant:MS, uniform:LO_MS:HI_MS or regions[:JITTER_MS] (milliseconds, 0..60000)";
    return std::nullopt;
}

bool LatencyModel::load_matrix(std::string const& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot open latency matrix file '" + path + "'";
        return false;
    }
    std::vector<std::string> names;
    std::vector<double> values;
    std::string line;
    // A bound on the matrix: beyond 64 regions the file is surely not what was meant.
    constexpr std::size_t regions_max = 64;
    std::size_t rows = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string field;
        if (names.empty()) {
            while (fields >> field) names.push_back(field);
            if (names.empty() || names.size() > regions_max) {
                error = path + ": the header must name 1 to 64 regions";
                return false;
            }
            continue;
        }
        std::size_t n = 0;
        while (fields >> field) {
            auto ms = parse_ms(field);
            if (!ms) {
                error = path + ": bad latency '" + field + "' in row " + std::to_string(rows + 1);
                return false;
            }
            values.push_back(*ms);
            ++n;
        }
        if (n != names.size()) {
            error = path + ": row " + std::to_string(rows + 1) + " has " + std::to_string(n) + " entries, expected " +
                    std::to_string(names.size());
            return false;
        }
        if (++rows > names.size()) break;
    }
    if (names.empty() || rows != names.size()) {
        error = path + ": expected a header and " + std::to_string(names.size()) + " rows";
        return false;
    }
    auto jitter = kind_ == Kind::regions ? jitter_ : from_ms(5);
    *this = regions(std::move(names), std::move(values), jitter);
    matrix_file_ = path;
    return true;
}

core::Duration LatencyModel::base(std::uint64_t seed, NodeIndex a, NodeIndex b) const {
    switch (kind_) {
        case Kind::constant:
            return lo_;
        case Kind::uniform: {
            if (hi_ == lo_) return lo_;
            // Symmetric in (a, b): the pair is ordered before hashing.
            auto lo = std::min(a, b), hi = std::max(a, b);
            auto h = mix64(seed, (std::uint64_t{lo} << 32) | hi, 0x1a7e);
            auto span = static_cast<std::uint64_t>((hi_ - lo_).count()) + 1;
            return lo_ + core::Duration{static_cast<std::int64_t>(h % span)};
        }
        case Kind::regions: {
            auto n = names_.size();
            return matrix_[region_of(seed, a) * n + region_of(seed, b)];
        }
    }
    return lo_;
}

core::Duration LatencyModel::max_one_way() const {
    auto base = hi_;
    if (kind_ == Kind::regions) base = *std::max_element(matrix_.begin(), matrix_.end());
    return base + jitter_;
}

std::size_t LatencyModel::region_of(std::uint64_t seed, NodeIndex i) const {
    if (kind_ != Kind::regions) return 0;
    return mix64(seed, i, 0x7e610) % names_.size();
}

std::string LatencyModel::describe() const {
    switch (kind_) {
        case Kind::constant:
            return "constant:" + fmt_ms(lo_);
        case Kind::uniform:
            return "uniform:" + fmt_ms(lo_) + ":" + fmt_ms(hi_);
        case Kind::regions:
            return "regions:" + fmt_ms(jitter_) + (matrix_file_.empty() ? "" : " (matrix " + matrix_file_ + ")");
    }
    return "?";
}

}  // namespace sim
