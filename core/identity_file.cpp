#include "core/identity_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace core {

namespace {
constexpr char magic[8] = {'K', 'A', 'D', 'M', 'I', 'D', '\0', '\1'};  // last byte: version 1
constexpr std::size_t file_size = 8 + 32 + 32;
}  // namespace

Result<Identity, std::string> load_or_create_identity(std::filesystem::path const& dir) {
    auto path = dir / identity_file_name;
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        std::ifstream in(path, std::ios::binary);
        if (!in) return Err(path.string() + ": cannot open: " + std::strerror(errno));
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (data.size() != file_size || std::memcmp(data.data(), magic, 7) != 0)
            return Err(path.string() + ": not a kadmium identity file (damaged or foreign); move it away to create a new identity");
        if (data[7] != magic[7])
            return Err(path.string() + ": identity file version " + std::to_string(int(data[7])) + " is not supported");
        std::array<std::byte, 32> seed;
        std::memcpy(seed.data(), data.data() + 8, 32);
        auto id = Identity::from_seed(seed);
        if (std::memcmp(id.public_key.bytes.data(), data.data() + 40, 32) != 0)
            return Err(path.string() + ": identity file is damaged (public key does not match the seed)");
        return id;
    }
    auto id = Identity::generate();
    auto tmp = dir / (std::string(identity_file_name) + ".tmp");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return Err(tmp.string() + ": cannot create: " + std::strerror(errno));
    std::string data(magic, sizeof magic);
    auto seed = id.seed();
    data.append(reinterpret_cast<char const*>(seed.data()), 32);
    data.append(reinterpret_cast<char const*>(id.public_key.bytes.data()), 32);
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Err(path.string() + ": cannot write: " + std::strerror(errno));
    return id;
}

}  // namespace core
