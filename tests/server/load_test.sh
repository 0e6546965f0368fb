#!/usr/bin/env bash
# 32 concurrent streaming clients, 320 greedy requests over six prompts: no failures, every
# stream well-formed, and every reply identical to the same prompt sent alone (batching must
# not change results). Then the same with sampling, where only the framing is checked.
source "$(dirname "$0")/lib.sh"
: "${LOAD:?}"
start_server main "$DATA/models/stories260K.bin" -z "$(tokenizer512)" --parallel 32 --queue 64 --ctx 256
"$LOAD" --port "$SERVER_PORT" --clients 32 --requests 320 --max-tokens 64 --temperature 0 --time-limit 80
"$LOAD" --port "$SERVER_PORT" --clients 32 --requests 96 --max-tokens 32 --temperature 1 --endpoint chat \
  --time-limit 30
curl -s "http://127.0.0.1:$SERVER_PORT/metrics" | grep -E '^llama2_(batch_sequences_(sum|count)|generated_tokens_total)'
stop_server "$SERVER_PID"
echo PASS
