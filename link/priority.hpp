// The priorities of frames in a link's outgoing queue (PUBSUB-NOTES §7): when a peer
// cannot keep up, IHAVE gossip goes first and control last.
#pragma once

#include <cstddef>
#include <cstdint>

// The namespace is `links`, not `link`: POSIX declares ::link() in <unistd.h>, and a
// namespace of that name fails to compile in any file that includes both.
namespace links {

enum class Priority : std::uint8_t {
    control = 0,      // GRAFT, PRUNE, subscriptions, IDONTWANT, sync/fetch requests
    own_publish = 1,  // messages this node published
    forward = 2,      // messages relayed for others
    iwant_reply = 3,  // messages sent because a peer asked (IWANT, FETCH)
    ihave = 4,        // gossip
};
inline constexpr std::size_t priority_count = 5;

}  // namespace links
