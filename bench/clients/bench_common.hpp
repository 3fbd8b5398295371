// The small helpers bench_sub.cpp and bench_pub.cpp share (both are standalone programs
// that pubsub_vs_brokers.py compiles with `c++ -O2 -std=c++17`, one file each; this header
// sits next to them). Not a client library: no sockets or protocols here.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>

namespace bench {

// The name errors are prefixed with; each program sets it first thing in main.
inline char const* program = "bench";

[[noreturn]] inline void die(std::string const& what) {
    std::fprintf(stderr, "%s: %s\n", program, what.c_str());
    std::exit(1);
}

inline std::int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
    timespec ts;
    clock_gettime(clock, &ts);
    return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// One line on stdout, flushed: the parent script reads it at once.
inline void say(char const* line) {
    std::printf("%s\n", line);
    std::fflush(stdout);
}

// The first line of a file (a node's api.addr or api.cookie); dies when unreadable.
inline std::string read_file(std::string const& path) {
    std::ifstream f(path);
    if (!f) die("cannot read " + path);
    std::string s;
    std::getline(f, s);
    return s;
}

}  // namespace bench
