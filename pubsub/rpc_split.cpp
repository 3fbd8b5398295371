// Cuts one outgoing Rpc into frames that respect the wire bounds of RpcLimits (counts per
// frame) and a soft cap on message bytes per frame. The router batches everything it has
// for a link and priority into one Rpc; this keeps each frame decodable by the peer.
#include "core/assert.hpp"
#include "pubsub/router_impl.hpp"

#include <algorithm>

namespace pubsub {

namespace {

class FrameBuilder {
public:
    FrameBuilder(RpcLimits const& limits, std::size_t message_bytes_max)
        : limits_(limits), message_bytes_max_(message_bytes_max) {
        frames_.emplace_back();
    }

    void subscription(SubOpt const& s) {
        if (cur().subscriptions.size() >= limits_.subscriptions_max) next();
        cur().subscriptions.push_back(s);
    }
    // After the subscriptions, so a record never reaches a peer before the SubOpt of its topic.
    void record(PeerRecord r) {
        if (cur().records.size() >= limits_.records_max) next();
        cur().records.push_back(std::move(r));
    }
    void message(core::Bytes m) {
        if (cur().messages.size() >= limits_.messages_max ||
            (!cur().messages.empty() && message_bytes_ + m.size() > message_bytes_max_)) {
            next();
        }
        message_bytes_ += m.size();
        cur().messages.push_back(std::move(m));
    }
    void graft(Graft const& g) {
        if (control_entries_ >= limits_.topics_per_control_max) next();
        ++control_entries_;
        cur().graft.push_back(g);
    }
    void choke(Choke const& c) {
        if (control_entries_ >= limits_.topics_per_control_max) next();
        ++control_entries_;
        cur().choke.push_back(c);
    }
    void prune(Prune p) {
        if (control_entries_ >= limits_.topics_per_control_max) next();
        ++control_entries_;
        // Records are signed: whole ones are dropped to fit, never trimmed.
        if (p.px.size() > limits_.px_max) p.px.resize(limits_.px_max);
        cur().prune.push_back(std::move(p));
    }
    void ihave(IHave const& h) {
        std::size_t i = 0;
        while (i < h.ids.size()) {
            if (control_entries_ >= limits_.topics_per_control_max || ihave_ids_ >= limits_.ihave_ids_max) next();
            ++control_entries_;
            IHave part{h.topic, {}};
            while (i < h.ids.size() && ihave_ids_ < limits_.ihave_ids_max) {
                part.ids.push_back(h.ids[i++]);
                ++ihave_ids_;
            }
            cur().ihave.push_back(std::move(part));
        }
    }
    void iwant(MessageId const& id) {
        if (iwant_ids_ >= limits_.iwant_ids_max) next();
        if (cur().iwant.empty()) cur().iwant.emplace_back();
        cur().iwant.back().ids.push_back(id);
        ++iwant_ids_;
    }
    void idontwant(MessageId const& id) {
        if (idontwant_ids_ >= limits_.idontwant_ids_max) next();
        if (cur().idontwant.empty()) cur().idontwant.emplace_back();
        cur().idontwant.back().ids.push_back(id);
        ++idontwant_ids_;
    }
    std::vector<Rpc> take() { return std::move(frames_); }

private:
    Rpc& cur() { return frames_.back(); }
    void next() {
        frames_.emplace_back();
        message_bytes_ = control_entries_ = ihave_ids_ = iwant_ids_ = idontwant_ids_ = 0;
    }

    RpcLimits const& limits_;
    std::size_t message_bytes_max_;
    std::vector<Rpc> frames_;
    std::size_t message_bytes_ = 0;
    std::size_t control_entries_ = 0;
    std::size_t ihave_ids_ = 0;
    std::size_t iwant_ids_ = 0;
    std::size_t idontwant_ids_ = 0;
};

// Each flood hint rides in the frame that carries its message (only own messages have
// hints, and a frame holds at most messages_max of them, so at most that many hints).
void attach_flood_hints(std::vector<Rpc>& frames, std::vector<FloodHint> hints) {
    if (hints.empty()) return;
    for (auto& frame : frames) {
        for (auto const& m : frame.messages) {
            auto const seqno = envelope_seqno(m);
            auto h = std::find_if(hints.begin(), hints.end(), [&](FloodHint const& x) { return x.seqno == seqno; });
            if (h == hints.end()) continue;
            frame.flooded.push_back(std::move(*h));
            hints.erase(h);
        }
    }
}

}  // namespace

std::vector<Rpc> split_rpc(Rpc rpc, RpcLimits const& limits, std::size_t message_bytes_max) {
    FrameBuilder b(limits, message_bytes_max);
    // Subscriptions and control first, so a peer learns our topics before our messages.
    for (auto const& s : rpc.subscriptions) b.subscription(s);
    for (auto& r : rpc.records) b.record(std::move(r));
    for (auto const& g : rpc.graft) b.graft(g);
    for (auto& p : rpc.prune) b.prune(std::move(p));
    for (auto const& c : rpc.choke) b.choke(c);
    for (auto const& d : rpc.idontwant) for (auto const& id : d.ids) b.idontwant(id);
    for (auto const& h : rpc.ihave) b.ihave(h);
    for (auto const& w : rpc.iwant) for (auto const& id : w.ids) b.iwant(id);
    for (auto& m : rpc.messages) b.message(std::move(m));
    // Catch-up entries travel alone, one per frame: each is already bounded in size by its
    // maker (a reconciliation message, ids_max ids, or reply_bytes_max of envelopes).
    auto frames = b.take();
    for (auto& s : rpc.sync) frames.emplace_back().sync.push_back(std::move(s));
    for (auto& f : rpc.fetch) frames.emplace_back().fetch.push_back(std::move(f));
    for (auto& f : rpc.fetched) frames.emplace_back().fetched.push_back(std::move(f));
    attach_flood_hints(frames, std::move(rpc.flooded));
    std::erase_if(frames, [](Rpc const& r) { return r.empty(); });
    return frames;
}

}  // namespace pubsub
