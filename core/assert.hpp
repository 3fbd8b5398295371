// Assertions for programmer errors. CORE_ASSERT is on in every build and aborts with the
// failed condition; CORE_ASSERT_EXPENSIVE runs only in test and sanitizer builds.
// Never use these for input from the network, a file or a user: those are counted drops
// or returned errors (STYLE.md, section 7).
#pragma once

#include <cstdio>
#include <cstdlib>

#define CORE_ASSERT(cond)                                                                     \
    do {                                                                                      \
        if (!(cond)) [[unlikely]] {                                                           \
            std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (false)

#if defined(CORE_EXPENSIVE_ASSERTS)
#define CORE_ASSERT_EXPENSIVE(cond) CORE_ASSERT(cond)
#else
#define CORE_ASSERT_EXPENSIVE(cond) \
    do {                            \
    } while (false)
#endif
