#!/usr/bin/env bash
# The test command: installs what a fresh Debian 12 machine lacks, builds everything with
# AddressSanitizer and UndefinedBehaviorSanitizer, runs ctest (all tests but [slow]), and
# ends with ctest's summary. Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

build=${KADMIUM_TEST_BUILD_DIR:-build-test}
jobs=${KADMIUM_JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKADMIUM_SANITIZE=ON -DKADMIUM_TESTS=ON
cmake --build "$build" -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900 "$@"
