// Counters of the engine's own work: the links it opens, accepts, refuses and cuts, and
// the bytes and frames they carry. The DHT and pub/sub cores count their own
// (dht::Stats, pubsub::Stats); the host reads all three for metrics.
#pragma once

#include "link/session.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace node {

// Why a link ended or was refused: links::CloseReason for sessions, plus the engine's own.
enum class LinkEnd : std::uint8_t {
    handshake_failed = 0,
    handshake_timeout,
    decrypt_failed,
    frame_too_large,
    slow_peer,
    closed_by_peer,
    local,              // this node closed it (router prune of a duplicate, unsubscribe, shutdown)
    duplicate,          // a second link to a peer already linked
    too_many_links,     // refused at accept or dial: links_max reached
    handshake_rate,     // refused at accept: the source address started too many handshakes
    connect_failed,     // an outbound stream closed before its handshake finished
    bad_frame,          // a frame that did not decode as an Rpc
    count
};
char const* to_string(LinkEnd e);
LinkEnd link_end_of(links::CloseReason r);

struct EngineStats {
    std::uint64_t streams_opened_out = 0;
    std::uint64_t streams_accepted = 0;
    std::uint64_t links_established = 0;
    std::array<std::uint64_t, static_cast<std::size_t>(LinkEnd::count)> link_ends{};
    // Summed over finished sessions; live sessions are added by Engine::link_totals().
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t frames_in = 0;
    std::uint64_t frames_out = 0;
    std::array<std::uint64_t, static_cast<std::size_t>(links::DropReason::count)> frames_dropped{};
    // Rpcs that encoded above the link's frame size limit and were not sent.
    std::uint64_t frames_too_large_out = 0;
};

}  // namespace node
