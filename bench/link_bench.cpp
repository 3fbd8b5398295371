// link_bench: the CPU cost of links::Session on one core, in memory (no sockets): full
// Noise XX handshakes per second (both ends' work), and frames per second and plaintext
// MB/s through an established pair (encrypt, frame, parse, decrypt) for 200 B and 64 KiB
// frames. Figures per CPU second of the process. A measurement program, not a test.
//
//   link_bench [--seconds S]   (default 2 per figure)
#include "core/crypto.hpp"
#include "link/session.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <time.h>

using namespace std::chrono_literals;

namespace {

core::Identity identity(std::uint8_t n) {
    std::array<std::byte, 32> seed{};
    seed.fill(std::byte{n});
    return core::Identity::from_seed(seed);
}

// Figures are per CPU second of this process (the machine is shared; wall time would
// measure the neighbours).
double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}
double since(double start) { return cpu_now() - start; }

// Moves everything both ends have to write until neither has anything.
void pump(links::Session& a, links::Session& b) {
    for (int i = 0; i < 16; ++i) {
        auto ab = a.poll_write(std::size_t(1) << 22);
        if (!ab.empty()) b.handle_bytes({}, ab);
        auto ba = b.poll_write(std::size_t(1) << 22);
        if (!ba.empty()) a.handle_bytes({}, ba);
        if (ab.empty() && ba.empty()) return;
    }
}

void bench_handshakes(double seconds) {
    auto const ia = identity(1);
    auto const ib = identity(2);
    std::array<std::byte, 32> ea{};
    std::array<std::byte, 32> eb{};
    std::uint64_t n = 0;
    double const start = cpu_now();
    while (since(start) < seconds) {
        for (int i = 0; i < 50; ++i, ++n) {
            std::memcpy(ea.data(), &n, sizeof n);  // a fresh ephemeral key each time
            std::memcpy(eb.data() + 8, &n, sizeof n);
            links::Session a(links::Role::initiator, ia, ib.id, ea, {});
            links::Session b(links::Role::responder, ib, std::nullopt, eb, {});
            pump(a, b);
            if (a.state() != links::State::established || b.state() != links::State::established) std::abort();
        }
    }
    double const t = since(start);
    std::printf("handshakes: %.0f /s (%.1f us per handshake, both ends)\n", double(n) / t, t * 1e6 / double(n));
}

void bench_frames(std::size_t frame_size, double seconds) {
    auto const ia = identity(1);
    auto const ib = identity(2);
    links::Session a(links::Role::initiator, ia, ib.id, {}, {});
    links::Session b(links::Role::responder, ib, std::nullopt, std::array<std::byte, 32>{std::byte{1}}, {});
    pump(a, b);
    core::Bytes const frame(frame_size, std::byte{0x42});
    // Batches of about 256 KiB: what one socket write would carry.
    std::size_t const batch = std::max<std::size_t>(1, (256 * 1024) / frame_size);
    std::uint64_t frames = 0;
    double const start = cpu_now();
    while (since(start) < seconds) {
        for (std::size_t i = 0; i < batch; ++i)
            if (!a.send(links::Priority::forward, frame)) std::abort();
        b.handle_bytes({}, a.poll_write(std::size_t(1) << 24));
        while (auto f = b.poll_frame()) {
            if (f->size() != frame_size) std::abort();
            ++frames;
        }
    }
    double const t = since(start);
    std::printf("frames of %6zu B: %9.0f frames/s, %7.1f MB/s plaintext\n", frame_size, double(frames) / t,
                double(frames * frame_size) / t / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: link_bench [--seconds S]\n");
            return 2;
        }
    }
    core::crypto_init();
    bench_handshakes(seconds);
    bench_frames(200, seconds);
    bench_frames(64 * 1024, seconds);
    return 0;
}
