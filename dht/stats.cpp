#include "dht/stats.hpp"

namespace dht {

char const* to_string(DropReason r) {
    switch (r) {
        case DropReason::too_short: return "too_short";
        case DropReason::too_large: return "too_large";
        case DropReason::unknown_protocol: return "unknown_protocol";
        case DropReason::unknown_kind: return "unknown_kind";
        case DropReason::bad_public_key: return "bad_public_key";
        case DropReason::bad_mac: return "bad_mac";
        case DropReason::stale: return "stale";
        case DropReason::replayed: return "replayed";
        case DropReason::malformed: return "malformed";
        case DropReason::unknown_transaction: return "unknown_transaction";
        case DropReason::unexpected_response: return "unexpected_response";
        case DropReason::rate_limited: return "rate_limited";
        case DropReason::bad_fragment: return "bad_fragment";
        case DropReason::reassembly_full: return "reassembly_full";
        case DropReason::from_self: return "from_self";
        case DropReason::count_: break;
    }
    return "unknown";
}

char const* to_string(RpcType t) {
    switch (t) {
        case RpcType::hello: return "hello";
        case RpcType::ping: return "ping";
        case RpcType::find_node: return "find_node";
        case RpcType::find_value: return "find_value";
        case RpcType::store: return "store";
        case RpcType::announce: return "announce";
        case RpcType::find_providers: return "find_providers";
        case RpcType::count_: break;
    }
    return "unknown";
}

char const* to_string(RpcOutcome o) {
    switch (o) {
        case RpcOutcome::ok: return "ok";
        case RpcOutcome::timeout: return "timeout";
        case RpcOutcome::served: return "served";
        case RpcOutcome::rejected: return "rejected";
        case RpcOutcome::count_: break;
    }
    return "unknown";
}

char const* to_string(ProviderReject r) {
    switch (r) {
        case ProviderReject::bad_addrs: return "bad_addrs";
        case ProviderReject::id_mismatch: return "id_mismatch";
        case ProviderReject::expired: return "expired";
        case ProviderReject::expiry_too_far: return "expiry_too_far";
        case ProviderReject::bad_signature: return "bad_signature";
        case ProviderReject::wrong_topic: return "wrong_topic";
        case ProviderReject::not_owner: return "not_owner";
        case ProviderReject::not_newer: return "not_newer";
        case ProviderReject::topic_full: return "topic_full";
        case ProviderReject::subnet_full: return "subnet_full";
        case ProviderReject::table_full: return "table_full";
        case ProviderReject::store_failed: return "store_failed";
        case ProviderReject::count_: break;
    }
    return "unknown";
}

}  // namespace dht
