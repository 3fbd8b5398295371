// Serves metrics::Health at /healthz and /readyz on the same civetweb server as /metrics.
// prometheus-cpp 1.0's Exposer offers no way to add a handler of our own (its CivetServer
// is private), but it takes civetweb callbacks at construction: the begin_request callback
// answers these two paths before prometheus-cpp's handlers see the request, and lets every
// other request through. That callback is a plain function pointer without user data, so
// the Health to answer from is found by the listening port the request arrived on (a small
// process-wide table, one entry per Exporter). Only exporter.cpp uses this.
#pragma once

#include "metrics/health.hpp"

#include <memory>
#include <string>

namespace prometheus {
class Exposer;
}

namespace metrics::health_http {

// An Exposer on `bind_address` whose server answers /healthz and /readyz for the Health
// attached to its port. Throws what prometheus::Exposer throws (a failed bind).
std::unique_ptr<prometheus::Exposer> make_exposer(std::string const& bind_address);

// Requests arriving on `port` are answered from `health` (until detach).
void attach(int port, std::shared_ptr<Health const> health);
void detach(int port);

}  // namespace metrics::health_http
