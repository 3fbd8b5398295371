// DurableOutbox: see outbox.hpp.
#include "node/outbox.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>
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

void DurableOutbox::remove(std::vector<pubsub::MessageId> const& ids) {
    // Stays on disk on an error: retried after a restart.
    if (!store_.outbox_remove_many(ids)) counts_.errors += ids.size();
    for (auto const& id : ids) entries_.erase(id);
}

void DurableOutbox::tick(core::Instant now, std::int64_t wall_ms, Republish const& republish) {
    std::vector<pubsub::MessageId> done, dropped;
    // Topics a resend reached no peer in this tick: their other due entries back off
    // without a try (a topic without peers may hold thousands).
    std::unordered_set<std::string_view> no_peers;
    std::size_t tries = 0;
    auto back_off = [&](Entry& e) {
        e.next_try = now + e.backoff;
        e.backoff = std::min<core::Duration>(e.backoff * 2, retry_max);
    };
    for (auto& [id, e] : entries_) {
        if (e.sent) {
            if (now - *e.sent >= settle) done.push_back(id);
            continue;
        }
        if (now < e.next_try) continue;
        if (no_peers.contains(e.topic)) {
            back_off(e);
            continue;
        }
        if (tries == tries_per_tick_max) continue;  // still due: the next tick
        ++tries;
        auto message = store_.get(id);
        // Published while a commit runs on the writer thread: kept in memory, readable once
        // it ends (a slow disk), not gone.
        if (!message && store_.contains(id)) continue;
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
        no_peers.insert(e.topic);
        back_off(e);
    }
    counts_.cleared += done.size();
    counts_.dropped += dropped.size();
    done.insert(done.end(), dropped.begin(), dropped.end());
    remove(done);  // one write for both
    if (on_disk_beyond_ && entries_.size() < entries_max / 2) load(now);
}

}  // namespace node
