// LmdbMessageStore: see message_db.hpp for the contract and docs/storage.md ("Messages")
// for the layout. Rows are trusted only after checking: an envelope is parsed and its
// BLAKE2b id, topic and timestamp compared with its row key; index rows are checked for
// size. A damaged row is skipped and counted, never fatal. Every walk is bounded by its
// caller's limit or budget.
#include "store/message_db.hpp"

#include "core/assert.hpp"
#include "pubsub/envelope.hpp"

#include <lmdb.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace store {

namespace {

using pubsub::Message;
using pubsub::MessageId;
using pubsub::StoreCursor;
using pubsub::TopicKey;

constexpr std::size_t topic_size = 32;
constexpr std::size_t id_size = 32;
constexpr std::size_t ts_size = 8;
constexpr std::size_t message_key_size = topic_size + ts_size + id_size;  // topic ‖ ts ‖ id
constexpr std::size_t id_value_size = topic_size + ts_size;              // topic ‖ ts
constexpr std::size_t age_key_size = ts_size + id_size;                  // ts ‖ id
constexpr std::size_t stats_size = 16;                                   // count ‖ bytes
// Large enough for any envelope a node accepts (the payload limit is a node setting).
constexpr std::size_t payload_read_max = 16 * 1024 * 1024;
// Rows per expiry transaction: short write transactions, as the record sweep's.
constexpr std::size_t expire_step_max = 256;
// The key of the totals row in message_topics (topics are 32 bytes, so it cannot clash).
constexpr std::array<std::byte, 1> totals_key{std::byte{0}};

using MessageKey = std::array<std::byte, message_key_size>;

MDB_val val(core::ByteView b) { return MDB_val{b.size(), const_cast<std::byte*>(b.data())}; }
core::ByteView view(MDB_val const& v) { return {static_cast<std::byte const*>(v.mv_data), v.mv_size}; }

// Timestamps as big-endian u64 with the sign bit flipped: byte order is time order.
void put_ts(std::byte* out, std::int64_t ts) {
    auto t = static_cast<std::uint64_t>(ts) ^ (std::uint64_t{1} << 63);
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(t >> (56 - 8 * i));
}
std::int64_t get_ts(std::byte const* in) {
    std::uint64_t t = 0;
    for (int i = 0; i < 8; ++i) t = (t << 8) | std::to_integer<std::uint8_t>(in[i]);
    return static_cast<std::int64_t>(t ^ (std::uint64_t{1} << 63));
}
void put_u64(std::byte* out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(v >> (56 - 8 * i));
}
std::uint64_t get_u64(std::byte const* in) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | std::to_integer<std::uint8_t>(in[i]);
    return v;
}

MessageKey message_key(TopicKey const& topic, std::int64_t ts, MessageId const& id) {
    MessageKey k;
    std::memcpy(k.data(), topic.bytes.data(), topic_size);
    put_ts(k.data() + topic_size, ts);
    std::memcpy(k.data() + topic_size + ts_size, id.bytes.data(), id_size);
    return k;
}

std::array<std::byte, age_key_size> age_key(std::int64_t ts, MessageId const& id) {
    std::array<std::byte, age_key_size> k;
    put_ts(k.data(), ts);
    std::memcpy(k.data() + ts_size, id.bytes.data(), id_size);
    return k;
}

bool in_topic(core::ByteView key, TopicKey const& topic) {
    return key.size() == message_key_size && std::memcmp(key.data(), topic.bytes.data(), topic_size) == 0;
}

StoreCursor cursor_of(core::ByteView key) {
    StoreCursor c;
    c.ts_ms = get_ts(key.data() + topic_size);
    std::memcpy(c.id.bytes.data(), key.data() + topic_size + ts_size, id_size);
    return c;
}

struct Stats {
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
};

class Cursor {
public:
    Cursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &c_); }
    Cursor(Cursor const&) = delete;
    Cursor& operator=(Cursor const&) = delete;
    ~Cursor() {
        if (c_ != nullptr) mdb_cursor_close(c_);
    }
    int rc() const { return rc_; }
    operator MDB_cursor*() const { return c_; }

private:
    MDB_cursor* c_ = nullptr;
    int rc_ = 0;
};

// The rows of one write transaction on the message databases; keeps the totals and the
// per-topic figures consistent with the rows. Each function returns an LMDB code.
class Writer {
public:
    Writer(MDB_txn* txn, LmdbStore::MessageDbis const& d, std::uint64_t& corrupt) : txn_(txn), d_(d), corrupt_(corrupt) {}

    int stats(core::ByteView key, Stats& out) {
        MDB_val k = val(key), v;
        int rc = mdb_get(txn_, d_.topics, &k, &v);
        out = {};
        if (rc == MDB_NOTFOUND) return 0;
        if (rc != 0) return rc;
        if (v.mv_size != stats_size) {
            ++corrupt_;  // recounted from zero: retention may run late for this topic
            return 0;
        }
        out.count = get_u64(static_cast<std::byte const*>(v.mv_data));
        out.bytes = get_u64(static_cast<std::byte const*>(v.mv_data) + 8);
        return 0;
    }
    int adjust(core::ByteView key, std::int64_t count, std::int64_t bytes) {
        Stats s;
        if (int rc = stats(key, s); rc != 0) return rc;
        s.count = count < 0 ? s.count - std::min<std::uint64_t>(s.count, -count) : s.count + count;
        s.bytes = bytes < 0 ? s.bytes - std::min<std::uint64_t>(s.bytes, -bytes) : s.bytes + bytes;
        MDB_val k = val(key);
        if (s.count == 0 && key.size() == topic_size) return del_ok(mdb_del(txn_, d_.topics, &k, nullptr));
        std::array<std::byte, stats_size> row;
        put_u64(row.data(), s.count);
        put_u64(row.data() + 8, s.bytes);
        MDB_val v = val(row);
        return mdb_put(txn_, d_.topics, &k, &v, 0);
    }
    // Deletes a message's three rows and takes it off the figures. `removed` is its
    // envelope size (0 when the message row was already gone).
    int remove(TopicKey const& topic, std::int64_t ts, MessageId const& id, std::size_t& removed) {
        removed = 0;
        auto mk = message_key(topic, ts, id);
        MDB_val k = val(mk), v;
        int rc = mdb_get(txn_, d_.messages, &k, &v);
        if (rc == 0) {
            removed = v.mv_size;
            rc = mdb_del(txn_, d_.messages, &k, nullptr);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) return rc;
        MDB_val ik = val(id.bytes);
        if (rc = del_ok(mdb_del(txn_, d_.ids, &ik, nullptr)); rc != 0) return rc;
        auto ak = age_key(ts, id);
        MDB_val a = val(ak);
        if (rc = del_ok(mdb_del(txn_, d_.age, &a, nullptr)); rc != 0) return rc;
        if (removed == 0) return 0;
        if (rc = adjust(topic.bytes, -1, -static_cast<std::int64_t>(removed)); rc != 0) return rc;
        return adjust(totals_key, -1, -static_cast<std::int64_t>(removed));
    }
    // Deletes the oldest message of `topic`; `none` when it has none.
    int remove_oldest_of(TopicKey const& topic, std::size_t& removed, bool& none) {
        Cursor c(txn_, d_.messages);
        if (c.rc() != 0) return c.rc();
        MDB_val k = val(topic.bytes), v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        none = rc == MDB_NOTFOUND || (rc == 0 && !in_topic(view(k), topic));
        if (rc != 0 || none) return rc == MDB_NOTFOUND ? 0 : rc;
        auto const at = cursor_of(view(k));
        return remove(topic, at.ts_ms, at.id, removed);
    }
    // Deletes the store's oldest message (by the age index); `none` when it is empty.
    int remove_oldest(std::int64_t& ts, std::size_t& removed, bool& none) {
        Cursor c(txn_, d_.age);
        if (c.rc() != 0) return c.rc();
        MDB_val k, v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        none = rc == MDB_NOTFOUND;
        if (rc != 0) return none ? 0 : rc;
        if (k.mv_size != age_key_size || v.mv_size != topic_size) {
            ++corrupt_;  // an index row nothing can use
            removed = 0;
            ts = 0;
            return mdb_cursor_del(c, 0);
        }
        auto const key = view(k);
        ts = get_ts(key.data());
        MessageId id;
        std::memcpy(id.bytes.data(), key.data() + ts_size, id_size);
        TopicKey topic;
        std::memcpy(topic.bytes.data(), v.mv_data, topic_size);
        return remove(topic, ts, id, removed);
    }
    int insert(Message const& m) {
        auto mk = message_key(m.topic, m.ts_ms, m.id);
        MDB_val k = val(mk), v = val(m.encoded);
        if (int rc = mdb_put(txn_, d_.messages, &k, &v, 0); rc != 0) return rc;
        std::array<std::byte, id_value_size> iv;
        std::memcpy(iv.data(), m.topic.bytes.data(), topic_size);
        put_ts(iv.data() + topic_size, m.ts_ms);
        MDB_val ik = val(m.id.bytes), ivv = val(iv);
        if (int rc = mdb_put(txn_, d_.ids, &ik, &ivv, 0); rc != 0) return rc;
        auto ak = age_key(m.ts_ms, m.id);
        MDB_val a = val(ak), av = val(m.topic.bytes);
        if (int rc = mdb_put(txn_, d_.age, &a, &av, 0); rc != 0) return rc;
        auto const size = static_cast<std::int64_t>(m.encoded.size());
        if (int rc = adjust(m.topic.bytes, 1, size); rc != 0) return rc;
        return adjust(totals_key, 1, size);
    }

private:
    static int del_ok(int rc) { return rc == MDB_NOTFOUND ? 0 : rc; }
    MDB_txn* txn_;
    LmdbStore::MessageDbis const& d_;
    std::uint64_t& corrupt_;
};

}  // namespace

MessageRetention MessageRetention::for_map(std::size_t map_bytes) {
    MessageRetention r;
    r.total_bytes_max = std::max<std::size_t>(map_bytes / 2, 1);
    r.topic_bytes_max = std::max<std::size_t>(r.total_bytes_max / 2, 1);
    return r;
}

LmdbMessageStore::LmdbMessageStore(LmdbStore& env, MessageRetention retention, std::size_t deferred_max)
    : env_(env), retention_(retention), deferred_max_(deferred_max) {}

void LmdbMessageStore::count_corrupt() const {
    ++corrupt_;
    env_.count_corrupt(1);
}

std::optional<Message> LmdbMessageStore::decode(TopicKey const& topic, std::int64_t ts, MessageId const& id,
                                                core::ByteView envelope) const {
    auto parsed = pubsub::parse_message(envelope, payload_read_max);
    if (!parsed || parsed.value().id != id || parsed.value().topic != topic || parsed.value().ts_ms != ts) {
        count_corrupt();
        return std::nullopt;
    }
    return std::move(parsed).value();
}

bool LmdbMessageStore::contains(MessageId const& id) const {
    if (deferred_ids_.contains(id)) return true;
    bool found = false;
    auto r = env_.read("message contains", [&](MDB_txn* txn) {
        MDB_val k = val(id.bytes), v;
        int rc = mdb_get(txn, env_.message_dbis().ids, &k, &v);
        found = rc == 0;
        return rc;
    });
    return r && found;
}

namespace {

// One message's put inside a write transaction: the duplicate check, room under the size
// limits (the topic's oldest first, then the store's oldest), the rows. Sets `status`;
// `changed` when rows were written. Returns an LMDB code.
int put_one(MDB_txn* txn, LmdbStore::MessageDbis const& d, MessageRetention const& retention, Message const& m,
            std::uint64_t& corrupt, std::size_t& evicted, pubsub::StoreStatus& status, bool& changed) {
    auto const size = m.encoded.size();
    status = pubsub::StoreStatus::stored;
    MDB_val k = val(m.id.bytes), v;
    int rc = mdb_get(txn, d.ids, &k, &v);
    if (rc == 0) {
        status = pubsub::StoreStatus::duplicate;
        return 0;
    }
    if (rc != MDB_NOTFOUND) return rc;
    Writer w(txn, d, corrupt);
    Stats topic, totals;
    if (rc = w.stats(m.topic.bytes, topic); rc != 0) return rc;
    if (rc = w.stats(totals_key, totals); rc != 0) return rc;
    std::size_t evicted_here = 0;
    while (topic.bytes + size > retention.topic_bytes_max || totals.bytes + size > retention.total_bytes_max) {
        if (evicted_here == LmdbMessageStore::evict_per_put_max) {
            status = pubsub::StoreStatus::full;
            return 0;
        }
        std::size_t removed = 0;
        bool none = false;
        if (topic.bytes + size > retention.topic_bytes_max) {
            rc = w.remove_oldest_of(m.topic, removed, none);
        } else {
            std::int64_t ts = 0;
            rc = w.remove_oldest(ts, removed, none);
        }
        if (rc != 0) return rc;
        if (none) {
            // The figures say there is more than the rows hold (a damaged figure): go on
            // as if the limits had room.
            ++corrupt;
            break;
        }
        ++evicted_here;
        changed = true;
        if (rc = w.stats(m.topic.bytes, topic); rc != 0) return rc;
        if (rc = w.stats(totals_key, totals); rc != 0) return rc;
    }
    if (rc = w.insert(m); rc != 0) return rc;
    evicted += evicted_here;
    changed = true;
    return 0;
}

std::size_t put_bytes(Message const& m) {
    return message_key_size + m.encoded.size() + 2 * (id_size + id_value_size) + 2 * (topic_size + stats_size);
}

}  // namespace

pubsub::StoreStatus LmdbMessageStore::put(Message const& m) {
    return put_many(std::span<Message const>(&m, 1)).front();
}

std::vector<pubsub::StoreStatus> LmdbMessageStore::put_many(std::span<Message const> messages) {
    if (deferring()) {
        std::vector<pubsub::StoreStatus> statuses(messages.size(), pubsub::StoreStatus::full);
        if (defer_puts(messages, statuses)) return statuses;
        apply_deferred();  // over the bound: write out what is kept, then this
    }
    return put_many_now(messages);
}

bool LmdbMessageStore::defer(Deferred op, std::size_t bytes) {
    if (deferred_bytes_ + bytes > deferred_max_) return false;
    deferred_bytes_ += bytes;
    deferred_.push_back(std::move(op));
    return true;
}

bool LmdbMessageStore::defer_puts(std::span<Message const> messages, std::vector<pubsub::StoreStatus>& statuses) {
    std::size_t bytes = 0;
    for (auto const& m : messages) bytes += put_bytes(m);
    if (deferred_bytes_ + bytes > deferred_max_) return false;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        auto const& m = messages[i];
        if (m.encoded.size() > retention_.topic_bytes_max || m.encoded.size() > retention_.total_bytes_max) {
            statuses[i] = pubsub::StoreStatus::full;
        } else if (contains(m.id)) {
            statuses[i] = pubsub::StoreStatus::duplicate;
        } else {
            (void)defer(Deferred{Deferred::Kind::put, m, {}}, put_bytes(m));
            deferred_ids_.insert(m.id);
            statuses[i] = pubsub::StoreStatus::stored;
        }
    }
    return true;
}

void LmdbMessageStore::apply_deferred() {
    auto ops = std::exchange(deferred_, {});
    deferred_ids_.clear();
    deferred_bytes_ = 0;
    std::vector<Message> puts;  // consecutive puts share one write
    auto write_puts = [&] {
        if (puts.empty()) return;
        for (auto status : put_many_now(puts))
            if (status == pubsub::StoreStatus::full || status == pubsub::StoreStatus::error) ++deferred_lost_;
        puts.clear();
    };
    for (auto& op : ops) {
        switch (op.kind) {
        case Deferred::Kind::put:
            puts.push_back(std::move(op.message));
            break;
        case Deferred::Kind::outbox_add:
            write_puts();
            if (!outbox_add_now(op.message.id, op.topic)) ++deferred_lost_;
            break;
        case Deferred::Kind::outbox_remove:
            write_puts();
            if (!outbox_remove_now({&op.message.id, 1})) ++deferred_lost_;
            break;
        }
    }
    write_puts();
}

std::vector<pubsub::StoreStatus> LmdbMessageStore::put_many_now(std::span<Message const> messages) {
    std::vector<pubsub::StoreStatus> statuses(messages.size(), pubsub::StoreStatus::full);
    std::size_t bytes = 0;
    for (auto const& m : messages) bytes += put_bytes(m);
    std::uint64_t corrupt = 0;
    std::size_t evicted = 0;
    auto r = env_.write(bytes, LmdbStore::Room::keep_reserve, "message put", [&](MDB_txn* txn, bool& changed) {
        evicted = 0;
        for (std::size_t i = 0; i < messages.size(); ++i) {
            auto const& m = messages[i];
            if (m.encoded.size() > retention_.topic_bytes_max || m.encoded.size() > retention_.total_bytes_max) {
                statuses[i] = pubsub::StoreStatus::full;
                continue;
            }
            if (int rc = put_one(txn, env_.message_dbis(), retention_, m, corrupt, evicted, statuses[i], changed); rc != 0)
                return rc;
        }
        return 0;
    });
    if (corrupt > 0) {
        corrupt_ += corrupt;
        env_.count_corrupt(corrupt);
    }
    if (!r) {
        auto const status = r.error() == StoreError::full ? pubsub::StoreStatus::full : pubsub::StoreStatus::error;
        std::fill(statuses.begin(), statuses.end(), status);
        return statuses;
    }
    evicted_ += evicted;
    return statuses;
}

std::vector<Message> LmdbMessageStore::range(TopicKey const& topic, std::optional<StoreCursor> after,
                                             std::size_t limit) const {
    std::vector<Message> out;
    if (limit == 0) return out;
    (void)env_.read("message range", [&](MDB_txn* txn) {
        Cursor c(txn, env_.message_dbis().messages);
        if (c.rc() != 0) return c.rc();
        MessageKey start{};
        MDB_val k = val(topic.bytes), v;
        if (after) {
            start = message_key(topic, after->ts_ms, after->id);
            k = val(start);
        }
        int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && after && std::ranges::equal(view(k), start)) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        for (; rc == 0 && out.size() < limit && in_topic(view(k), topic); rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            auto const at = cursor_of(view(k));
            if (auto msg = decode(topic, at.ts_ms, at.id, view(v))) out.push_back(std::move(*msg));
        }
        return rc;
    });
    return out;
}

std::vector<Message> LmdbMessageStore::before(TopicKey const& topic, std::optional<StoreCursor> before,
                                              std::size_t limit) const {
    std::vector<Message> out;
    if (limit == 0) return out;
    (void)env_.read("message history", [&](MDB_txn* txn) {
        Cursor c(txn, env_.message_dbis().messages);
        if (c.rc() != 0) return c.rc();
        // Position just past the range's end: the first key >= the bound (or the
        // topic's successor), then one step back.
        MessageKey bound;
        if (before) {
            bound = message_key(topic, before->ts_ms, before->id);
        } else {
            std::memcpy(bound.data(), topic.bytes.data(), topic_size);
            std::fill(bound.begin() + topic_size, bound.end(), std::byte{0xff});
        }
        MDB_val k = val(bound), v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == 0) {
            rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
        } else if (rc == MDB_NOTFOUND) {
            rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
        }
        for (; rc == 0 && out.size() < limit && in_topic(view(k), topic); rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
            // A key equal to the bound (all-0xff ids cannot occur) is not before it.
            if (before && std::ranges::equal(view(k), bound)) continue;
            auto const at = cursor_of(view(k));
            if (auto msg = decode(topic, at.ts_ms, at.id, view(v))) out.push_back(std::move(*msg));
        }
        return rc;
    });
    std::reverse(out.begin(), out.end());
    return out;
}

std::vector<Message> LmdbMessageStore::last(TopicKey const& topic, std::size_t limit) const {
    return before(topic, std::nullopt, limit);
}

std::vector<StoreCursor> LmdbMessageStore::keys(TopicKey const& topic, std::int64_t from_ms, std::int64_t to_ms,
                                                std::size_t limit) const {
    std::vector<StoreCursor> out;
    if (limit == 0 || from_ms >= to_ms) return out;
    (void)env_.read("message keys", [&](MDB_txn* txn) {
        Cursor c(txn, env_.message_dbis().messages);
        if (c.rc() != 0) return c.rc();
        auto start = message_key(topic, from_ms, MessageId{});
        MDB_val k = val(start), v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        for (; rc == 0 && out.size() < limit && in_topic(view(k), topic); rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            auto at = cursor_of(view(k));
            if (at.ts_ms >= to_ms) break;
            out.push_back(at);
        }
        return rc;
    });
    return out;
}

std::optional<Message> LmdbMessageStore::get(MessageId const& id) const {
    std::optional<Message> out;
    (void)env_.read("message get", [&](MDB_txn* txn) {
        auto const& d = env_.message_dbis();
        MDB_val k = val(id.bytes), v;
        int rc = mdb_get(txn, d.ids, &k, &v);
        if (rc != 0) return rc;
        if (v.mv_size != id_value_size) {
            count_corrupt();
            return 0;
        }
        TopicKey topic;
        std::memcpy(topic.bytes.data(), v.mv_data, topic_size);
        auto const ts = get_ts(static_cast<std::byte const*>(v.mv_data) + topic_size);
        auto mk = message_key(topic, ts, id);
        MDB_val m = val(mk), e;
        rc = mdb_get(txn, d.messages, &m, &e);
        if (rc != 0) return rc;
        out = decode(topic, ts, id, view(e));
        return 0;
    });
    return out;
}

std::size_t LmdbMessageStore::message_count() const {
    std::size_t n = 0;
    (void)env_.read("message count", [&](MDB_txn* txn) {
        MDB_stat st;
        int rc = mdb_stat(txn, env_.message_dbis().ids, &st);
        if (rc == 0) n = st.ms_entries;
        return rc;
    });
    return n;
}

std::size_t LmdbMessageStore::bytes() const {
    std::size_t n = 0;
    (void)env_.read("message bytes", [&](MDB_txn* txn) {
        MDB_val k = val(totals_key), v;
        int rc = mdb_get(txn, env_.message_dbis().topics, &k, &v);
        if (rc == 0 && v.mv_size == stats_size) n = get_u64(static_cast<std::byte const*>(v.mv_data) + 8);
        return rc;
    });
    return n;
}

bool LmdbMessageStore::has_room(std::size_t bytes) const {
    if (bytes > retention_.topic_bytes_max || bytes > retention_.total_bytes_max) return false;
    return env_.room_for(message_key_size + bytes + 256);
}

std::size_t LmdbMessageStore::expire(std::int64_t now_ms, std::size_t budget) {
    CORE_ASSERT(!env_.in_batch());
    auto const cutoff = now_ms - retention_.age_ms;
    std::size_t dropped = 0;
    std::size_t step_max = expire_step_max;
    bool done = false;
    while (!done && dropped < budget) {
        std::size_t removed_here = 0;
        std::uint64_t corrupt = 0;
        auto const step = std::min(step_max, budget - dropped);
        auto r = env_.write(64, LmdbStore::Room::use_reserve, "message expire", [&](MDB_txn* txn, bool& changed) {
            Writer w(txn, env_.message_dbis(), corrupt);
            removed_here = 0;
            while (removed_here < step) {
                Stats totals;
                if (int rc = w.stats(totals_key, totals); rc != 0) return rc;
                // Peek at the oldest: expire it when too old or while over the total.
                Cursor c(txn, env_.message_dbis().age);
                if (c.rc() != 0) return c.rc();
                MDB_val k, v;
                int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
                if (rc == MDB_NOTFOUND) {
                    done = true;
                    break;
                }
                if (rc != 0) return rc;
                bool const damaged = k.mv_size != age_key_size;
                bool const old = !damaged && get_ts(static_cast<std::byte const*>(k.mv_data)) < cutoff;
                if (!damaged && !old && totals.bytes <= retention_.total_bytes_max) {
                    done = true;
                    break;
                }
                std::int64_t ts = 0;
                std::size_t removed = 0;
                bool none = false;
                if (rc = w.remove_oldest(ts, removed, none); rc != 0) return rc;
                ++removed_here;
                changed = true;
            }
            return 0;
        });
        if (!r) {
            if (r.error() == StoreError::full && step_max > 1) {
                step_max /= 2;
                continue;
            }
            break;
        }
        corrupt_ += corrupt;
        env_.count_corrupt(corrupt);
        dropped += removed_here;
        expired_ += removed_here;
        if (removed_here == 0) break;
    }
    return dropped;
}

bool LmdbMessageStore::outbox_add(MessageId const& id, std::string const& topic) {
    if (deferring()) {
        Deferred op{Deferred::Kind::outbox_add, {}, topic};
        op.message.id = id;
        if (defer(std::move(op), id_size + topic.size())) return true;
        apply_deferred();
    }
    return outbox_add_now(id, topic);
}

bool LmdbMessageStore::outbox_remove(MessageId const& id) {
    if (deferring()) {
        Deferred op{Deferred::Kind::outbox_remove, {}, {}};
        op.message.id = id;
        if (defer(std::move(op), id_size)) return true;
        apply_deferred();
    }
    return outbox_remove_now({&id, 1});
}

bool LmdbMessageStore::outbox_remove_many(std::span<MessageId const> ids) {
    if (deferring()) {  // kept in order with the rest, one by one
        bool ok = true;
        for (auto const& id : ids) ok = outbox_remove(id) && ok;
        return ok;
    }
    return outbox_remove_now(ids);
}

bool LmdbMessageStore::outbox_add_now(MessageId const& id, std::string const& topic) {
    auto r = env_.write(id_size + topic.size(), LmdbStore::Room::keep_reserve, "outbox add",
                        [&](MDB_txn* txn, bool& changed) {
                            MDB_val k = val(id.bytes);
                            MDB_val v{topic.size(), const_cast<char*>(topic.data())};
                            changed = true;
                            return mdb_put(txn, env_.message_dbis().outbox, &k, &v, 0);
                        });
    return r.ok();
}

bool LmdbMessageStore::outbox_remove_now(std::span<MessageId const> ids) {
    if (ids.empty()) return true;
    auto r = env_.write(id_size * ids.size(), LmdbStore::Room::use_reserve, "outbox remove",
                        [&](MDB_txn* txn, bool& changed) {
                            for (auto const& id : ids) {
                                MDB_val k = val(id.bytes);
                                int rc = mdb_del(txn, env_.message_dbis().outbox, &k, nullptr);
                                if (rc == 0) changed = true;
                                else if (rc != MDB_NOTFOUND) return rc;
                            }
                            return 0;
                        });
    return r.ok();
}

std::vector<OutboxEntry> LmdbMessageStore::outbox(std::size_t limit) const {
    std::vector<OutboxEntry> out;
    (void)env_.read("outbox", [&](MDB_txn* txn) {
        Cursor c(txn, env_.message_dbis().outbox);
        if (c.rc() != 0) return c.rc();
        MDB_val k, v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        for (; rc == 0 && out.size() < limit; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (k.mv_size != id_size || v.mv_size == 0 || v.mv_size > 4096) {
                count_corrupt();
                continue;
            }
            OutboxEntry e;
            std::memcpy(e.id.bytes.data(), k.mv_data, id_size);
            e.topic.assign(static_cast<char const*>(v.mv_data), v.mv_size);
            out.push_back(std::move(e));
        }
        return rc;
    });
    return out;
}

std::size_t LmdbMessageStore::outbox_size() const {
    std::size_t n = 0;
    (void)env_.read("outbox size", [&](MDB_txn* txn) {
        MDB_stat st;
        int rc = mdb_stat(txn, env_.message_dbis().outbox, &st);
        if (rc == 0) n = st.ms_entries;
        return rc;
    });
    return n;
}

}  // namespace store
