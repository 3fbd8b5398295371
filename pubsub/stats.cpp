#include "pubsub/stats.hpp"

namespace pubsub {

char const* to_string(InvalidReason r) {
    switch (r) {
        case InvalidReason::decode: return "decode";
        case InvalidReason::too_large: return "too_large";
        case InvalidReason::unknown_topic: return "unknown_topic";
        case InvalidReason::future_timestamp: return "future_timestamp";
        case InvalidReason::bad_signature: return "bad_signature";
        case InvalidReason::rejected: return "rejected";
        case InvalidReason::bad_author: return "bad_author";
        case InvalidReason::count_: break;
    }
    return "unknown";
}

char const* to_string(ControlType t) {
    switch (t) {
        case ControlType::graft: return "graft";
        case ControlType::prune: return "prune";
        case ControlType::ihave: return "ihave";
        case ControlType::iwant: return "iwant";
        case ControlType::idontwant: return "idontwant";
        case ControlType::count_: break;
    }
    return "unknown";
}

char const* to_string(Direction d) {
    switch (d) {
        case Direction::in: return "in";
        case Direction::out: return "out";
        case Direction::count_: break;
    }
    return "unknown";
}

char const* to_string(DropReason r) {
    switch (r) {
        case DropReason::graylisted: return "graylisted";
        case DropReason::bad_frame: return "bad_frame";
        case DropReason::unknown_link: return "unknown_link";
        case DropReason::subscriptions_over_limit: return "subscriptions_over_limit";
        case DropReason::graft_unknown_topic: return "graft_unknown_topic";
        case DropReason::graft_in_backoff: return "graft_in_backoff";
        case DropReason::graft_negative_score: return "graft_negative_score";
        case DropReason::graft_mesh_full: return "graft_mesh_full";
        case DropReason::px_rejected: return "px_rejected";
        case DropReason::px_wrong_topic: return "px_wrong_topic";
        case DropReason::px_bad_addrs: return "px_bad_addrs";
        case DropReason::px_expired: return "px_expired";
        case DropReason::px_expiry_too_far: return "px_expiry_too_far";
        case DropReason::px_bad_signature: return "px_bad_signature";
        case DropReason::px_known: return "px_known";
        case DropReason::record_not_own: return "record_not_own";
        case DropReason::record_not_subscribed: return "record_not_subscribed";
        case DropReason::record_invalid: return "record_invalid";
        case DropReason::ihave_below_gossip: return "ihave_below_gossip";
        case DropReason::ihave_unknown_topic: return "ihave_unknown_topic";
        case DropReason::ihave_over_limit: return "ihave_over_limit";
        case DropReason::iwant_over_serve_limit: return "iwant_over_serve_limit";
        case DropReason::iwant_unknown_id: return "iwant_unknown_id";
        case DropReason::idontwant_over_limit: return "idontwant_over_limit";
        case DropReason::validator_ignored: return "validator_ignored";
        case DropReason::dial_timeout: return "dial_timeout";
        case DropReason::old_not_relayed: return "old_not_relayed";
        case DropReason::pending_expired: return "pending_expired";
        case DropReason::pending_full: return "pending_full";
        case DropReason::store_full: return "store_full";
        case DropReason::self_link: return "self_link";
        case DropReason::duplicate_link: return "duplicate_link";
        case DropReason::sync_unsolicited: return "sync_unsolicited";
        case DropReason::serve_over_budget: return "serve_over_budget";
        case DropReason::catchup_over_budget: return "catchup_over_budget";
        case DropReason::count_: break;
    }
    return "unknown";
}

char const* to_string(SyncOutcome o) {
    switch (o) {
        case SyncOutcome::complete: return "complete";
        case SyncOutcome::partial: return "partial";
        case SyncOutcome::busy: return "busy";
        case SyncOutcome::refused: return "refused";
        case SyncOutcome::timeout: return "timeout";
        case SyncOutcome::failed: return "failed";
        case SyncOutcome::served: return "served";
        case SyncOutcome::count_: break;
    }
    return "unknown";
}

}  // namespace pubsub
