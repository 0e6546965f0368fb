#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time (default 60 s)
# from its seed corpus in fuzz/corpus/<target>/ (copied to a temporary folder, so the repo's
# corpus stays small). Exits non-zero on the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLAMA2_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)"
work=$(mktemp -d)
artifacts=$(pwd)/build-fuzz/artifacts   # inputs that crash are kept here, to reproduce
mkdir -p "$artifacts"
trap 'rm -rf "$work"' EXIT
for bin in build-fuzz/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  mkdir -p "$work/$name"
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/$name/"
  [ "$name" = fuzz_jinja ] && cp tests/chat/templates/*.jinja "$work/$name/"  # the chat-format templates as seeds
  echo "--- $name for ${seconds}s"
  (cd "$work" && "$OLDPWD/$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$artifacts/" \
      -print_final_stats=1 "$name" 2>&1 | tail -n 12)
done
echo "fuzz: no crashes"
