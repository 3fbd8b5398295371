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
        case ControlType::choke: return "choke";
        case ControlType::unchoke: return "unchoke";
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
    auto const i = static_cast<std::size_t>(r);
    return i < drop_reason_count ? drop_reason_names[i] : "unknown";
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
