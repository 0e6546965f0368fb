#!/usr/bin/env bash
# Builds and runs the whole test suite (GoogleTest via ctest). Test data comes from
# $LLAMA2_TEST_DATA, default ../shared beside the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
