// The seen-cache, the has-index, the message cache and the in-memory message store.
#include "pubsub/envelope.hpp"
#include "pubsub/has_index.hpp"
#include "pubsub/mcache.hpp"
#include "pubsub/memory_store.hpp"
#include "pubsub/seen_cache.hpp"
#include "pubsub/topic.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

namespace {
pubsub::MessageId id_of(int n) {
    pubsub::MessageId id;
    id.bytes[0] = std::byte(n & 0xff);
    id.bytes[1] = std::byte((n >> 8) & 0xff);
    id.bytes[31] = std::byte{1};
    return id;
}
core::Instant at(core::Duration d) { return core::Instant{} + d; }
}  // namespace

TEST_CASE("pubsub seen cache: ids live at least the ttl and at most ttl + bucket", "[unit][pubsub]") {
    pubsub::SeenCache seen(120s, 1000, 1s);
    CHECK(seen.insert(at(0s), id_of(1)));
    CHECK_FALSE(seen.insert(at(500ms), id_of(1)));
    CHECK(seen.insert(at(60s), id_of(2)));
    seen.expire(at(120s));
    CHECK(seen.contains(id_of(1)));
    seen.expire(at(121s));
    CHECK_FALSE(seen.contains(id_of(1)));
    CHECK(seen.contains(id_of(2)));
    seen.expire(at(181s));
    CHECK_FALSE(seen.contains(id_of(2)));
    CHECK(seen.size() == 0);
}

TEST_CASE("pubsub seen cache: bounded by count, oldest first", "[unit][pubsub]") {
    pubsub::SeenCache seen(120s, 100, 1s);
    for (int i = 0; i < 100; ++i) seen.insert(at(std::chrono::seconds(i / 10)), id_of(i));
    CHECK(seen.size() == 100);
    seen.insert(at(20s), id_of(1000));
    CHECK(seen.size() == 100);
    CHECK(seen.evicted_early() == 1);
    CHECK(seen.contains(id_of(1000)));
    int old_left = 0;
    for (int i = 0; i < 10; ++i) old_left += seen.contains(id_of(i));
    CHECK(old_left == 9);  // one of the first bucket went
    for (int i = 10; i < 100; ++i) CHECK(seen.contains(id_of(i)));
}

TEST_CASE("pubsub has-index: claims per peer slot, expiry, per-peer bound, release", "[unit][pubsub]") {
    pubsub::HasIndex index(3);
    auto const a = index.acquire(), b = index.acquire();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a != *b);
    index.note(id_of(1), *a, at(3s));
    index.note(id_of(1), *b, at(4s));
    index.note(id_of(2), *b, at(3s));
    auto const* one = index.find(id_of(1), at(1s));
    CHECK(pubsub::HasIndex::has(one, a));
    CHECK(pubsub::HasIndex::has(one, b));
    CHECK_FALSE(pubsub::HasIndex::has(index.find(id_of(2), at(1s)), a));
    CHECK(pubsub::HasIndex::has(index.find(id_of(2), at(1s)), b));
    CHECK_FALSE(pubsub::HasIndex::has(index.find(id_of(3), at(1s)), a));
    CHECK_FALSE(pubsub::HasIndex::has(one, std::nullopt));  // a peer without a slot has nothing
    // Claims on one id expire together, at the latest one's time.
    CHECK(index.find(id_of(1), at(3500ms)) != nullptr);
    CHECK(index.find(id_of(2), at(3s)) == nullptr);  // expired, not yet dropped
    index.expire(at(3s));
    CHECK(index.size() == 1);
    CHECK(index.count(*b) == 1);
    CHECK(index.count(*a) == 1);
    index.expire(at(4s));
    CHECK(index.size() == 0);
    CHECK(index.count(*a) == 0);
    CHECK(index.count(*b) == 0);
    // At its bound a peer's further claims are not remembered; another peer's still are.
    for (int i = 10; i < 14; ++i) index.note(id_of(i), *a, at(10s));
    CHECK(index.count(*a) == 3);
    CHECK_FALSE(pubsub::HasIndex::has(index.find(id_of(13), at(5s)), a));
    index.note(id_of(13), *b, at(10s));
    CHECK(pubsub::HasIndex::has(index.find(id_of(13), at(5s)), b));
    // Noting an id twice counts once.
    index.note(id_of(10), *a, at(11s));
    CHECK(index.count(*a) == 3);
    // Release forgets the peer's claims (a new peer in the slot starts with none).
    index.release(*a);
    CHECK(index.size() == 1);  // id 13, b's
    auto const c = index.acquire();
    REQUIRE(c);
    CHECK(*c == *a);
    CHECK(index.count(*c) == 0);
    CHECK_FALSE(pubsub::HasIndex::has(index.find(id_of(10), at(5s)), c));
}

TEST_CASE("pubsub has-index: slots are bounded", "[unit][pubsub]") {
    pubsub::HasIndex index(10);
    for (std::size_t i = 0; i < pubsub::HasIndex::slots; ++i) REQUIRE(index.acquire());
    CHECK_FALSE(index.acquire());
    index.release(5);
    CHECK(index.acquire() == std::optional<pubsub::HasIndex::Slot>(5));
}

TEST_CASE("pubsub mcache: windows, gossip ids and the serve limit", "[unit][pubsub]") {
    auto const a = pubsub::topic_key("a");
    auto const b = pubsub::topic_key("b");
    pubsub::MessageCache mc(5, 3);
    mc.put(id_of(1), a, core::to_bytes("one"));
    mc.put(id_of(2), b, core::to_bytes("two"));
    mc.shift();
    mc.put(id_of(3), a, core::to_bytes("three"));
    CHECK(mc.gossip_ids(a) == std::vector{id_of(3), id_of(1)});
    CHECK(mc.gossip_ids(b) == std::vector{id_of(2)});
    mc.shift();
    mc.shift();  // id 1 is now 3 windows old: served, no longer gossiped
    CHECK(mc.gossip_ids(a) == std::vector{id_of(3)});
    REQUIRE(mc.get(id_of(1)) != nullptr);
    CHECK(*mc.get(id_of(1)) == core::to_bytes("one"));
    mc.shift();
    CHECK(mc.get(id_of(1)) != nullptr);
    mc.shift();  // 5 windows: gone
    CHECK(mc.get(id_of(1)) == nullptr);
    CHECK(mc.get(id_of(3)) != nullptr);
    CHECK(mc.size() == 1);

    core::NodeId peer1, peer2;
    peer1.bytes[0] = std::byte{1};
    peer2.bytes[0] = std::byte{2};
    using S = pubsub::MessageCache::Serve;
    for (int i = 0; i < 3; ++i) CHECK(mc.serve(id_of(3), peer1, 3).first == S::ok);
    CHECK(mc.serve(id_of(3), peer1, 3).first == S::over_limit);
    CHECK(mc.serve(id_of(3), peer2, 3).first == S::ok);
    CHECK(mc.serve(id_of(9), peer2, 3).first == S::unknown);
}

namespace {
pubsub::Message message(core::Identity const& who, std::string const& topic, std::uint64_t seq, std::int64_t ts,
                        std::size_t size = 10) {
    return pubsub::sign_message(who, pubsub::topic_key(topic), seq, ts, core::Bytes(size, std::byte{7}));
}
core::Identity someone() {
    core::crypto_init();
    return core::Identity::from_seed({});
}
}  // namespace

TEST_CASE("pubsub memory store: (ts, id) order per topic, range and last", "[unit][pubsub]") {
    auto const who = someone();
    pubsub::MemoryMessageStore store;
    std::vector<pubsub::Message> msgs;
    for (int i = 0; i < 10; ++i) msgs.push_back(message(who, "a", i, 1000 - i * 10));  // stored newest first
    msgs.push_back(message(who, "b", 99, 5));
    for (auto const& m : msgs) CHECK(store.put(m) == pubsub::StoreStatus::stored);
    CHECK(store.put(msgs[0]) == pubsub::StoreStatus::duplicate);
    CHECK(store.contains(msgs[3].id));
    CHECK(store.message_count() == 11);

    auto all = store.range(pubsub::topic_key("a"), std::nullopt, 100);
    REQUIRE(all.size() == 10);
    for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].ts_ms < all[i].ts_ms);
    auto page = store.range(pubsub::topic_key("a"), pubsub::StoreCursor{all[3].ts_ms, all[3].id}, 2);
    REQUIRE(page.size() == 2);
    CHECK(page[0].id == all[4].id);
    CHECK(page[1].id == all[5].id);
    auto tail = store.last(pubsub::topic_key("a"), 3);
    REQUIRE(tail.size() == 3);
    CHECK(tail[0].id == all[7].id);
    CHECK(tail[2].id == all[9].id);
    CHECK(store.range(pubsub::topic_key("b"), std::nullopt, 10).size() == 1);
    CHECK(store.last(pubsub::topic_key("none"), 10).empty());
}

TEST_CASE("pubsub memory store: bounded by count and bytes, oldest dropped", "[unit][pubsub]") {
    auto const who = someone();
    SECTION("count") {
        pubsub::MemoryMessageStore store(5);
        std::vector<pubsub::Message> msgs;
        for (int i = 0; i < 8; ++i) msgs.push_back(message(who, "a", i, 100 + i));
        for (auto const& m : msgs) store.put(m);
        CHECK(store.message_count() == 5);
        for (int i = 0; i < 3; ++i) CHECK_FALSE(store.contains(msgs[i].id));
        for (int i = 3; i < 8; ++i) CHECK(store.contains(msgs[i].id));
        CHECK(store.dropped() == 3);
        // Older than everything a full store keeps: refused, nothing dropped.
        CHECK(store.put(message(who, "a", 50, 1)) == pubsub::StoreStatus::full);
        CHECK(store.message_count() == 5);
    }
    SECTION("bytes") {
        auto const one = message(who, "a", 0, 0, 100).encoded.size();
        pubsub::MemoryMessageStore store(1000, 3 * one);
        for (int i = 0; i < 5; ++i) store.put(message(who, "a", i, i, 100));
        CHECK(store.message_count() == 3);
        CHECK(store.bytes() == 3 * one);
        CHECK(store.put(message(who, "a", 9, 9, 10'000)) == pubsub::StoreStatus::full);
    }
}
