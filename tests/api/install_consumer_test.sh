#!/usr/bin/env bash
# Installs the build into a scratch prefix, builds examples/consumer against it with
# find_package(llama2), and checks that both consumers print what the CLI prints.
#   install_consumer_test.sh <build dir> <consumer source> <work dir> <llama2 CLI> <default data> <generator>
set -euo pipefail
build=$1 consumer_src=$2 work=$3 cli=$4 data=${LLAMA2_TEST_DATA:-$5} generator=$6

rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
for f in include/llama2.h include/llama2/engine.hpp include/llama2/export.h lib/cmake/llama2/llama2Config.cmake; do
  [ -f "$work/prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
# Nothing of the source tree may be needed: the consumer sees the prefix only.
cmake -S "$consumer_src" -B "$work/build" -G "$generator" -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log"
cmake --build "$work/build" >"$work/build.log"

model="$data/models/stories260K.bin"
tokenizer="$data/models/tok512.bin"
"$cli" "$model" -z "$tokenizer" -t 0 -n 64 -i "Once upon a time" >"$work/expected.txt" 2>/dev/null
"$work/build/consumer_c" "$model" "$tokenizer" "Once upon a time" >"$work/c.txt"
"$work/build/consumer_cpp" "$model" "$tokenizer" "Once upon a time" >"$work/cpp.txt"
diff "$work/expected.txt" "$work/c.txt"
diff "$work/expected.txt" "$work/cpp.txt"
# A missing model is an error message and status 1, not a crash.
if "$work/build/consumer_c" /nonexistent.bin "$tokenizer" 2>"$work/err.txt"; then
  echo "consumer_c succeeded on a missing model"; exit 1
fi
grep -q "/nonexistent.bin" "$work/err.txt"
echo "install_consumer_test: the installed package builds and prints the CLI's story ($(wc -c <"$work/expected.txt") bytes)"
