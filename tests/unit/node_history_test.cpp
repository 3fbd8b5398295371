// The node's durable-history pieces without sockets: cursor and TIME parsing, history
// queries on a real LmdbMessageStore (pages both ways, since, limits), the event-stream
// feed (replay then live, each message once across the seam, paced by the client's
// queue), and the durable outbox (resend after a restart until a peer had it, settle,
// drop what is gone or too old).
#include "node/api_history.hpp"
#include "node/outbox.hpp"
#include "node/stream_feed.hpp"

#include "core/crypto.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/topic.hpp"
#include "store/message_db.hpp"
#include "tests/support/background_commit.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <map>
#include <chrono>
#include <filesystem>

using namespace node;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

class TempStore {
public:
    TempStore() {
        static std::atomic<unsigned> counter{0};
        dir_ = fs::temp_directory_path() / ("kadmium-node-history-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(counter++));
        fs::create_directories(dir_);
        auto r = store::LmdbStore::open(dir_, 64u * 1024 * 1024);
        REQUIRE(r);
        env = std::move(r).value();
        messages = std::make_unique<store::LmdbMessageStore>(*env, store::MessageRetention{});
    }
    ~TempStore() {
        messages.reset();
        env.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::unique_ptr<store::LmdbStore> env;
    std::unique_ptr<store::LmdbMessageStore> messages;

private:
    fs::path dir_;
};

core::Identity const& author() {
    static core::Identity const id = [] {
        core::crypto_init();
        return core::Identity::generate();
    }();
    return id;
}

pubsub::Message msg(std::string const& topic, std::int64_t ts, std::string const& text) {
    static std::uint64_t seq = 1;
    return pubsub::sign_message(author(), pubsub::topic_key(topic), seq++, ts, core::as_bytes(std::string_view(text)));
}

std::vector<std::int64_t> times(std::vector<pubsub::Message> const& ms) {
    std::vector<std::int64_t> out;
    for (auto const& m : ms) out.push_back(m.ts_ms);
    return out;
}

core::Instant at(int seconds) { return core::Instant{std::chrono::seconds(seconds)}; }

}  // namespace

TEST_CASE("history: cursors round-trip and bad ones are refused", "[unit]") {
    auto m = msg("t", 1234, "x");
    auto text = cursor_text({m.ts_ms, m.id});
    CHECK(text == "1234-" + m.id.hex());
    auto back = parse_cursor(text);
    REQUIRE(back);
    CHECK(back->ts_ms == 1234);
    CHECK(back->id == m.id);
    for (std::string const& bad : std::vector<std::string>{"", "1234", "1234-", "-" + m.id.hex(), "x-" + m.id.hex(), "12-34", "1234-" + m.id.hex() + "00"})
        CHECK_FALSE(parse_cursor(bad));
}

TEST_CASE("history: TIME is unix ms, a duration before now, or RFC 3339", "[unit]") {
    std::int64_t const now = 1'800'000'000'000;
    CHECK(parse_time_ms("1700000000123", now) == 1'700'000'000'123);
    CHECK(parse_time_ms("10m", now) == now - 600'000);
    CHECK(parse_time_ms("2d", now) == now - 2 * 86'400'000);
    CHECK(parse_time_ms("2026-11-29T10:00:00Z", now) == 1'795'946'400'000);
    CHECK(parse_time_ms("2026-11-29T10:00:00.25Z", now) == 1'795'946'400'250);
    CHECK(parse_time_ms("2026-11-29T11:00:00+01:00", now) == 1'795'946'400'000);
    for (auto bad : {"", "yesterday", "10x", "2026-11-29", "2026-13-29T10:00:00Z", "2026-11-29T10:00:00", "-5"})
        CHECK_FALSE(parse_time_ms(bad, now));
}

TEST_CASE("history: query pages backward and forward with exclusive cursors", "[unit]") {
    TempStore s;
    for (int i = 0; i < 45; ++i) REQUIRE(s.messages->put(msg("chat", 1000 + i, "m")) == pubsub::StoreStatus::stored);
    REQUIRE(s.messages->put(msg("other", 5000, "o")) == pubsub::StoreStatus::stored);

    HistoryQuery q;
    q.topic = "chat";
    auto page = query_history(*s.messages, q);  // backward, 20
    CHECK(times(page.messages).front() == 1025);
    CHECK(times(page.messages).back() == 1044);
    REQUIRE(page.next);
    q.cursor = page.next;
    page = query_history(*s.messages, q);
    CHECK(times(page.messages).front() == 1005);
    q.cursor = page.next;
    page = query_history(*s.messages, q);
    CHECK(page.messages.size() == 5);
    CHECK_FALSE(page.next);

    HistoryQuery f;
    f.topic = "chat";
    f.forward = true;
    f.since_ms = 1040;
    f.limit = 3;
    page = query_history(*s.messages, f);
    CHECK(times(page.messages) == std::vector<std::int64_t>{1040, 1041, 1042});
    REQUIRE(page.next);
    f.cursor = page.next;
    page = query_history(*s.messages, f);
    CHECK(times(page.messages) == std::vector<std::int64_t>{1043, 1044});
    CHECK_FALSE(page.next);

    // Backward with a floor; limits are clamped to 100.
    HistoryQuery b;
    b.topic = "chat";
    b.since_ms = 1030;
    b.limit = 1000;
    page = query_history(*s.messages, b);
    CHECK(page.messages.size() == 15);
    CHECK_FALSE(page.next);
    auto json = history_json("chat", page);
    CHECK(json.find("\"next\":null") != std::string::npos);
    CHECK(json.find("\"cursor\":\"1030-") != std::string::npos);
}

TEST_CASE("stream feed: replays stored messages then live, each once, paced by the queue", "[unit]") {
    TempStore s;
    std::vector<pubsub::Message> stored;
    for (int i = 0; i < 250; ++i) {
        stored.push_back(msg("chat", 1000 + i, std::string(100, 'a')));
        REQUIRE(s.messages->put(stored.back()) == pubsub::StoreStatus::stored);
    }
    // A queue of 32 KiB: the replay must pause at half of it, not cut the client.
    auto stream = std::make_shared<EventStream>("chat", 32 * 1024);
    StreamFeed feed(stream, pubsub::topic_key("chat"), pubsub::StoreCursor{1099, stored[99].id});
    std::string text;
    for (int round = 0; round < 100 && feed.replaying(); ++round) {
        feed.pump(*s.messages);
        CHECK_FALSE(stream->cut());
        text += stream->take();
        if (round == 0) {
            // While replaying: a live message ahead of the replay is left to it; one the
            // replay already passed is sent at once.
            feed.deliver(pubsub::Delivered{"chat", stored[249], pubsub::Arrival::mesh});
            feed.deliver(pubsub::Delivered{"chat", msg("chat", 10, "late clock"), pubsub::Arrival::catchup});
        }
    }
    REQUIRE_FALSE(feed.replaying());
    // The seam: the last replayed messages delivered live again are dropped.
    feed.deliver(pubsub::Delivered{"chat", stored[248], pubsub::Arrival::mesh});
    auto live = msg("chat", 2000, "live");
    feed.deliver(pubsub::Delivered{"chat", live, pubsub::Arrival::mesh});
    feed.deliver(pubsub::Delivered{"chat", live, pubsub::Arrival::mesh});
    text += stream->take();
    auto count = [&](std::string const& needle) {
        std::size_t n = 0;
        for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
        return n;
    };
    CHECK(count("\ndata: ") == 150 + 1 + 1);
    CHECK(count(stored[99].id.hex()) == 0);   // the cursor itself is exclusive
    CHECK(count("id: " + cursor_text({1100, stored[100].id})) == 1);
    CHECK(count(stored[249].id.hex()) == 2);  // in its id: line and its data
    CHECK(count(stored[248].id.hex()) == 2);
    CHECK(count(live.id.hex()) == 2);
    CHECK(count("\"caught_up\":true") == 1);
    CHECK(text.find("late clock") < text.find(stored[200].id.hex()));
}

TEST_CASE("outbox: resends after a restart until a peer had it, then settles and clears", "[unit]") {
    TempStore s;
    auto m1 = msg("room", 1'000'000, "one"), m2 = msg("room", 1'000'001, "two");
    for (auto const& m : {m1, m2}) {
        REQUIRE(s.messages->put(m) == pubsub::StoreStatus::stored);
        REQUIRE(s.messages->outbox_add(m.id, "room"));
    }
    DurableOutbox outbox(*s.messages);
    outbox.load(at(0));  // as after a restart
    REQUIRE(outbox.size() == 2);
    std::size_t peers = 0;
    std::vector<std::string> sent;
    auto republish = [&](std::string const& topic, pubsub::Message const& m) -> std::optional<std::size_t> {
        sent.push_back(topic + ":" + std::string(core::as_chars(m.payload)));
        return peers;
    };
    std::int64_t const wall = 1'000'500;
    outbox.tick(at(0), wall, republish);  // no peers yet: one tried, the topic's other backs off
    CHECK(sent.size() == 1);
    outbox.tick(at(0), wall, republish);  // backoff: nothing before 1 s
    CHECK(sent.size() == 1);
    peers = 1;
    outbox.tick(at(1), wall, republish);
    CHECK(sent.size() == 3);
    CHECK(outbox.counts().resent == 2);
    outbox.tick(at(3), wall, republish);  // sent, settling: not resent, not cleared
    CHECK(sent.size() == 3);
    CHECK(s.messages->outbox_size() == 2);
    outbox.tick(at(7), wall, republish);
    CHECK(outbox.size() == 0);
    CHECK(s.messages->outbox_size() == 0);
    CHECK(outbox.counts().cleared == 2);
}

TEST_CASE("outbox: a topic without peers costs one try a tick; a backlog drains in bounded ticks", "[unit]") {
    TempStore s;
    std::size_t const backlog = 2 * DurableOutbox::tries_per_tick_max + 1000;  // half each topic
    s.env->begin_batch();  // one commit for the lot
    for (std::size_t i = 0; i < backlog; ++i) {
        auto m = msg(i % 2 ? "lonely" : "room", 1'000'000 + static_cast<std::int64_t>(i), "m" + std::to_string(i));
        REQUIRE(s.messages->put(m) == pubsub::StoreStatus::stored);
        REQUIRE(s.messages->outbox_add(m.id, i % 2 ? "lonely" : "room"));
    }
    REQUIRE(s.env->commit_batch());
    DurableOutbox outbox(*s.messages);
    outbox.load(at(0));
    REQUIRE(outbox.size() == backlog);
    std::map<std::string, std::size_t> tries;
    std::size_t room_peers = 0;
    auto republish = [&](std::string const& topic, pubsub::Message const&) -> std::optional<std::size_t> {
        ++tries[topic];
        return topic == "room" ? room_peers : 0;
    };
    std::int64_t const wall = 1'000'500;
    outbox.tick(at(0), wall, republish);  // neither topic has peers: one try each
    CHECK(tries["room"] == 1);
    CHECK(tries["lonely"] == 1);
    room_peers = 2;  // "room" found peers: its backlog drains, at most tries_per_tick_max a tick
    tries.clear();
    outbox.tick(at(1), wall, republish);
    CHECK(tries["room"] + tries["lonely"] == DurableOutbox::tries_per_tick_max);
    CHECK(tries["lonely"] <= 1);
    CHECK(outbox.counts().resent == tries["room"]);
    outbox.tick(at(1), wall, republish);  // the rest of "room", still due
    CHECK(outbox.counts().resent == backlog - backlog / 2);  // every "room" entry sent
    outbox.tick(at(10), wall, republish);  // settled: cleared together, in one write
    CHECK(s.messages->outbox_size() == backlog / 2);
    CHECK(outbox.size() == backlog / 2);
    CHECK(outbox.counts().cleared == backlog - backlog / 2);
}

TEST_CASE("outbox: a message kept in memory during a background commit is not taken for gone", "[unit]") {
    TempStore s;
    DurableOutbox outbox(*s.messages);
    test::BackgroundCommit commit(*s.env);
    s.env->begin_batch();
    auto before = msg("room", 1'000'000, "before");
    REQUIRE(s.messages->put(before) == pubsub::StoreStatus::stored);
    REQUIRE(commit.start());
    // A slow commit: a message published meanwhile, due in the outbox before it ends.
    auto during = msg("room", 1'000'001, "during");
    REQUIRE(s.messages->put(during) == pubsub::StoreStatus::stored);
    REQUIRE(s.messages->outbox_add(during.id, "room"));
    outbox.added(at(0), during.id, "room", 0);
    std::size_t tries = 0;
    auto republish = [&](std::string const&, pubsub::Message const&) -> std::optional<std::size_t> {
        ++tries;
        return 1;
    };
    outbox.tick(at(1), 1'000'500, republish);
    CHECK(outbox.counts().dropped == 0);
    CHECK(outbox.size() == 1);
    CHECK(tries == 0);
    s.messages->apply_deferred();  // the commit ends
    outbox.tick(at(2), 1'000'500, republish);
    CHECK(tries == 1);
    CHECK(outbox.counts().resent == 1);
}

TEST_CASE("outbox: drops entries whose message is gone, too old or refused", "[unit]") {
    TempStore s;
    auto old = msg("room", 1000, "old"), gone = msg("room", 10'000'000, "gone"), bad = msg("room", 10'000'000, "bad");
    REQUIRE(s.messages->put(old) == pubsub::StoreStatus::stored);
    REQUIRE(s.messages->put(bad) == pubsub::StoreStatus::stored);
    for (auto const& m : {old, gone, bad}) REQUIRE(s.messages->outbox_add(m.id, "room"));
    DurableOutbox outbox(*s.messages);
    outbox.load(at(0));
    outbox.tick(at(0), 1000 + DurableOutbox::age_max_ms + 1, [&](std::string const&, pubsub::Message const& m) {
        return m.id == bad.id ? std::nullopt : std::optional<std::size_t>(0);
    });
    CHECK(outbox.size() == 0);
    CHECK(outbox.counts().dropped == 3);
    CHECK(s.messages->outbox_size() == 0);
    // A message just published with peers is settling at once; without, it waits a second.
    auto fresh = msg("room", 20'000'000, "fresh");
    REQUIRE(s.messages->put(fresh) == pubsub::StoreStatus::stored);
    REQUIRE(s.messages->outbox_add(fresh.id, "room"));
    outbox.added(at(10), fresh.id, "room", 3);
    outbox.tick(at(16), 20'000'100, [](std::string const&, pubsub::Message const&) -> std::optional<std::size_t> {
        FAIL("a message already sent must not be resent");
        return 0;
    });
    CHECK(outbox.size() == 0);
}
