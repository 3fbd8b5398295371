// libFuzzer target: links::Session never crashes, reads out of bounds or breaks its
// bounds on arbitrary input. The first byte picks the role the fuzzer plays:
//   0: bytes from a would-be initiator, fed to a responder (handshake parsing);
//   1: bytes from a would-be responder, fed to an initiator after its message 1;
//   2: bytes fed to an established session after a real handshake (frame parsing);
//   3: a script of sends, partial writes, chunked deliveries and closes between two
//      real sessions (the queue and the output path).
// Checked invariants: queued_bytes() <= send_queue_bytes_max; poll_write returns at most
// what was asked; a closed session writes nothing and has a reason.
#include "core/crypto.hpp"
#include "link/session.hpp"

#include <cstdlib>

namespace {

using namespace std::chrono_literals;

core::Identity const& identity(std::uint8_t n) {
    static core::Identity const ids[2] = {
        core::Identity::from_seed(std::array<std::byte, 32>{std::byte{1}}),
        core::Identity::from_seed(std::array<std::byte, 32>{std::byte{2}}),
    };
    return ids[n];
}

links::Config config() {
    links::Config c;
    c.frame_size_max = 4096;  // keeps each input cheap; the checks are the same
    c.send_queue_bytes_max = 16 * 1024;
    return c;
}

void check(links::Session const& s) {
    if (s.queued_bytes() > config().send_queue_bytes_max) std::abort();
    if ((s.state() == links::State::closed) != (s.close_reason() != links::CloseReason::none)) std::abort();
}

core::Bytes write(links::Session& s, std::size_t max) {
    auto out = s.poll_write(max);
    if (out.size() > max) std::abort();
    if (s.state() == links::State::closed && !s.poll_write(1 << 20).empty()) std::abort();
    return out;
}

void drain(links::Session& s) {
    while (s.poll_frame()) {
    }
}

// Drives a real handshake to completion; false if it did not complete.
bool handshake(links::Session& a, links::Session& b, core::Instant now) {
    for (int i = 0; i < 4; ++i) {
        b.handle_bytes(now, write(a, 1 << 20));
        a.handle_bytes(now, write(b, 1 << 20));
    }
    return a.state() == links::State::established && b.state() == links::State::established;
}

// Feeds `bytes` in chunks whose sizes come from the input itself.
void feed(links::Session& s, core::ByteView bytes, core::Instant now) {
    std::size_t chunk = 1;
    while (!bytes.empty()) {
        std::size_t const n = std::min(bytes.size(), chunk);
        s.handle_bytes(now, bytes.first(n));
        drain(s);
        check(s);
        bytes = bytes.subspan(n);
        chunk = 1 + (chunk * 7 + n) % 97;
    }
}

void script(core::ByteView ops, links::Session& a, links::Session& b, core::Instant now) {
    core::Bytes a_to_b;  // written by a, not yet delivered to b
    std::size_t i = 0;
    auto next = [&]() -> unsigned { return i < ops.size() ? std::to_integer<unsigned>(ops[i++]) : 0u; };
    for (int steps = 0; i < ops.size() && steps < 4096; ++steps) {
        unsigned const op = next();
        switch (op % 6) {
            case 0:
            case 1: {  // send a frame of 0..(4095) bytes at a priority
                auto const p = static_cast<links::Priority>(next() % links::priority_count);
                std::size_t const size = (next() << 4 | next()) % (config().frame_size_max + 1);
                a.send(p, core::Bytes(size, std::byte{0x5a}));
                break;
            }
            case 2: {  // the socket takes some bytes
                auto out = write(a, 1 + next() * 64);
                a_to_b.insert(a_to_b.end(), out.begin(), out.end());
                break;
            }
            case 3: {  // some written bytes arrive
                std::size_t const n = std::min<std::size_t>(a_to_b.size(), next() * 32);
                b.handle_bytes(now, core::ByteView(a_to_b).first(n));
                a_to_b.erase(a_to_b.begin(), a_to_b.begin() + static_cast<std::ptrdiff_t>(n));
                drain(b);
                break;
            }
            case 4:
                if (next() == 0xff) a.close();
                break;
            case 5:
                b.send(links::Priority::control, core::Bytes(next(), std::byte{1}));
                a.handle_bytes(now, write(b, 1 << 20));
                drain(a);
                break;
        }
        check(a);
        check(b);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) return 0;
    core::crypto_init();
    core::ByteView input(reinterpret_cast<std::byte const*>(data) + 1, size - 1);
    core::Instant const now{1s};
    std::array<std::byte, 32> ea{std::byte{0x11}};
    std::array<std::byte, 32> eb{std::byte{0x22}};
    links::Session a(links::Role::initiator, identity(0), identity(1).id, ea, now, config());
    links::Session b(links::Role::responder, identity(1), std::nullopt, eb, now, config());
    switch (data[0] % 4) {
        case 0:
            feed(b, input, now);
            (void)write(b, 1 << 20);
            break;
        case 1:
            (void)write(a, 1 << 20);  // message 1 goes nowhere
            feed(a, input, now);
            break;
        case 2:
            if (!handshake(a, b, now)) std::abort();
            feed(b, input, now);
            break;
        case 3:
            if (!handshake(a, b, now)) std::abort();
            script(input, a, b, now);
            break;
    }
    check(a);
    check(b);
    a.handle_timeout(now + 1h);
    check(a);
    return 0;
}
