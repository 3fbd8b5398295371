// metrics::Health: what /healthz and /readyz answer from the host's reports (the HTTP side
// is exercised against a real node in tests/system/network_test.py, scenario lifecycle).
#include "metrics/health.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using metrics::Health;

TEST_CASE("health: starting, live, ready, stalled, stopping", "[unit]") {
    Health h;
    auto const t0 = Health::Clock::time_point{} + 1000s;

    // Before the first report neither endpoint is 200.
    CHECK(h.answer("/healthz", t0)->status == 503);
    CHECK(h.answer("/readyz", t0)->status == 503);
    CHECK_FALSE(h.answer("/metrics", t0));
    CHECK_FALSE(h.answer("/healthz/", t0));

    // Serving, not joined: alive but not ready, and the body says why.
    h.report(t0, 0, true);
    CHECK(h.answer("/healthz", t0)->status == 200);
    auto r = h.answer("/readyz", t0);
    CHECK(r->status == 503);
    CHECK(r->body.find("routing table empty") != std::string::npos);

    h.report(t0, 3, false);
    CHECK(h.answer("/readyz", t0)->body.find("store closed") != std::string::npos);

    h.report(t0, 3, true);
    r = h.answer("/readyz", t0 + 1s);
    CHECK(r->status == 200);
    CHECK(r->body == "ready: 3 peers\n");

    // The loop stopped reporting: both fail once stall_after has passed, not before.
    CHECK(h.answer("/healthz", t0 + Health::stall_after - 1s)->status == 200);
    CHECK(h.answer("/healthz", t0 + Health::stall_after)->status == 503);
    CHECK(h.answer("/readyz", t0 + Health::stall_after)->body.find("stalled") != std::string::npos);

    h.report(t0 + 20s, 3, true);
    CHECK(h.answer("/healthz", t0 + 21s)->status == 200);
    h.stopping();
    CHECK(h.answer("/healthz", t0 + 21s)->status == 503);
    CHECK(h.answer("/readyz", t0 + 21s)->body == "stopping\n");
}
