#!/usr/bin/env bash
# The chat page at / in headless Chromium (Debian's, driven by playwright-core): type a
# message, watch the reply stream in.
source "$(dirname "$0")/lib.sh"
need_node
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM not found (scripts/install-deps.sh installs chromium)"
# A random-weight model of stories15M's shape: slow enough (tens of ms per token) that the
# reply visibly arrives in pieces; stories260K would finish before the page repaints.
"$FIXTURES" random-model 15M "$WORK/random15M.bin"
start_server main "$WORK/random15M.bin" -z "$DATA/models/tokenizer.bin" --parallel 2 --threads 1
node "$(dirname "$0")/chat_page_test.mjs" "http://127.0.0.1:$SERVER_PORT/" "$CHROMIUM" "$WORK/chromium-profile"
grep -q '^request chatcmpl-[0-9a-f]* chat status=200' "$WORK/main.log" || fail "the page's request is not in the log"
stop_server "$SERVER_PID"
echo PASS
