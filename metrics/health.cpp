// metrics::Health: the answers of /healthz and /readyz from the state the host reported.
#include "metrics/health.hpp"

namespace metrics {

void Health::report(Clock::time_point now, std::size_t peers, bool store_open) {
    std::lock_guard lock(mutex_);
    last_report_ = now;
    peers_ = peers;
    store_open_ = store_open;
}

void Health::stopping() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
}

std::optional<HealthAnswer> Health::answer(std::string_view path, Clock::time_point now) const {
    bool const readiness = path == "/readyz";
    if (!readiness && path != "/healthz") return std::nullopt;
    std::lock_guard lock(mutex_);
    if (stopping_) return HealthAnswer{503, "stopping\n"};
    if (!last_report_) return HealthAnswer{503, "starting\n"};
    auto const silent = std::chrono::duration_cast<std::chrono::seconds>(now - *last_report_);
    if (silent >= stall_after) {
        return HealthAnswer{503, "event loop stalled: no report for " + std::to_string(silent.count()) + " s\n"};
    }
    if (!readiness) return HealthAnswer{200, "ok\n"};
    if (!store_open_) return HealthAnswer{503, "not ready: store closed\n"};
    if (peers_ == 0) return HealthAnswer{503, "not ready: routing table empty (not joined)\n"};
    return HealthAnswer{200, "ready: " + std::to_string(peers_) + " peers\n"};
}

}  // namespace metrics
