// metrics::Health: what GET /healthz and GET /readyz answer on the metrics listener (for
// Kubernetes probes, Docker HEALTHCHECK, load balancers). The host's event loop reports
// into it (report() on its 1 s metrics tick, stopping() at shutdown); civetweb's threads
// read it through answer(). It judges staleness with the time the caller passes in, so it
// is testable without a clock; health_http.cpp is the civetweb side.
//   /healthz: 200 while the event loop has reported within stall_after (the process is
//             serving); 503 when the loop stalled or the node is stopping.
//   /readyz:  200 when also ready (routing table non-empty, store open); 503 with the
//             reason otherwise.
// It is not an authentication point: both paths answer anyone who can reach the listener,
// and say nothing beyond readiness and the peer count.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace metrics {

struct HealthAnswer {
    int status = 200;  // HTTP status: 200 or 503
    std::string body;  // one line of text, ending in '\n'
};

class Health {
public:
    using Clock = std::chrono::steady_clock;
    // The loop reports every second; a loop silent this long is stuck (a liveness probe
    // should restart the process).
    static constexpr std::chrono::seconds stall_after{15};

    // From the host's loop: it is alive at `now`; whether the node is ready, and why not.
    void report(Clock::time_point now, std::size_t peers, bool store_open);
    // From the host's loop at shutdown: both endpoints answer 503 from now on.
    void stopping();

    // The answer for `path` ("/healthz" or "/readyz"); nullopt for any other path.
    std::optional<HealthAnswer> answer(std::string_view path, Clock::time_point now) const;

private:
    mutable std::mutex mutex_;
    std::optional<Clock::time_point> last_report_;
    std::size_t peers_ = 0;
    bool store_open_ = false;
    bool stopping_ = false;
};

}  // namespace metrics
