// node::LanDiscovery: multicast sockets and the announce timer (see lan_discovery.hpp).
// One sending socket per chosen interface, bound to the interface's address so that the
// datagram's source is an address peers can reach; one receiving socket per family, bound
// to the group and port (SO_REUSEADDR: every node on a host gets its own copy) and joined
// on the chosen interfaces only (IP_MULTICAST_ALL off, so groups joined by other sockets
// of the process are not delivered to it).
#include "node/lan_discovery.hpp"

#include "node/net.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <spdlog/spdlog.h>

#include <cstring>

namespace node {

namespace {
using udp = asio::ip::udp;

udp::endpoint group_endpoint(bool v4) {
    if (v4) return {asio::ip::address_v4(lan::group_v4), lan::group_port};
    return {asio::ip::address_v6(lan::group_v6), lan::group_port};
}
}  // namespace

struct LanDiscovery::Sender {
    explicit Sender(asio::io_context& io) : socket(io) {}
    udp::socket socket;
    lan::AnnounceOn on;
    core::Bytes datagram;
};

struct LanDiscovery::Receiver {
    explicit Receiver(asio::io_context& io) : socket(io) {}
    udp::socket socket;
    std::array<std::byte, lan::announcement_max> buffer{};
    udp::endpoint from;
};

std::vector<lan::InterfaceAddress> list_interfaces() {
    std::vector<lan::InterfaceAddress> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr) continue;
        lan::InterfaceAddress a;
        a.name = i->ifa_name;
        a.index = ::if_nametoindex(i->ifa_name);
        a.up = (i->ifa_flags & IFF_UP) != 0;
        a.multicast = (i->ifa_flags & IFF_MULTICAST) != 0;
        if (i->ifa_addr->sa_family == AF_INET) {
            auto const* sin = reinterpret_cast<sockaddr_in const*>(i->ifa_addr);
            asio::ip::address_v4::bytes_type b;
            std::memcpy(b.data(), &sin->sin_addr, 4);
            a.address = from_asio(asio::ip::address_v4(b), 0);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            auto const* sin6 = reinterpret_cast<sockaddr_in6 const*>(i->ifa_addr);
            asio::ip::address_v6::bytes_type b;
            std::memcpy(b.data(), &sin6->sin6_addr, 16);
            a.address = from_asio(asio::ip::address_v6(b), 0);
        } else {
            continue;
        }
        out.push_back(std::move(a));
    }
    ::freeifaddrs(list);
    return out;
}

LanDiscovery::LanDiscovery(asio::io_context& io, core::NodeId self, core::Rng rng, Hooks hooks)
    : io_(io), self_(self), rng_(std::move(rng)), hooks_(std::move(hooks)), inbox_(self), timer_(io) {}

LanDiscovery::~LanDiscovery() = default;

void LanDiscovery::start(std::vector<core::Endpoint> const& listen) {
    auto const chosen = lan::choose_interfaces(listen, list_interfaces());
    if (chosen.empty()) {
        spdlog::info("lan discovery: on, but no listen address is on an up, multicast-capable private or loopback "
                     "interface; not announcing (use --bootstrap)");
        return;
    }
    std::string where;
    for (auto const& on : chosen) {
        boost::system::error_code ec;
        auto s = std::make_unique<Sender>(io_);
        bool const v4 = on.local.is_v4();
        s->on = on;
        s->datagram = lan::encode({on.local.port, self_});
        auto local = to_udp(on.local);
        local.port(0);
        s->socket.open(local.protocol(), ec);
        if (!ec) s->socket.bind(local, ec);
        if (!ec && v4) s->socket.set_option(asio::ip::multicast::outbound_interface(local.address().to_v4()), ec);
        if (!ec && !v4) s->socket.set_option(asio::ip::multicast::outbound_interface(on.index), ec);
        // One hop: announcements never cross a router.
        if (!ec) s->socket.set_option(asio::ip::multicast::hops(1), ec);
        // Other nodes on this host hear it through the loop (our own copy is counted as self).
        if (!ec) s->socket.set_option(asio::ip::multicast::enable_loopback(true), ec);
        if (!ec) s->socket.non_blocking(true, ec);
        if (ec) {
            spdlog::warn("lan discovery: cannot announce on {} ({}): {}", on.interface, on.local.to_string(), ec.message());
            continue;
        }
        where += (where.empty() ? "" : ", ") + on.interface + " (" + on.local.to_string() + ")";
        senders_.push_back(std::move(s));
    }
    std::vector<lan::AnnounceOn> v4_on, v6_on;
    for (auto const& on : chosen) (on.local.is_v4() ? v4_on : v6_on).push_back(on);
    if (!v4_on.empty()) open_receiver(true, v4_on);
    if (!v6_on.empty()) open_receiver(false, v6_on);
    spdlog::info("lan discovery: announcing on {}", where.empty() ? "nothing (see the warnings above)" : where);
    // The first announcement soon, with jitter so that nodes started together spread out.
    arm_announce(core::Duration(static_cast<core::Duration::rep>(rng_.between(50'000, 300'000))));
}

void LanDiscovery::open_receiver(bool v4, std::vector<lan::AnnounceOn> const& on) {
    auto r = std::make_unique<Receiver>(io_);
    boost::system::error_code ec;
    auto const group = group_endpoint(v4);
    // IPv4 binds to the group itself (no unicast to this port is delivered); IPv6 binds
    // the port on [::], as a link-local group would need a scope to bind.
    udp::endpoint const bind_to = v4 ? group : udp::endpoint(asio::ip::address_v6::any(), lan::group_port);
    r->socket.open(bind_to.protocol(), ec);
    if (!ec) r->socket.set_option(udp::socket::reuse_address(true), ec);
    if (!ec && !v4) r->socket.set_option(asio::ip::v6_only(true), ec);
    if (!ec) {
        int off = 0;
        int const rc = v4 ? ::setsockopt(r->socket.native_handle(), IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off)
                          : ::setsockopt(r->socket.native_handle(), IPPROTO_IPV6, IPV6_MULTICAST_ALL, &off, sizeof off);
        if (rc != 0) ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) r->socket.bind(bind_to, ec);
    if (ec) {
        spdlog::warn("lan discovery: cannot listen for announcements on {}: {}", group.address().to_string(), ec.message());
        return;
    }
    std::size_t joined = 0;
    for (auto const& o : on) {
        boost::system::error_code e;
        if (v4) r->socket.set_option(asio::ip::multicast::join_group(group.address().to_v4(), to_asio_address(o.local).to_v4()), e);
        else r->socket.set_option(asio::ip::multicast::join_group(group.address().to_v6(), o.index), e);
        if (e) {
            spdlog::warn("lan discovery: cannot join {} on {}: {}", group.address().to_string(), o.interface, e.message());
            continue;
        }
        ++joined;
    }
    if (joined == 0) return;
    receivers_.push_back(std::move(r));
    do_receive(*receivers_.back());
}

void LanDiscovery::do_receive(Receiver& r) {
    r.socket.async_receive_from(asio::buffer(r.buffer), r.from, [this, &r](boost::system::error_code ec, std::size_t n) {
        if (stopped_ || ec == asio::error::operation_aborted) return;
        if (!ec) {
            core::Endpoint found;
            auto const source = from_udp(r.from);
            auto const verdict = inbox_.receive(hooks_.now(), source, core::ByteView(r.buffer.data(), n), hooks_.known, &found);
            if (verdict == lan::Verdict::accepted) {
                spdlog::debug("lan discovery: {} announced itself; saying hello", found.to_string());
                hooks_.found(found);
            }
        }
        do_receive(r);
    });
}

void LanDiscovery::arm_announce(core::Duration after) {
    timer_.expires_after(after);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        announce();
        arm_announce(schedule_.next(hooks_.peer_count(), rng_));
    });
}

void LanDiscovery::announce() {
    for (auto const& s : senders_) {
        boost::system::error_code ec;
        s->socket.send_to(asio::buffer(s->datagram), group_endpoint(s->on.local.is_v4()), 0, ec);
        if (ec) {
            ++send_failed_;
            spdlog::debug("lan discovery: announcing on {} failed: {}", s->on.interface, ec.message());
        } else {
            ++sent_;
        }
    }
}

void LanDiscovery::stop() {
    stopped_ = true;
    timer_.cancel();
    boost::system::error_code ignored;
    for (auto& s : senders_) s->socket.close(ignored);
    for (auto& r : receivers_) r->socket.close(ignored);
}

LanDiscovery::Counts LanDiscovery::counts() const {
    Counts c{};
    auto const& v = inbox_.counts();
    std::copy(v.begin(), v.end(), c.begin());
    c[sent] = sent_;
    c[send_failed] = send_failed_;
    return c;
}

}  // namespace node
