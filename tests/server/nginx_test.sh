#!/usr/bin/env bash
# Scale-out with deploy/nginx/llama2.conf: two replicas behind Debian's nginx (run as this
# user, everything under a temporary prefix, loopback only). Both replicas must serve some of
# the requests; after one is killed mid-run, requests keep succeeding on the other.
source "$(dirname "$0")/lib.sh"
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || fail "$NGINX not found (scripts/install-deps.sh installs nginx)"
DEPLOY_CONF="$(dirname "$0")/../../deploy/nginx/llama2.conf"
MODEL="$DATA/models/stories260K.bin"
TOK=$(tokenizer512)

start_server a "$MODEL" -z "$TOK" --parallel 4 --threads 1
A_PID=$SERVER_PID A_PORT=$SERVER_PORT
start_server b "$MODEL" -z "$TOK" --parallel 4 --threads 1
B_PID=$SERVER_PID B_PORT=$SERVER_PORT
N_PORT=$(free_port)

# The shipped config goes in http {}; a minimal main config around it, with every path
# nginx writes under $WORK and the replicas' real ports.
P="$WORK/nginx"
mkdir -p "$P/logs" "$P/tmp"
{
  echo "daemon off;"
  echo "worker_processes 1;"
  echo "pid $P/nginx.pid;"
  echo "error_log $P/logs/error.log warn;"
  # As root the workers would switch to nobody, who cannot write under $WORK.
  [ "$(id -u)" -eq 0 ] && echo "user $(id -un) $(id -gn);"
  echo "events { worker_connections 512; }"
  echo "http {"
  echo "  access_log $P/logs/access.log;"
  for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $P/tmp/$t;"; done
  sed -e "s/127\.0\.0\.1:8081/127.0.0.1:$A_PORT/" -e "s/127\.0\.0\.1:8082/127.0.0.1:$B_PORT/" \
    -e "s/listen 127\.0\.0\.1:8080/listen 127.0.0.1:$N_PORT/" "$DEPLOY_CONF"
  echo "}"
} >"$P/nginx.conf"
grep -q "127.0.0.1:$B_PORT" "$P/nginx.conf" || fail "could not point the config at the replicas"
"$NGINX" -p "$P" -c "$P/nginx.conf" -e "$P/logs/error.log" -t
"$NGINX" -p "$P" -c "$P/nginx.conf" -e "$P/logs/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
URL="http://127.0.0.1:$N_PORT"
for _ in $(seq 100); do curl -sf "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$URL/health" >/dev/null || { cat "$P/logs/error.log" >&2; fail "nginx does not answer"; }

# batch NAME COUNT: COUNT requests through nginx, 4 at a time; one status code per line.
batch() {
  seq "$2" | xargs -P 4 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$URL/v1/completions" \
    -d '{"prompt":"Once upon a time","max_tokens":150,"temperature":0}' >"$WORK/$1.codes" || true
}
not_ok() { grep -cvx 200 "$WORK/$1.codes" || true; }
served() { curl -s "http://127.0.0.1:$1/metrics" | sed -n 's/^llama2_requests_total{endpoint="completions",code="200"} //p'; }

echo "--- both replicas serve"
batch first 24
[ "$(not_ok first)" -eq 0 ] || fail "requests failed with both replicas up: $(sort "$WORK/first.codes" | uniq -c)"
A_SERVED=$(served "$A_PORT") B_SERVED=$(served "$B_PORT")
echo "replica a served ${A_SERVED:-0}, replica b ${B_SERVED:-0}"
[ "${A_SERVED:-0}" -gt 0 ] && [ "${B_SERVED:-0}" -gt 0 ] || fail "one replica got no requests"

echo "--- replica b is killed mid-run"
batch during 24 &
BATCH=$!
sleep 0.15
kill -KILL "$B_PID"
wait "$BATCH"
# Only requests b was already answering can be lost (at most the 4 in flight).
LOST=$(not_ok during)
echo "lost while b died: $LOST of 24"
[ "$LOST" -le 4 ] || fail "$LOST requests failed while b died: $(sort "$WORK/during.codes" | uniq -c)"
batch after 24
[ "$(not_ok after)" -eq 0 ] || fail "requests failed after b died: $(sort "$WORK/after.codes" | uniq -c)"
A_AFTER=$(served "$A_PORT")
[ "$A_AFTER" -ge $((A_SERVED + 24)) ] || fail "replica a served $A_AFTER, expected at least $((A_SERVED + 24))"

kill -QUIT "$NGINX_PID"
wait "$NGINX_PID" || true
stop_server "$A_PID"
echo PASS
