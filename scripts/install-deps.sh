#!/usr/bin/env bash
# Installs the Debian 12 packages llama2-cpp needs to build and test. The single list of
# dependencies: README and .ci/run both use this script. Needs root (or sudo).
# With --arm64, also: what cross-building for 64-bit Arm and running the tests under qemu
# takes (scripts/test-arm64.sh): the cross compiler, qemu-user, and the arm64 builds of the
# libraries (Debian multiarch).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  clang libclang-rt-14-dev      # libFuzzer targets and sanitizer runtimes
  libgtest-dev libgmock-dev     # GoogleTest (ctest)
  libbenchmark-dev              # Google Benchmark (micro-benchmarks)
  libhwy-dev                    # Highway: portable SIMD with runtime dispatch
  nlohmann-json3-dev            # JSON (golden files, server, bench --json)
  libcli11-dev                  # command-line parsing
  libsentencepiece-dev          # tokenizer oracle in tests
  libcpp-httplib-dev            # HTTP server (llama2 serve) and the load-test client
  nodejs                        # server tests: the openai client, playwright-core (npm, at test time)
  chromium                      # server tests: the chat page in a headless browser
  nginx                         # server tests: replicas behind deploy/nginx/llama2.conf
  python3-jsonschema            # tests: an independent validator for the constrained JSON
  libpcre2-dev                  # byte-level BPE pre-tokenizer regexes (Unicode classes)
  pybind11-dev python3-dev      # the Python module (optional in CMake; not built in the arm64 cross build)
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "${1:-}" = "--arm64" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  PACKAGES+=(
    g++-aarch64-linux-gnu qemu-user   # cross compiler; runs arm64 binaries on x86-64
    libhwy-dev:arm64 libpcre2-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64 libcpp-httplib-dev:arm64
    # (no libsentencepiece-dev:arm64: it would replace the amd64 one the native tests need)
  )
fi

# npm comes with nodesource's nodejs (which conflicts with Debian's npm); on a machine where it
# is missing or broken, npm itself is fetched from the npm registry the tests use anyway.
ensure_npm() {
  npm --version >/dev/null 2>&1 && return 0
  echo "install-deps: npm missing; installing npm@10.9.2 from registry.npmjs.org"
  local tmp
  tmp=$(mktemp -d)
  curl -sfL https://registry.npmjs.org/npm/-/npm-10.9.2.tgz | tar xz -C "$tmp"
  $SUDO rm -rf /usr/local/lib/npm && $SUDO mv "$tmp/package" /usr/local/lib/npm
  $SUDO ln -sf /usr/local/lib/npm/bin/npm-cli.js /usr/local/bin/npm
  $SUDO ln -sf /usr/local/lib/npm/bin/npx-cli.js /usr/local/bin/npx
  rm -rf "$tmp"
  npm --version >/dev/null
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
ensure_npm
