// Topic keys: BLAKE2b-256("kadmium-topic-v1" ‖ name), the DHT key of a topic's provider
// records and the topic field of every envelope (PUBSUB-NOTES §5). dht::topic_key uses the
// same definition; the unit tests pin it with a known value.
#pragma once

#include "core/crypto.hpp"
#include "pubsub/types.hpp"

#include <string_view>

namespace pubsub {

inline constexpr std::string_view topic_domain = "kadmium-topic-v1";

inline TopicKey topic_key(std::string_view name) {
    core::Bytes input;
    input.reserve(topic_domain.size() + name.size());
    auto const domain = core::as_bytes(topic_domain);
    auto const bytes = core::as_bytes(name);
    input.insert(input.end(), domain.begin(), domain.end());
    input.insert(input.end(), bytes.begin(), bytes.end());
    return core::blake2b_256(input);
}

}  // namespace pubsub
