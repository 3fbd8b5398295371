#!/usr/bin/env bash
# Installs what is missing and builds an optimised kadmium into build/bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKADMIUM_TESTS=OFF >/dev/null
cmake --build build -j "${KADMIUM_JOBS:-$(nproc)}"
