// Writes the generated part of the fuzz corpus (tests/fuzz/corpus/<target>/): one valid
// input per message type, framed as each target expects, plus a few junk inputs. Run it
// again when the wire format changes; the files are small and checked in. Not a fuzzer.
// Usage: fuzz_make_corpus DIR   (DIR is usually tests/fuzz/corpus)
#include "core/crypto.hpp"
#include "core/signer.hpp"
#include "dht/wire.hpp"
#include "pubsub/envelope.hpp"
#include "pubsub/rpc.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using dht::wire::Message;
using dht::wire::MsgType;

dht::Contact contact(std::uint8_t n) {
    core::PublicKey pk{};
    pk.bytes[0] = std::byte{n};
    return dht::Contact::make(pk, core::Endpoint::v4(10, 0, n, 1, 4000));
}

std::vector<std::pair<std::string, Message>> messages() {
    std::vector<std::pair<std::string, Message>> out;
    Message m;
    m.txid = 7;
    m.target.bytes[0] = std::byte{0x5a};
    m.type = MsgType::ping;
    out.emplace_back("ping", m);
    m.type = MsgType::pong;
    m.observed = core::Endpoint::v4(127, 0, 0, 1, 4000);
    out.emplace_back("pong", m);
    m.observed.reset();
    m.type = MsgType::find_node;
    out.emplace_back("find_node", m);
    m.type = MsgType::nodes;
    m.nodes = {contact(2), contact(3), contact(4)};
    out.emplace_back("nodes", m);
    m.type = MsgType::find_value;
    m.nodes.clear();
    out.emplace_back("find_value", m);
    m.type = MsgType::values;
    m.nodes = {contact(5)};
    m.values = {core::Bytes(3, std::byte{'v'}), core::Bytes(40, std::byte{'w'})};
    out.emplace_back("values", m);
    m.nodes.clear();
    m.values.clear();
    m.type = MsgType::store;
    m.value = std::make_shared<core::Bytes const>(core::Bytes(16, std::byte{'s'}));
    m.ttl_s = 60;
    out.emplace_back("store", m);
    m.want_nodes = true;  // a put's search query, and its answer with nodes
    out.emplace_back("store_want_nodes", m);
    m.want_nodes = false;
    m.value.reset();
    m.type = MsgType::stored;
    m.accepted = true;
    out.emplace_back("stored", m);
    m.want_nodes = true;
    m.nodes = {contact(6), contact(7)};
    out.emplace_back("stored_nodes", m);
    return out;
}

core::Identity identity(std::uint8_t n) {
    std::array<std::byte, 32> seed{};
    seed[0] = std::byte{n};
    return core::Identity::from_seed(seed);
}

core::NodeId topic_of(std::uint8_t n) {
    core::NodeId t;
    t.bytes.fill(std::byte{n});
    return t;
}

// A peer record of identity `n` for `topic`, signed (Rpc v5: PX and Rpc::records).
pubsub::PeerRecord record(std::uint8_t n, core::NodeId const& topic) {
    core::IdentitySigner signer(identity(n));
    return dht::make_provider_record(signer, topic,
                                     {core::Endpoint::v4(10, 0, n, 1, 4000), *core::Endpoint::parse("[2001:db8::1]:4000")},
                                     1'800'000'000'000);
}

// fuzz_pubsub_rpc: one valid frame of each kind at the current Rpc version, and one that
// has every field.
std::vector<std::pair<std::string, pubsub::Rpc>> rpcs() {
    std::vector<std::pair<std::string, pubsub::Rpc>> out;
    out.emplace_back("empty", pubsub::Rpc{});
    pubsub::Rpc r;
    r.subscriptions = {{topic_of(1), true}, {topic_of(2), false}};
    out.emplace_back("subscriptions", r);
    pubsub::Rpc one;
    one.messages = {pubsub::sign_message(identity(3), topic_of(1), 7, 1'700'000'000'000, core::to_bytes("hello")).encoded};
    out.emplace_back("one_message", one);
    pubsub::Rpc g;
    g.graft = {{topic_of(3)}, {topic_of(4)}};
    out.emplace_back("graft", g);
    pubsub::Rpc px;
    px.prune = {{topic_of(1), {record(5, topic_of(1)), record(6, topic_of(1))}, 60}, {topic_of(2), {}, 0}};
    out.emplace_back("prune_px", px);
    pubsub::Rpc gossip;
    core::NodeId id;
    id.bytes.fill(std::byte{0x31});
    gossip.ihave = {{topic_of(1), {id, topic_of(9)}}};
    gossip.iwant = {{{id}}};
    gossip.idontwant = {{{topic_of(9)}}};
    out.emplace_back("gossip", gossip);
    pubsub::Rpc records;
    records.subscriptions = {{topic_of(1), true}};
    records.records = {record(7, topic_of(1))};
    out.emplace_back("records", records);
    pubsub::Rpc flooded;
    flooded.messages = one.messages;
    flooded.flooded = {{7, {1, 2, 0xffffffffffffffffull}}};
    out.emplace_back("flooded", flooded);
    pubsub::Rpc choke;
    choke.choke = {{topic_of(1), true}, {topic_of(2), false}};
    out.emplace_back("choke", choke);
    pubsub::Rpc all = r;
    all.messages = one.messages;
    all.graft = g.graft;
    all.prune = px.prune;
    all.ihave = gossip.ihave;
    all.iwant = gossip.iwant;
    all.idontwant = gossip.idontwant;
    all.sync = {{1, pubsub::SyncKind::request, topic_of(1), 1'700'000'000'000, 1'700'000'060'000, core::Bytes(8, std::byte{1})}};
    all.fetch = {{2, topic_of(1), {id}, 0, 0, std::nullopt, 0}, {3, topic_of(1), {}, 0, 1, pubsub::StoreCursor{5, id}, 100}};
    all.fetched = {{2, one.messages, pubsub::StoreCursor{6, id}}};
    all.records = records.records;
    all.flooded = flooded.flooded;
    all.choke = choke.choke;
    out.emplace_back("everything", all);
    return out;
}

void write(std::filesystem::path const& path, core::Bytes const& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<char const*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

core::Bytes junk(std::size_t n, std::uint8_t seed) {
    core::Bytes b(n);
    std::uint8_t x = seed;
    for (auto& v : b) {
        x = static_cast<std::uint8_t>(x * 37 + 11);
        v = std::byte{x};
    }
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    core::crypto_init();
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_make_corpus DIR\n");
        return 2;
    }
    std::filesystem::path root = argv[1];
    auto wire_dir = root / "fuzz_dht_wire";
    auto node_dir = root / "fuzz_dht_node";
    std::filesystem::create_directories(wire_dir);
    std::filesystem::create_directories(node_dir);
    core::PublicKey sender{};
    sender.bytes[0] = std::byte{9};
    for (auto const& [name, m] : messages()) {
        auto body = dht::wire::encode(m);
        write(wire_dir / ("msg-" + name), body);
        auto fragment = dht::wire::encode_fragment(1, 0, 1, body);
        write(wire_dir / ("fragment-" + name), fragment);
        // fuzz_dht_node: an odd first byte seals the rest as a packet from a fixed peer.
        core::Bytes sealed{std::byte{1}};
        sealed.insert(sealed.end(), fragment.begin(), fragment.end());
        write(node_dir / ("sealed-" + name), sealed);
    }
    write(wire_dir / "hello", dht::wire::encode_hello(sender, 7));
    core::Bytes raw_hello{std::byte{0}};
    auto hello = dht::wire::encode_hello(sender, 7);
    raw_hello.insert(raw_hello.end(), hello.begin(), hello.end());
    write(node_dir / "raw-hello", raw_hello);
    for (std::uint8_t i = 0; i < 3; ++i) {
        write(wire_dir / ("junk-" + std::to_string(i)), junk(17 + 60 * i, i));
        write(node_dir / ("junk-" + std::to_string(i)), junk(17 + 60 * i, i));
    }
    write(wire_dir / "empty", {});
    auto rpc_dir = root / "fuzz_pubsub_rpc";
    std::filesystem::create_directories(rpc_dir);
    for (auto const& [name, rpc] : rpcs()) {
        core::Bytes frame;
        pubsub::encode(rpc, frame);
        write(rpc_dir / name, frame);
    }
    std::printf("corpus written under %s\n", root.c_str());
    return 0;
}
