// The metric label tables (metrics/metric_names.hpp) and the DHT's own names for its
// enums must agree, or a Grafana panel would show a label no node exports.
#include "dht/stats.hpp"
#include "metrics/metric_names.hpp"

#include <catch2/catch.hpp>

TEST_CASE("metric labels match the DHT's enum names", "[unit]") {
    for (std::size_t i = 0; i < dht::drop_reason_count; ++i)
        CHECK(metrics::drop_reason_labels[i] == dht::to_string(static_cast<dht::DropReason>(i)));
    for (std::size_t i = 0; i < dht::rpc_type_count; ++i)
        CHECK(metrics::rpc_type_labels[i] == dht::to_string(static_cast<dht::RpcType>(i)));
    for (std::size_t i = 0; i < dht::rpc_outcome_count; ++i)
        CHECK(metrics::rpc_outcome_labels[i] == dht::to_string(static_cast<dht::RpcOutcome>(i)));
    for (std::size_t i = 0; i < dht::provider_reject_count; ++i)
        CHECK(metrics::provider_reject_labels[i] == dht::to_string(static_cast<dht::ProviderReject>(i)));
}
