// Loading and creating the node's identity file in its data dir. The file holds a magic,
// a format version, the ed25519 seed and the public key; it is created with mode 0600 and
// a damaged or foreign file is a clear error, never silently replaced.
#pragma once

#include "core/crypto.hpp"
#include "core/result.hpp"

#include <filesystem>
#include <string>

namespace core {

inline constexpr char identity_file_name[] = "identity.key";

// Reads `dir`/identity.key, or creates it when it does not exist. Errors name the file
// and what is wrong with it.
Result<Identity, std::string> load_or_create_identity(std::filesystem::path const& dir);

}  // namespace core
