# Shared helpers of the server integration tests (sourced by the *_test.sh scripts).
# ctest sets: LLAMA2 (the CLI), FIXTURES (llama2_server_fixtures), LOAD (llama2_load),
# DEFAULT_DATA (../shared), WORK_ROOT (a folder under the build tree), NODE_DIR (npm packages).
# Everything listens on 127.0.0.1 only.
set -euo pipefail

: "${LLAMA2:?}" "${FIXTURES:?}" "${WORK_ROOT:?}"
DATA=${LLAMA2_TEST_DATA:-${DEFAULT_DATA:?}}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
WORK="$WORK_ROOT/$TEST_NAME"
rm -rf "$WORK"
mkdir -p "$WORK"
SKIP=77  # ctest SKIP_RETURN_CODE

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# tokenizer512: the stories260K test tokenizer (the first 512 Llama pieces).
tokenizer512() {
  [ -f "$WORK/tok512.bin" ] || "$FIXTURES" tokenizer "$DATA/models/tokenizer.bin" "$WORK/tok512.bin" 512
  echo "$WORK/tok512.bin"
}

# start_server NAME ARGS...: starts `llama2 serve ARGS --port 0` in the background with its
# stderr in $WORK/NAME.log; sets SERVER_PID and SERVER_PORT once /health answers.
start_server() {
  local name=$1
  shift
  "$LLAMA2" serve "$@" --port 0 >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_PORT=""
  local i
  for i in $(seq 200); do
    SERVER_PORT=$(sed -n 's|.* on http://127.0.0.1:\([0-9]*\) .*|\1|p' "$WORK/$name.log" | head -1)
    [ -n "$SERVER_PORT" ] && curl -sf "http://127.0.0.1:$SERVER_PORT/health" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "server $name exited at startup"; }
    sleep 0.1
  done
  cat "$WORK/$name.log" >&2
  fail "server $name did not become healthy"
}

# stop_server PID: SIGTERM, and the server must exit with status 0 within 20 s.
stop_server() {
  local pid=$1 i status
  kill -TERM "$pid"
  for i in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "server $pid ignored SIGTERM for 20 s"
  status=0
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || fail "server $pid exited with status $status after SIGTERM"
}

# free_port: a TCP port nothing listens on at the moment (for programs that need one up front).
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  fail "no free port found"
}

# need_node: skips the test (exit 77) when the npm packages could not be installed because
# the registry is unreachable (server_npm_setup leaves a note saying so).
need_node() {
  : "${NODE_DIR:?}"
  if [ -f "$NODE_DIR/UNREACHABLE" ]; then
    echo "SKIP: the npm registry was unreachable, so the openai/playwright-core packages are missing" >&2
    exit $SKIP
  fi
  [ -d "$NODE_DIR/node_modules" ] || fail "npm packages missing in $NODE_DIR (server_npm_setup failed?)"
}
