// Choking (docs/protocol.md, "Choking"): which of a topic's mesh peers push whole messages
// to us and which only announce them. Each copy of a message beyond the first is a
// duplicate, and in a mesh of D to D_hi peers most of them are: each node receives a
// message from nearly every mesh peer. So each subscriber ranks its mesh peers by how many
// new messages each brought first over the last window and asks all but the best
// choke_keep to choke (announce each message in an IHAVE at once instead of sending it).
// The mesh itself does not change: a choked peer still carries every message one IHAVE
// away, so losing a pusher costs a round trip (IWANT), never a message, and a choked peer
// whose announcements keep arriving first is unchoked at the next decision.
// Not here: the mesh (router_mesh.cpp) and heartbeat gossip to non-mesh peers
// (router_heartbeat.cpp); the receive path calls note_first and push_or_announce.
#include "pubsub/router_impl.hpp"

#include <algorithm>

namespace pubsub {

void Router::Impl::on_choke(core::Instant /*now*/, PeerState& p, Choke const& c) {
    ++stats.control_count(c.choke ? ControlType::choke : ControlType::unchoke, Direction::in);
    auto t = topics.find(c.topic);
    if (t == topics.end() || !t->second.mesh.contains(p.id)) {
        ++stats.drop(DropReason::choke_not_mesh);
        return;
    }
    if (c.choke) t->second.choked_us.insert(p.id);
    else t->second.choked_us.erase(p.id);
}

void Router::Impl::note_first(TopicState& topic, NodeId const& from) {
    ++topic.window_messages;
    if (topic.mesh.contains(from)) ++topic.firsts[from];
}

// The first hop ignores chokes: it is where a message enters the mesh (a cold publisher's
// link, a flood target), and pushers are chosen by who brings messages first, so a node
// that happens to be the entry may be a pusher to few of its mesh peers; announcing from
// there would cost the message a round trip per hop until it reaches a pusher. In the
// simulator (2,000 nodes) this took the p99 delivery latency from 368 back to 303 ms
// (choking off: 280 ms) for 0.07 more duplicates per delivery.
void Router::Impl::push_or_announce(TopicKey const& key, TopicState const& topic, PeerState& to, MessageId const& id,
                                    core::Bytes const& encoded, bool first_hop) {
    if (first_hop || !topic.choked_us.contains(to.id)) {
        out(to.link, links::Priority::forward).messages.push_back(encoded);
        ++stats.forwarded;
        return;
    }
    // With the forwards, not behind heartbeat gossip: the announcement must arrive when the
    // message would have, or the peer's fallback to IWANT costs more than a round trip.
    auto& ihave = out(to.link, links::Priority::forward).ihave;
    if (ihave.empty() || ihave.back().topic != key) {
        ihave.push_back(IHave{key, {}});
        ++stats.control_count(ControlType::ihave, Direction::out);
    }
    ihave.back().ids.push_back(id);
    ++stats.lazy_ihave_ids;
}

void Router::Impl::forget_choke(TopicState& topic, NodeId const& id) {
    topic.choked.erase(id);
    topic.choked_us.erase(id);
    topic.firsts.erase(id);
}

void Router::Impl::set_choke(TopicKey const& key, TopicState& topic, NodeId const& id, bool choke) {
    if (topic.choked.contains(id) == choke) return;
    if (choke) topic.choked.insert(id);
    else topic.choked.erase(id);
    out(peer(id)->link, links::Priority::control).choke.push_back(Choke{key, choke});
    ++stats.control_count(choke ? ControlType::choke : ControlType::unchoke, Direction::out);
}

void Router::Impl::maintain_chokes(TopicKey const& key, TopicState& topic) {
    auto const gone = [&](NodeId const& id) { return !topic.mesh.contains(id); };
    std::erase_if(topic.choked, gone);
    std::erase_if(topic.choked_us, gone);
    std::erase_if(topic.firsts, [&](auto const& entry) { return gone(entry.first); });
    if (!config.choke) {
        for (auto const& id : std::set<NodeId>(topic.choked)) set_choke(key, topic, id, false);
        return;
    }
    std::size_t const keep = std::min(config.choke_keep, topic.mesh.size());
    bool const decide = topic.window_messages >= config.choke_min_messages;
    bool const short_of_pushers = topic.mesh.size() - topic.choked.size() < keep;
    if (!decide && !short_of_pushers) return;
    // Most firsts first; on equal counts the unchoked stay ahead (no flapping on equal
    // evidence), and among those the order is random (no bias by node id).
    std::vector<NodeId> ranked(topic.mesh.begin(), topic.mesh.end());
    for (std::size_t i = ranked.size(); i > 1; --i) std::swap(ranked[i - 1], ranked[rng.uniform(i)]);
    auto const firsts_of = [&](NodeId const& id) {
        auto f = topic.firsts.find(id);
        return f == topic.firsts.end() ? 0u : f->second;
    };
    std::stable_sort(ranked.begin(), ranked.end(), [&](NodeId const& a, NodeId const& b) {
        auto const fa = firsts_of(a), fb = firsts_of(b);
        if (fa != fb) return fa > fb;
        return !topic.choked.contains(a) && topic.choked.contains(b);
    });
    for (std::size_t i = 0; i < ranked.size(); ++i) {
        bool const push = i < keep;
        // Between decisions only unchoking happens (a pusher left the mesh).
        if (push || decide) set_choke(key, topic, ranked[i], !push);
    }
    if (decide) {
        topic.firsts.clear();
        topic.window_messages = 0;
    }
}

}  // namespace pubsub
