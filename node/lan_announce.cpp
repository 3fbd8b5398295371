// node::lan: the announcement codec, LAN address classes, the inbox filter and the schedule
// (see lan_announce.hpp). Pure: no sockets, no clock.
#include "node/lan_announce.hpp"

#include <algorithm>
#include <cstring>

namespace node::lan {

namespace {
constexpr std::array<std::byte, 4> magic{std::byte{'K'}, std::byte{'d'}, std::byte{'L'}, std::byte{'A'}};
constexpr std::byte version{1};
}  // namespace

core::Bytes encode(Announcement const& a) {
    core::Bytes out(magic.begin(), magic.end());
    out.push_back(version);
    out.push_back(static_cast<std::byte>(a.port >> 8));
    out.push_back(static_cast<std::byte>(a.port & 0xff));
    out.insert(out.end(), a.id.bytes.begin(), a.id.bytes.end());
    return out;
}

std::optional<Announcement> decode(core::ByteView bytes) {
    if (bytes.size() < announcement_size || bytes.size() > announcement_max) return std::nullopt;
    if (!std::equal(magic.begin(), magic.end(), bytes.begin())) return std::nullopt;
    // A later version must keep this prefix to be read; version 0 does not exist.
    if (bytes[4] == std::byte{0}) return std::nullopt;
    Announcement a;
    a.port = static_cast<std::uint16_t>((std::to_integer<unsigned>(bytes[5]) << 8) | std::to_integer<unsigned>(bytes[6]));
    std::memcpy(a.id.bytes.data(), bytes.data() + 7, core::NodeId::size);
    return a;
}

bool is_lan_address(core::Endpoint const& e) {
    auto const& b = e.addr;
    if (e.is_v4()) {
        return b[0] == 127 || b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
               (b[0] == 169 && b[1] == 254);
    }
    if (e.is_loopback()) return true;
    return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

Inbox::Inbox(core::NodeId self, InboxConfig config) : self_(self), config_(config), tokens_(config.burst) {
    seen_.reserve(config_.remembered_max);
}

Verdict Inbox::receive(core::Instant now, core::Endpoint const& source, core::ByteView bytes,
                       std::function<bool(core::Endpoint const&)> const& known, core::Endpoint* found) {
    auto verdict = [&](Verdict v) {
        ++counts_[static_cast<std::size_t>(v)];
        return v;
    };
    auto const a = decode(bytes);
    if (!a) return verdict(Verdict::malformed);
    if (a->id == self_) return verdict(Verdict::self);
    core::Endpoint address = source;
    address.port = a->port;
    if (a->port == 0 || !is_lan_address(address)) return verdict(Verdict::not_lan);
    if (known && known(address)) return verdict(Verdict::known);
    // Repeats are checked before the rate limit: the LAN's normal re-announcements must
    // not use up the tokens that newcomers need.
    if (seen_recently(now, address)) return verdict(Verdict::repeat);
    if (!take_token(now)) return verdict(Verdict::flood);
    remember(now, address);
    *found = address;
    return verdict(Verdict::accepted);
}

bool Inbox::take_token(core::Instant now) {
    double const elapsed = core::to_seconds(now - refilled_);
    if (elapsed > 0) tokens_ = std::min(config_.burst, tokens_ + elapsed * config_.rate_per_s);
    refilled_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

bool Inbox::seen_recently(core::Instant now, core::Endpoint const& e) {
    auto it = std::find_if(seen_.begin(), seen_.end(), [&](Seen const& s) { return s.address == e; });
    return it != seen_.end() && now - it->at < config_.repeat_window;
}

void Inbox::remember(core::Instant now, core::Endpoint const& e) {
    auto it = std::find_if(seen_.begin(), seen_.end(), [&](Seen const& s) { return s.address == e; });
    if (it != seen_.end()) {
        it->at = now;
        return;
    }
    if (seen_.size() < config_.remembered_max) {
        seen_.push_back({e, now});
        return;
    }
    // Full: the oldest entry makes room (a linear scan of at most remembered_max).
    auto oldest = std::min_element(seen_.begin(), seen_.end(), [](Seen const& x, Seen const& y) { return x.at < y.at; });
    *oldest = {e, now};
}

std::vector<AnnounceOn> choose_interfaces(std::vector<core::Endpoint> const& listen,
                                          std::vector<InterfaceAddress> const& interfaces) {
    std::vector<AnnounceOn> out;
    for (auto const& l : listen) {
        for (auto const& i : interfaces) {
            if (!i.up || !i.multicast || i.address.family != l.family || !is_lan_address(i.address)) continue;
            bool const link_local_v6 = !i.address.is_v4() && i.address.addr[0] == 0xfe;
            if (link_local_v6) continue;
            if (!l.is_unspecified() && i.address.addr != l.addr) continue;
            bool const dup = std::any_of(out.begin(), out.end(), [&](AnnounceOn const& o) {
                return o.index == i.index && o.local.family == i.address.family;
            });
            if (dup) continue;
            AnnounceOn a{i.name, i.index, i.address};
            a.local.port = l.port;
            out.push_back(std::move(a));
        }
    }
    return out;
}

core::Duration AnnounceSchedule::next(std::size_t peers, core::Rng& rng) {
    if (peers < thin_peers) return thin_.next(rng);
    thin_.reset();
    return settled_.next(rng);
}

}  // namespace node::lan
