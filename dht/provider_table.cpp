// ProviderTable and Announcements: see provider_table.hpp. Caps are checked before the
// write, the write before memory changes, so the store and the table never disagree
// about a record that was refused.
#include "dht/provider_table.hpp"

#include "core/assert.hpp"
#include "dht/wire.hpp"

#include <algorithm>

namespace dht {

namespace {

constexpr std::string_view store_key_domain = "kadmium-provider-row-v1";

// Stored rows expire on whole seconds: round up so a row never outlives its record by
// less than it should, and never leaves before it.
core::UnixTime row_expiry(std::uint64_t expires_ms) {
    return {static_cast<std::int64_t>((expires_ms + 999) / 1000)};
}

std::optional<std::pair<ProviderRecord, Endpoint>> decode_row(core::ByteView value) {
    core::Reader r(value);
    if (r.array(2) != 2u) return std::nullopt;
    auto record = decode_provider_record(r);
    auto observed = wire::decode_endpoint(r);
    r.finish();
    if (!r.ok() || !record || !observed) return std::nullopt;
    return std::make_pair(std::move(*record), *observed);
}

}  // namespace

core::Bytes encode_provider_row(ProviderRecord const& record, Endpoint const& observed) {
    core::Bytes out;
    core::Writer w(out);
    w.array(2);
    encode_provider_record(w, record);
    wire::encode_endpoint(w, observed);
    return out;
}

ProviderTable::ProviderTable(ProviderLimits const& limits, store::RecordStore& store, Stats& stats)
    : limits_(limits), store_(store), stats_(stats) {
    CORE_ASSERT(limits_.per_topic_max > 0 && limits_.per_subnet_max > 0 && limits_.lifetime_max_ms > 0);
}

Key ProviderTable::store_key(Key const& topic) {
    core::Bytes input = core::to_bytes(store_key_domain);
    input.insert(input.end(), topic.bytes.begin(), topic.bytes.end());
    return core::blake2b_256(input);
}

bool ProviderTable::reject(ProviderReject r) {
    ++stats_.provider_reject(r);
    return false;
}

std::size_t ProviderTable::subnet_count(Topic const& t, Endpoint const& observed, NodeId const& except) const {
    if (limits_.allow_loopback_subnet && observed.is_loopback()) return 0;
    auto const key = observed.subnet_key();
    std::size_t n = 0;
    for (auto const& [node, held] : t.by_node)
        if (node != except && held.observed.family == observed.family && held.observed.subnet_key() == key) ++n;
    return n;
}

// The caps, for a record that passed its own checks. `t` is null for a topic not held.
std::optional<ProviderReject> ProviderTable::admit(Topic const* t, ProviderRecord const& record,
                                                   Endpoint const& observed, std::uint64_t now_ms) const {
    Held const* old = nullptr;
    if (t) {
        if (auto it = t->by_node.find(record.node_id); it != t->by_node.end()) old = &it->second;
    }
    if (old && old->record.expires_ms > now_ms && old->record.expires_ms >= record.expires_ms)
        return ProviderReject::not_newer;
    if (!old) {
        if (t && t->by_node.size() >= limits_.per_topic_max) return ProviderReject::topic_full;
        if (total_ >= limits_.total_max) return ProviderReject::table_full;
    }
    if (t && subnet_count(*t, observed, record.node_id) >= limits_.per_subnet_max) return ProviderReject::subnet_full;
    return std::nullopt;
}

void ProviderTable::insert(Key const& skey, Held held) {
    auto& slot = topics_[skey].by_node[held.record.node_id];
    if (slot.record.expires_ms == 0) ++total_;  // a new entry (real records never expire at 0)
    slot = std::move(held);
}

void ProviderTable::load(std::uint64_t now_ms) {
    CORE_ASSERT(topics_.empty());
    std::vector<std::pair<ProviderRecord, Endpoint>> rows;
    auto r = store_.for_each([&](store::Record const& rec) {
        auto row = decode_row(rec.value);
        // Values that are not provider rows (or sit under the wrong key) are ordinary values.
        if (row && rec.key == store_key(row->first.topic)) rows.push_back(std::move(*row));
        return true;
    });
    if (!r) ++stats_.store_errors;
    for (auto& [record, observed] : rows) {
        if (auto bad = check_provider_record(record, now_ms, limits_.lifetime_max_ms)) {
            // Expiry is normal at start (rows not swept yet): not a rejection worth a count.
            if (*bad != ProviderReject::expired) reject(*bad);
            continue;
        }
        auto skey = store_key(record.topic);
        auto it = topics_.find(skey);
        if (auto bad = admit(it == topics_.end() ? nullptr : &it->second, record, observed, now_ms)) {
            reject(*bad);
            continue;
        }
        insert(skey, {std::move(record), observed});
    }
}

bool ProviderTable::accept(ProviderRecord const& record, Endpoint const& observed, std::uint64_t now_ms) {
    if (auto bad = check_provider_record(record, now_ms, limits_.lifetime_max_ms)) return reject(*bad);
    auto skey = store_key(record.topic);
    auto it = topics_.find(skey);
    Topic const* t = it == topics_.end() ? nullptr : &it->second;
    if (t) {
        // The same record again (a retried ANNOUNCE): already held, nothing to write.
        if (auto h = t->by_node.find(record.node_id); h != t->by_node.end() && h->second.record == record) return true;
    }
    if (auto bad = admit(t, record, observed, now_ms)) return reject(*bad);

    std::optional<core::Bytes> old_row;
    if (t) {
        if (auto h = t->by_node.find(record.node_id); h != t->by_node.end())
            old_row = encode_provider_row(h->second.record, h->second.observed);
    }
    store::Record row{skey, encode_provider_row(record, observed), record.node_id,
                      {static_cast<std::int64_t>(now_ms / 1000)}, row_expiry(record.expires_ms)};
    if (auto put = store_.put(row); !put) {
        ++stats_.store_errors;
        return reject(ProviderReject::store_failed);
    }
    if (old_row) {
        // A failed erase leaves the old row to expire; the table holds only the new record
        // and load() keeps the newer of two rows, so this costs space, not correctness.
        if (auto erased = store_.erase(skey, *old_row); !erased) ++stats_.store_errors;
    }
    insert(skey, {record, observed});
    ++stats_.providers_accepted;
    return true;
}

std::vector<ProviderRecord> ProviderTable::sample(Key const& topic, std::uint64_t now_ms, std::size_t n,
                                                  core::Rng& rng) const {
    std::vector<ProviderRecord> out;
    auto it = topics_.find(store_key(topic));
    if (it == topics_.end() || n == 0) return out;
    std::vector<Held const*> fresh;
    fresh.reserve(it->second.by_node.size());
    for (auto const& [node, held] : it->second.by_node)
        if (held.record.expires_ms > now_ms) fresh.push_back(&held);
    // Partial Fisher-Yates: the first min(n, size) slots become a uniform random subset.
    std::size_t const take = std::min(n, fresh.size());
    for (std::size_t i = 0; i < take; ++i) {
        auto j = i + static_cast<std::size_t>(rng.uniform(fresh.size() - i));
        std::swap(fresh[i], fresh[j]);
        out.push_back(fresh[i]->record);
    }
    return out;
}

std::size_t ProviderTable::fresh_count(Key const& topic, std::uint64_t now_ms) const {
    auto it = topics_.find(store_key(topic));
    if (it == topics_.end()) return 0;
    return static_cast<std::size_t>(std::count_if(it->second.by_node.begin(), it->second.by_node.end(),
                                                  [&](auto const& e) { return e.second.record.expires_ms > now_ms; }));
}

void ProviderTable::prune(std::uint64_t now_ms) {
    for (auto t = topics_.begin(); t != topics_.end();) {
        auto& nodes = t->second.by_node;
        for (auto h = nodes.begin(); h != nodes.end();) {
            if (h->second.record.expires_ms <= now_ms) {
                h = nodes.erase(h);
                --total_;
            } else {
                ++h;
            }
        }
        t = nodes.empty() ? topics_.erase(t) : std::next(t);
    }
}

std::optional<core::Instant> Announcements::next_due() const {
    std::optional<core::Instant> t;
    for (auto const& [topic, e] : entries_)
        if (!t || e.due < *t) t = e.due;
    return t;
}

}  // namespace dht
