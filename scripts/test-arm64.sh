#!/usr/bin/env bash
# Cross-builds for 64-bit Arm (generic armv8-a: NEON baseline, sdot picked at run time) and
# runs the test suite under qemu-aarch64, so the NEON kernels and everything else are checked
# on Arm on every CI run. The server end-to-end scripts (tests/server) are left out: they
# drive a native llama2 with node, chromium and nginx. Needs scripts/install-deps.sh --arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DLLAMA2_BUILD_BENCH=OFF >/dev/null
cmake --build build-arm64 -j"$(nproc)"
ctest --test-dir build-arm64 --output-on-failure -j"$(nproc)" -E '^server_'
