// DurableOutbox: see outbox.hpp.
#include "node/outbox.hpp"

#include <algorithm>
#include <vector>

namespace node {

void DurableOutbox::load(core::Instant now) {
    auto const rows = store_.outbox(entries_max);
    on_disk_beyond_ = rows.size() == entries_max;
    for (auto const& row : rows) {
        if (entries_.size() >= entries_max) break;
        entries_.try_emplace(row.id, Entry{row.topic, std::nullopt, now, retry_initial});
    }
}

void DurableOutbox::added(core::Instant now, pubsub::MessageId const& id, std::string const& topic, std::size_t peers) {
    if (entries_.size() >= entries_max) {
        on_disk_beyond_ = true;  // loaded later, when the ones in memory are done
        return;
    }
    Entry e{topic, std::nullopt, now + retry_initial, retry_initial};
    if (peers > 0) e.sent = now;
    entries_.insert_or_assign(id, std::move(e));
}

void DurableOutbox::remove(pubsub::MessageId const& id) {
    if (!store_.outbox_remove(id)) ++counts_.errors;  // stays on disk: retried after a restart
    entries_.erase(id);
}

void DurableOutbox::tick(core::Instant now, std::int64_t wall_ms, Republish const& republish) {
    std::vector<pubsub::MessageId> done, dropped;
    for (auto& [id, e] : entries_) {
        if (e.sent) {
            if (now - *e.sent >= settle) done.push_back(id);
            continue;
        }
        if (now < e.next_try) continue;
        auto message = store_.get(id);
        if (!message || wall_ms - message->ts_ms > age_max_ms) {
            dropped.push_back(id);
            continue;
        }
        auto peers = republish(e.topic, *message);
        if (!peers) {
            dropped.push_back(id);
            continue;
        }
        if (*peers > 0) {
            ++counts_.resent;
            e.sent = now;
            continue;
        }
        e.next_try = now + e.backoff;
        e.backoff = std::min<core::Duration>(e.backoff * 2, retry_max);
    }
    for (auto const& id : done) {
        remove(id);
        ++counts_.cleared;
    }
    for (auto const& id : dropped) {
        remove(id);
        ++counts_.dropped;
    }
    if (on_disk_beyond_ && entries_.size() < entries_max / 2) load(now);
}

}  // namespace node
