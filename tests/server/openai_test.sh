#!/usr/bin/env bash
# The official `openai` npm client against llama2 serve: models, completions and chat, plain
# and streamed, and the errors it raises for 400 and 401.
source "$(dirname "$0")/lib.sh"
need_node
KEY=sk-test-openai
start_server main "$DATA/models/stories260K.bin" -z "$(tokenizer512)" --api-key "$KEY" --parallel 4 --threads 1
node "$(dirname "$0")/openai_client_test.mjs" "http://127.0.0.1:$SERVER_PORT/v1" "$KEY"
stop_server "$SERVER_PID"
echo PASS
