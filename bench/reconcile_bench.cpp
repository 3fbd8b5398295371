// reconcile_bench: what range-based set reconciliation (pubsub/reconcile.hpp) costs, in
// process, on one core. For sets of N items (timestamps over one hour, random ids) that
// differ by D items (half only on each side; one item only on the responder for D = 1), it
// runs whole sessions and reports round trips, bytes each way and the CPU time of each
// side (initiator: index, start and steps; responder: every respond() call). Checks the
// result against the known difference. A benchmark, not a test: figures go to
// docs/benchmarks.md.
//
//   reconcile_bench [--sizes 10000,100000,1000000] [--diffs 0,1,100,10000] [--opening split]
//                   [--id-list-max 32] [--buckets 16]
#include "core/rng.hpp"
#include "pubsub/reconcile.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

namespace rc = pubsub::reconcile;
using rc::Item;
using pubsub::MessageId;

double cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

std::vector<std::size_t> parse_list(char const* s) {
    std::vector<std::size_t> out;
    for (char const* p = s; *p;) {
        char* end = nullptr;
        out.push_back(std::strtoull(p, &end, 10));
        p = *end == ',' ? end + 1 : end;
    }
    return out;
}

struct Row {
    std::size_t rounds = 0, bytes_out = 0, bytes_in = 0, have = 0, need = 0;
    double initiator_ms = 0, responder_ms = 0;
};

Row run(std::vector<Item> const& a, std::vector<Item> const& b, rc::Opening opening, rc::Limits const& limits) {
    Row row;
    std::vector<MessageId> have, need;
    double t0 = cpu_ms();
    rc::Initiator initiator(a, limits);
    std::optional<core::Bytes> next = initiator.start(opening);
    row.initiator_ms += cpu_ms() - t0;
    while (next) {
        row.bytes_out += next->size();
        t0 = cpu_ms();
        auto reply = rc::respond(b, *next, limits);
        row.responder_ms += cpu_ms() - t0;
        if (!reply) std::abort();
        row.bytes_in += reply.value().size();
        t0 = cpu_ms();
        auto step = initiator.step(reply.value(), have, need);
        row.initiator_ms += cpu_ms() - t0;
        if (!step) std::abort();
        next = std::move(step.value());
    }
    row.rounds = initiator.rounds();
    row.have = have.size();
    row.need = need.size();
    return row;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> sizes{10'000, 100'000, 1'000'000};
    std::vector<std::size_t> diffs{0, 1, 100, 10'000};
    rc::Opening opening = rc::Opening::whole_fingerprint;
    rc::Limits limits;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--sizes")) sizes = parse_list(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--diffs")) diffs = parse_list(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--opening") && !std::strcmp(argv[i + 1], "split")) opening = rc::Opening::split;
        else if (!std::strcmp(argv[i], "--id-list-max")) limits.id_list_max = std::strtoull(argv[i + 1], nullptr, 10);
        else if (!std::strcmp(argv[i], "--buckets")) limits.buckets = std::strtoull(argv[i + 1], nullptr, 10);
        else {
            std::fprintf(stderr, "usage: reconcile_bench [--sizes N,..] [--diffs D,..] [--opening split] "
                                 "[--id-list-max K] [--buckets B]\n");
            return 2;
        }
    }
    if (!limits.valid()) {
        std::fprintf(stderr, "invalid limits\n");
        return 2;
    }
    std::printf("%9s %7s %6s %10s %10s %12s %12s\n", "items", "diffs", "rounds", "bytes_out", "bytes_in",
                "initiator_ms", "responder_ms");
    core::Rng rng(42);
    for (auto n : sizes) {
        for (auto d : diffs) {
            std::size_t const only_b = d == 1 ? 1 : d / 2;
            std::size_t const only_a = d - only_b;
            std::vector<Item> a, b;
            a.reserve(n + only_a);
            b.reserve(n + only_b);
            auto item = [&] {
                Item it{1'700'000'000'000 + static_cast<std::int64_t>(rng.uniform(3'600'000)), {}};
                rng.fill(it.id.bytes);
                return it;
            };
            for (std::size_t i = 0; i < n; ++i) {
                a.push_back(item());
                b.push_back(a.back());
            }
            for (std::size_t i = 0; i < only_a; ++i) a.push_back(item());
            for (std::size_t i = 0; i < only_b; ++i) b.push_back(item());
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            auto row = run(a, b, opening, limits);
            if (row.have != only_a || row.need != only_b) {
                std::fprintf(stderr, "wrong difference: have %zu need %zu, expected %zu %zu\n", row.have, row.need,
                             only_a, only_b);
                return 1;
            }
            std::printf("%9zu %7zu %6zu %10zu %10zu %12.1f %12.1f\n", n, d, row.rounds, row.bytes_out, row.bytes_in,
                        row.initiator_ms, row.responder_ms);
            std::fflush(stdout);
        }
    }
    return 0;
}
