#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a story: installs dependencies, builds,
# fetches stories15M.bin and tokenizer.bin into ./models (skipping what is there), and
# generates. Offline, it says what is missing and tells a story with the tiny stories260K
# model from ../shared (its GGUF carries its own 512-token vocabulary).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

mkdir -p models
fetch() {  # fetch URL FILE: download unless present; returns 1 when offline
  local url=$1 file=$2
  [ -s "$file" ] && return 0
  echo "fetching $url"
  if curl -fsSL --connect-timeout 10 -o "$file.part" "$url"; then
    mv "$file.part" "$file"
  else
    rm -f "$file.part"
    return 1
  fi
}
ok=1
fetch https://huggingface.co/karpathy/tinyllamas/resolve/main/stories15M.bin models/stories15M.bin || ok=0
fetch https://github.com/karpathy/llama2.c/raw/master/tokenizer.bin models/tokenizer.bin || ok=0

if [ $ok -eq 1 ]; then
  ./build/llama2 models/stories15M.bin -z models/tokenizer.bin -i "Once upon a time" "$@"
  exit 0
fi

shared=${LLAMA2_TEST_DATA:-$(pwd)/../shared}
cat <<MSG
offline: could not download the model files. Missing:
$( [ -s models/stories15M.bin ] || echo "  models/stories15M.bin  <- https://huggingface.co/karpathy/tinyllamas/resolve/main/stories15M.bin")
$( [ -s models/tokenizer.bin ] || echo "  models/tokenizer.bin   <- https://github.com/karpathy/llama2.c/raw/master/tokenizer.bin")
Fetch them on a connected machine into ./models and run this again.
Meanwhile, a story from the tiny stories260K model (its GGUF carries its own vocabulary):
MSG
if [ ! -s "$shared/models/stories260K.gguf" ]; then
  echo "error: $shared/models/stories260K.gguf not found either (set LLAMA2_TEST_DATA)" >&2
  exit 1
fi
set -x
./build/llama2 "$shared/models/stories260K.gguf" -i "Once upon a time" -n 200 -t 0.8 -s 42
