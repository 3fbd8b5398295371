// The pure half of LAN discovery (lan_discovery.hpp is the I/O half): the announcement
// datagram, which source addresses count as "on the LAN", and the inbox filter that turns
// received announcements into addresses worth a hello, dropping and counting the rest.
// An announcement proves nothing: what it names is only contacted through the DHT's
// normal hello exchange, which checks the key. No sockets, no clock: time comes in.
//
// Wire format (39 bytes; longer datagrams of a later version are read by their prefix):
//   "KdLA" | version 1 | DHT port (u16, big-endian) | node id (32 bytes)
// The announced address is the datagram's source IP with the announced port.
#pragma once

#include "core/bytes.hpp"
#include "core/endpoint.hpp"
#include "core/node_id.hpp"
#include "core/time.hpp"
#include "node/backoff.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace node::lan {

inline constexpr std::size_t announcement_size = 39;
// Nothing longer is read (the receive buffer's size).
inline constexpr std::size_t announcement_max = 512;

// IPv4: an administratively scoped group (RFC 2365, stays inside the site). IPv6: a
// link-local scoped group (ff02::/16 never leaves the link).
inline constexpr std::array<std::uint8_t, 4> group_v4{239, 255, 75, 68};
inline constexpr std::array<std::uint8_t, 16> group_v6{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x4b, 0x44};
inline constexpr std::uint16_t group_port = 4442;

struct Announcement {
    std::uint16_t port = 0;
    core::NodeId id;
};

core::Bytes encode(Announcement const& a);
std::optional<Announcement> decode(core::ByteView bytes);

// Loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and link-local (169.254/16,
// fe80::/10) addresses: the only ones announced on, and the only sources accepted.
bool is_lan_address(core::Endpoint const& e);

// What happened to one received datagram; the `result` label of
// kadmium_lan_announcements_total (with sent and send_failed on the sending side).
enum class Verdict : std::uint8_t {
    accepted,    // worth a hello
    malformed,   // not an announcement of a known version
    self,        // our own (multicast loops back to the sender)
    not_lan,     // from a public address, or announcing port 0
    known,       // already in the routing table: no hello needed
    repeat,      // the same address was accepted within repeat_window
    flood,       // over the rate limit
};
inline constexpr std::size_t verdict_count = 7;

struct InboxConfig {
    // Every node re-announces within this window (AnnounceSchedule), so a repeat is
    // expected; it is not contacted again until the window has passed.
    core::Duration repeat_window = std::chrono::seconds(30);
    // Accepted announcements per second (token bucket), and the burst allowed: a LAN
    // where 200 nodes start at once is met at 20 hellos/s; a flood of made-up addresses
    // costs at most that many hellos.
    double rate_per_s = 20;
    double burst = 40;
    // Addresses remembered for repeat detection; the oldest goes when full.
    std::size_t remembered_max = 512;
};

class Inbox {
public:
    Inbox(core::NodeId self, InboxConfig config = {});

    // Judges one datagram from `source`. On `accepted`, `*found` is the address to contact.
    // `known` says whether an address is in the routing table already (then the nodes of a
    // settled LAN do not re-contact each other at every announcement).
    Verdict receive(core::Instant now, core::Endpoint const& source, core::ByteView bytes,
                    std::function<bool(core::Endpoint const&)> const& known, core::Endpoint* found);

    std::array<std::uint64_t, verdict_count> const& counts() const { return counts_; }

private:
    bool take_token(core::Instant now);
    bool seen_recently(core::Instant now, core::Endpoint const& e);
    void remember(core::Instant now, core::Endpoint const& e);

    core::NodeId self_;
    InboxConfig config_;
    double tokens_;
    core::Instant refilled_{};
    struct Seen {
        core::Endpoint address;
        core::Instant at;
    };
    std::vector<Seen> seen_;  // at most remembered_max
    std::array<std::uint64_t, verdict_count> counts_{};
};

// A network interface address as the host reports it (getifaddrs).
struct InterfaceAddress {
    std::string name;
    unsigned index = 0;
    core::Endpoint address;  // port 0
    bool up = false;
    bool multicast = false;
};

// Where to announce: one entry per (interface, family).
struct AnnounceOn {
    std::string interface;
    unsigned index = 0;
    core::Endpoint local;  // the interface's address with the DHT port of the listen address
};

// The interfaces of the listen addresses: for a specific address, the interface that has
// it; for 0.0.0.0 or [::], every interface of that family. Only interfaces that are up and
// multicast-capable, and only LAN addresses (is_lan_address; never public ones). IPv6
// link-local addresses are left out: an address without its scope cannot be contacted,
// so an IPv6 interface is used through its ULA or loopback address.
std::vector<AnnounceOn> choose_interfaces(std::vector<core::Endpoint> const& listen,
                                          std::vector<InterfaceAddress> const& interfaces);

// When to announce: soon after start, then with doubling intervals while the routing
// table is thin (0.5 s up to 30 s), and every 60 s once it is not (so newcomers keep
// hearing the LAN's nodes, and a node that lost its peers starts over fast). Every delay
// has +-25% jitter, so no interface sees more than one announcement per 0.37 s.
class AnnounceSchedule {
public:
    static constexpr std::size_t thin_peers = 8;
    // The delay before the next announcement, given the routing table's size now.
    core::Duration next(std::size_t peers, core::Rng& rng);

private:
    Backoff thin_{std::chrono::milliseconds(500), std::chrono::seconds(30)};
    Backoff settled_{std::chrono::seconds(60), std::chrono::seconds(60)};
};

}  // namespace node::lan
