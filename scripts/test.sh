#!/usr/bin/env bash
# The test command: installs what a fresh Debian 12 machine lacks, builds everything with
# AddressSanitizer and UndefinedBehaviorSanitizer, builds a Release configuration (no tests),
# runs ctest (all tests but [slow]), and ends with ctest's summary. Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

build=${KADMIUM_TEST_BUILD_DIR:-build-test}
jobs=${KADMIUM_JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKADMIUM_SANITIZE=ON -DKADMIUM_TESTS=ON
cmake --build "$build" -j "$jobs"
# Release (what packagers build) must compile too; no tests in it, so it costs one build.
release=${KADMIUM_RELEASE_BUILD_DIR:-build-release}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$release" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKADMIUM_TESTS=OFF "${launcher[@]}" >/dev/null
cmake --build "$release" -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900 "$@"
