// node::LanDiscovery: finds other kadmium nodes on the LAN with no bootstrap address to
// hand. It announces this node's DHT address by multicast (IPv4 239.255.75.68, IPv6
// ff02::4b44, UDP port 4442) on the interfaces of its listen addresses that are private
// or loopback (never public ones), on AnnounceSchedule's jittered, bounded schedule, and
// hands each address other nodes announce to `found` (the runtime starts the DHT's hello
// exchange with it: an announcement proves nothing by itself). Announcements from this
// node itself, malformed ones, repeats and floods are dropped and counted (counts()).
// The pure parts (wire format, filter, schedule, interface choice) are lan_announce.hpp;
// this file is the sockets and the timer, on the runtime's io_context.
#pragma once

#include "core/node_id.hpp"
#include "core/rng.hpp"
#include "node/asio.hpp"
#include "node/lan_announce.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace node {

class LanDiscovery {
public:
    // The `result` label values of kadmium_lan_announcements_total, in counts() order:
    // the inbox verdicts, then the sending side.
    static constexpr std::size_t sent = lan::verdict_count;
    static constexpr std::size_t send_failed = lan::verdict_count + 1;
    static constexpr std::size_t result_count = lan::verdict_count + 2;
    using Counts = std::array<std::uint64_t, result_count>;

    struct Hooks {
        std::function<core::Instant()> now;
        std::function<std::size_t()> peer_count;
        std::function<void(core::Endpoint const&)> found;
        std::function<bool(core::Endpoint const&)> known;  // in the routing table already
    };

    LanDiscovery(asio::io_context& io, core::NodeId self, core::Rng rng, Hooks hooks);
    ~LanDiscovery();

    // Opens the sockets for the interfaces of `listen` (the bound addresses, real ports)
    // and starts announcing. Problems (no suitable interface, a socket option refused) are
    // logged, never fatal: the node still runs, discovery does what it can.
    void start(std::vector<core::Endpoint> const& listen);
    void stop();

    Counts counts() const;

private:
    struct Sender;
    struct Receiver;
    void open_receiver(bool v4, std::vector<lan::AnnounceOn> const& on);
    void do_receive(Receiver& r);
    void arm_announce(core::Duration after);
    void announce();

    asio::io_context& io_;
    core::NodeId self_;
    core::Rng rng_;
    Hooks hooks_;
    lan::Inbox inbox_;
    lan::AnnounceSchedule schedule_;
    asio::steady_timer timer_;
    std::vector<std::unique_ptr<Sender>> senders_;
    std::vector<std::unique_ptr<Receiver>> receivers_;
    std::uint64_t sent_ = 0;
    std::uint64_t send_failed_ = 0;
    bool stopped_ = false;
};

// The host's interface addresses (getifaddrs); empty when they cannot be read.
std::vector<lan::InterfaceAddress> list_interfaces();

}  // namespace node
