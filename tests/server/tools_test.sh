#!/usr/bin/env bash
# Tool calling with the official `openai` npm client against llama2 serve (ChatML template):
# a required call, streamed and not, whose arguments follow the tool's schema; the tool's
# result sent back; errors for bad tools.
source "$(dirname "$0")/lib.sh"
need_node
# stories260K's context (512) is too short for the tools' system prompt: a random 42M-shape model
# (1024 positions) with the Llama 2 tokenizer.
[ -f "$WORK/random42M.bin" ] || "$FIXTURES" random-model 42M "$WORK/random42M.bin"
start_server main "$WORK/random42M.bin" -z "$DATA/models/tokenizer.bin" --chat-template chatml --parallel 2 --threads 2
node "$(dirname "$0")/tools_client_test.mjs" "http://127.0.0.1:$SERVER_PORT/v1"
stop_server "$SERVER_PID"
echo PASS
