#!/usr/bin/env bash
# llama2 serve over plain HTTP with curl: completions and chat, plain and streamed, the error
# cases (401, 400, 413, 404, 503), a client leaving mid-stream, /metrics, the chat page, the
# per-request log line and a clean exit on SIGTERM. Model: stories260K + a 512-piece tokenizer.
source "$(dirname "$0")/lib.sh"

MODEL="$DATA/models/stories260K.bin"
TOK=$(tokenizer512)
KEY=test-key-123
start_server main "$MODEL" -z "$TOK" --api-key "$KEY" --parallel 4 --ctx 256 --max-body 8192 --threads 1
PID=$SERVER_PID
URL="http://127.0.0.1:$SERVER_PORT"

# json FILE EXPR: evaluates a JavaScript expression over the JSON in FILE (as `j`).
json() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval(process.argv[2]))' "$1" "$2"; }
# post PATH BODY OUT: POST with the key; prints the HTTP status.
post() { curl -s -o "$3" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$URL$1" -d "$2"; }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; }
# expect_error PATH BODY STATUS CODE_OR_PARAM: an OpenAI-style error object with that status.
expect_error() {
  local status
  status=$(post "$1" "$2" "$WORK/err.json")
  expect_eq "$status" "$3" "status of $2"
  # (grep, not node: this runs often and the body's layout is fixed, keys sorted)
  grep -Eq "^\{\"error\":\{\"code\":.*,\"message\":\".+\",\"param\":.*,\"type\":\"[a-z_]+\"\}\}$" "$WORK/err.json" &&
    grep -Eq "\"(code|param)\":\"$4\"" "$WORK/err.json" || fail "error of $2: $(cat "$WORK/err.json")"
}
# sse_text FILE ENDPOINT: checks the event stream's framing and prints the concatenated text.
sse_text() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n\n").filter((e) => e.length);
    const chat = process.argv[2] === "chat";
    if (lines.pop() !== "data: [DONE]") throw new Error("no [DONE] at the end");
    let text = "", finish = null, usage = null;
    for (const ev of lines) {
      if (!ev.startsWith("data: ")) throw new Error("not a data event: " + ev);
      const j = JSON.parse(ev.slice(6));
      if (j.object !== (chat ? "chat.completion.chunk" : "text_completion")) throw new Error("object " + j.object);
      if (j.choices.length === 0) { usage = j.usage; continue; }
      const c = j.choices[0];
      if (finish) throw new Error("chunk after finish_reason");
      text += chat ? (c.delta.content || "") : c.text;
      finish = c.finish_reason;
    }
    if (!finish) throw new Error("no finish_reason");
    process.stdout.write(text);' "$1" "$2"
}

echo "[${SECONDS}s] --- health, models, auth"
grep -q '"ok"' <<<"$(curl -sf "$URL/health")" || fail "/health"
expect_eq "$(curl -s -o "$WORK/auth.json" -w '%{http_code}' "$URL/v1/models")" 401 "no key"
expect_eq "$(json "$WORK/auth.json" j.error.code)" invalid_api_key "no key code"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "$URL/v1/models")" 401 "wrong key"
curl -sf -H "Authorization: Bearer $KEY" "$URL/v1/models" -o "$WORK/models.json"
expect_eq "$(json "$WORK/models.json" 'j.data[0].id')" stories260K "model id"

echo "[${SECONDS}s] --- completions"
BODY='{"model":"stories260K","prompt":"Once upon a time","max_tokens":24,"temperature":0}'
expect_eq "$(post /v1/completions "$BODY" "$WORK/c1.json")" 200 "completion"
expect_eq "$(json "$WORK/c1.json" 'j.object')" text_completion "object"
expect_eq "$(json "$WORK/c1.json" 'j.choices[0].finish_reason')" length "finish_reason"
expect_eq "$(json "$WORK/c1.json" 'j.usage.completion_tokens')" 24 "completion_tokens"
expect_eq "$(json "$WORK/c1.json" 'j.usage.total_tokens === j.usage.prompt_tokens + 24')" true "total_tokens"
TEXT=$(json "$WORK/c1.json" 'j.choices[0].text')
[ -n "$TEXT" ] || fail "empty completion"
post /v1/completions "$BODY" "$WORK/c2.json" >/dev/null
expect_eq "$(json "$WORK/c2.json" 'j.choices[0].text')" "$TEXT" "greedy is repeatable"

echo "[${SECONDS}s] --- streamed completion equals the plain one"
curl -sfN -H "Authorization: Bearer $KEY" "$URL/v1/completions" -o "$WORK/s1.txt" \
  -d '{"prompt":"Once upon a time","max_tokens":24,"temperature":0,"stream":true}'
expect_eq "$(sse_text "$WORK/s1.txt" completions)" "$TEXT" "streamed text"

echo "[${SECONDS}s] --- stop sequences"
# A piece of the greedy text as the stop sequence: the reply must end right before it.
STOP=${TEXT:8:3}
STOP_BODY=$(node -e 'console.log(JSON.stringify({prompt: "Once upon a time", max_tokens: 24, temperature: 0,
  stop: ["never appears", process.argv[1]]}))' "$STOP")
post /v1/completions "$STOP_BODY" "$WORK/stop.json" >/dev/null
expect_eq "$(json "$WORK/stop.json" 'j.choices[0].finish_reason')" stop "stop finish_reason"
expect_eq "$(json "$WORK/stop.json" 'j.choices[0].text')" "${TEXT%%"$STOP"*}" "text cut before the stop sequence"

echo "[${SECONDS}s] --- chat, plain and streamed"
CHAT='{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me a story."}],"max_tokens":20,"temperature":0'
expect_eq "$(post /v1/chat/completions "$CHAT}" "$WORK/chat.json")" 200 "chat"
expect_eq "$(json "$WORK/chat.json" 'j.object + " " + j.choices[0].message.role')" "chat.completion assistant" "chat object"
CHAT_TEXT=$(json "$WORK/chat.json" 'j.choices[0].message.content')
curl -sfN -H "Authorization: Bearer $KEY" "$URL/v1/chat/completions" -o "$WORK/chat.txt" -d "$CHAT,\"stream\":true}"
expect_eq "$(sse_text "$WORK/chat.txt" chat)" "$CHAT_TEXT" "streamed chat text"
head -c 200 "$WORK/chat.txt" | grep -q '"role":"assistant"' || fail "first chat chunk carries the role"

echo "[${SECONDS}s] --- response_format: the random model's reply parses and follows the schema"
SCHEMA='{"type":"object","properties":{"title":{"type":"string","enum":["Lily","Tom"]},"pages":{"type":"integer"},"tags":{"type":"array","items":{"type":"boolean"},"maxItems":3}},"required":["title","pages","tags"],"additionalProperties":false}'
for temp in 0 1; do
  expect_eq "$(post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"A book?\"}],\"max_tokens\":150,\"temperature\":$temp,\"seed\":5,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"book\",\"strict\":true,\"schema\":$SCHEMA}}}" "$WORK/rf.json")" 200 "json_schema chat"
  expect_eq "$(json "$WORK/rf.json" 'const v = JSON.parse(j.choices[0].message.content); [["Lily","Tom"].includes(v.title), Number.isInteger(v.pages), Array.isArray(v.tags) && v.tags.every((t) => typeof t === "boolean"), Object.keys(v).join(","), j.choices[0].finish_reason].join(" ")')" "true true true title,pages,tags stop" "json_schema reply at temperature $temp: $(cat "$WORK/rf.json")"
done
expect_eq "$(post /v1/completions '{"prompt":"Once","max_tokens":150,"temperature":1,"seed":3,"response_format":{"type":"json_object"}}' "$WORK/rf.json")" 200 "json_object completion"
# Free strings of a random model rarely close within max_tokens: a whole reply must parse as an
# object, a cut one ("length") must at least have started as one.
expect_eq "$(json "$WORK/rf.json" 'const c = j.choices[0]; c.finish_reason === "stop" ? (() => { const v = JSON.parse(c.text); return typeof v === "object" && !Array.isArray(v) && v !== null; })() : c.text.startsWith("{")')" "true" "json_object reply: $(cat "$WORK/rf.json")"
expect_error /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"string","pattern":"^a"}}}}' 400 response_format

echo "[${SECONDS}s] --- n choices, logprobs, logit_bias"
# Greedy choices of one request are the same text as a lone greedy request; their prompt was
# processed once (usage counts it once).
expect_eq "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":12,"temperature":0,"n":3,"logprobs":2}' "$WORK/n3.json")" 200 "n=3"
expect_eq "$(json "$WORK/n3.json" 'j.choices.map((c) => c.index).join(",")')" "0,1,2" "choice indexes"
expect_eq "$(json "$WORK/n3.json" 'new Set(j.choices.map((c) => c.text)).size')" 1 "greedy choices agree"
expect_eq "$(json "$WORK/n3.json" 'const l = j.choices[0].logprobs; [l.tokens.join("") === j.choices[0].text, l.tokens.length, l.token_logprobs.every((p) => p <= 0), l.top_logprobs.every((t) => Object.keys(t).length === 2), l.text_offset[0]].join(" ")')" "true 12 true true 0" "legacy logprobs"
expect_eq "$(json "$WORK/n3.json" 'j.usage.completion_tokens')" 36 "completion tokens of 3 choices"
expect_eq "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"temperature":0,"logprobs":true,"top_logprobs":3}' "$WORK/lp.json")" 200 "chat logprobs"
expect_eq "$(json "$WORK/lp.json" 'const c = j.choices[0].logprobs.content; [c.map((t) => t.token).join("") === j.choices[0].message.content, c.every((t) => t.top_logprobs.length === 3 && t.top_logprobs[0].logprob >= t.logprob - 1e-6 && Array.isArray(t.bytes))].join(" ")')" "true true" "chat logprobs content"
LONE=$(json "$WORK/c1.json" 'j.choices[0].text')
[[ "$LONE" == "$(json "$WORK/n3.json" 'j.choices[2].text')"* ]] || fail "n=3 greedy text is not the lone request's"
# A +100 bias makes one token win every step; a -100 bias on it then bans it.
expect_eq "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":4,"temperature":0,"logprobs":0,"logit_bias":{"400":100}}' "$WORK/b1.json")" 200 "bias +100"
expect_eq "$(json "$WORK/b1.json" 'const t = j.choices[0].logprobs.tokens; [t.length, new Set(t).size].join(" ")')" "4 1" "bias +100 reply: $(cat "$WORK/b1.json")"
expect_eq "$(post /v1/completions '{"prompt":"Once upon a time","max_tokens":4,"temperature":1,"seed":1,"logprobs":0,"logit_bias":{"400":-100}}' "$WORK/b2.json")" 200 "bias -100"
PIECE=$(json "$WORK/b1.json" 'j.choices[0].logprobs.tokens[0]')
expect_eq "$(json "$WORK/b2.json" "j.choices[0].logprobs.tokens.includes($(json "$WORK/b1.json" 'JSON.stringify(j.choices[0].logprobs.tokens[0])'))")" false "banned piece '$PIECE' sampled"

echo "[${SECONDS}s] --- errors"
expect_error /v1/completions '{"prompt": "x",' 400 invalid_json
expect_error /v1/completions '[1,2]' 400 invalid_json
expect_error /v1/completions '{"max_tokens": 5}' 400 prompt
expect_error /v1/completions '{"prompt":"x","max_tokens":"ten"}' 400 max_tokens
expect_error /v1/completions '{"prompt":"x","temperature":3}' 400 temperature
expect_error /v1/completions '{"prompt":"x","n":5}' 400 n  # more choices than --parallel 4
expect_error /v1/completions '{"prompt":"x","n":0}' 400 n
expect_error /v1/completions '{"prompt":"x","logprobs":21}' 400 logprobs
expect_error /v1/completions '{"prompt":"x","top_k":-1}' 400 top_k
expect_error /v1/completions '{"prompt":"x","logit_bias":{"99999":5}}' 400 logit_bias
expect_error /v1/completions '{"prompt":"x","logit_bias":{"3":500}}' 400 logit_bias
expect_error /v1/completions '{"prompt":"x","best_of":2}' 400 unsupported_parameter
expect_error /v1/completions '{"prompt":"x","stop":[1]}' 400 stop
expect_error /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}' 400 'tools\[0\]\.function'
expect_error /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}' 400 unsupported_parameter  # llama2 template: no tools
expect_error /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"top_logprobs":2}' 400 top_logprobs
expect_error /v1/chat/completions '{"messages":[]}' 400 messages
expect_error /v1/chat/completions '{"messages":[{"role":"user","content":3}]}' 400 'messages.0..content'
LONG=$(printf 'word %.0s' $(seq 300))
expect_error /v1/completions "{\"prompt\":\"$LONG\"}" 400 context_length_exceeded
expect_error /v1/completions '{"prompt":"x","max_tokens":1000}' 400 context_length_exceeded
head -c 10000 /dev/zero | tr '\0' a >"$WORK/big.txt"
expect_eq "$(curl -s -o "$WORK/big.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$URL/v1/completions" \
  --data-binary @"$WORK/big.txt")" 413 "body over --max-body"
expect_eq "$(json "$WORK/big.json" j.error.code)" request_too_large "413 code"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nowhere")" 404 "unknown path"

echo "[${SECONDS}s] --- a client that leaves mid-stream frees its slot"
curl -sN -H "Authorization: Bearer $KEY" "$URL/v1/completions" \
  -d '{"prompt":"Once upon a time","max_tokens":240,"temperature":0,"stream":true}' | head -c 300 >/dev/null || true
for _ in $(seq 50); do grep -q 'status=499' "$WORK/main.log" && break; sleep 0.1; done
grep 'status=499' "$WORK/main.log" | grep -q 'finish=cancelled' || { cat "$WORK/main.log" >&2; fail "no cancelled request logged"; }
for _ in $(seq 50); do grep -q '^llama2_active_slots 0' <<<"$(curl -s "$URL/metrics")" && break; sleep 0.1; done
grep -q '^llama2_active_slots 0' <<<"$(curl -s "$URL/metrics")" || fail "the slot of the departed client is still active"

echo "[${SECONDS}s] --- metrics, chat page, log lines"
curl -s "$URL/metrics" >"$WORK/metrics.txt"
for m in 'llama2_requests_total{endpoint="completions",code="200"}' 'llama2_requests_total{endpoint="completions",code="400"}' \
  llama2_generated_tokens_total llama2_prompt_tokens_total llama2_prompt_tokens_cached_total llama2_queue_depth llama2_active_slots \
  'llama2_batch_sequences_bucket{le="1"}' llama2_time_to_first_token_seconds_count; do
  grep -qF "$m" "$WORK/metrics.txt" || fail "metric $m missing"
done
grep -q '<title>llama2 chat</title>' <<<"$(curl -sf "$URL/")" || fail "chat page"
grep -Eq '^request cmpl-[0-9a-f]+ completions status=200 prompt_tokens=[0-9]+ cached_tokens=[0-9]+ generated_tokens=24 .*ttft_ms=[0-9.]+ tok/s=' \
  "$WORK/main.log" || fail "per-request log line"

echo "[${SECONDS}s] --- SIGTERM lets a running stream finish, then exits 0"
curl -sN -H "Authorization: Bearer $KEY" "$URL/v1/completions" -o "$WORK/term.txt" \
  -d '{"prompt":"Once upon a time","max_tokens":240,"temperature":0,"stream":true}' &
CURL=$!
for _ in $(seq 500); do [ -s "$WORK/term.txt" ] && break; sleep 0.01; done
stop_server "$PID"
wait "$CURL" || true
tail -c 20 "$WORK/term.txt" | grep -q 'data: \[DONE\]' || fail "the stream was cut by the shutdown"
# Normally the signal arrives mid-stream: then the request is logged after "shutting down".
sed -n '/shutting down/,$p' "$WORK/main.log" | grep -q 'generated_tokens=240' ||
  echo "note: the stream ended before the signal arrived"

echo "[${SECONDS}s] --- a full queue answers 503"
start_server busy "$MODEL" -z "$TOK" --parallel 1 --queue 0 --threads 1
URL="http://127.0.0.1:$SERVER_PORT"
CURLS=()
for i in $(seq 12); do
  curl -s -o "$WORK/busy$i.json" -w '%{http_code}\n' "$URL/v1/completions" \
    -d '{"prompt":"Once upon a time","max_tokens":400,"temperature":0}' >"$WORK/busy$i.code" &
  CURLS+=($!)
done
wait "${CURLS[@]}" || true
cat "$WORK"/busy*.code | sort | uniq -c
grep -lx 503 "$WORK"/busy*.code >/dev/null || fail "no request was refused with 503"
grep -lx 200 "$WORK"/busy*.code >/dev/null || fail "no request succeeded"
F=$(grep -lx 503 "$WORK"/busy*.code | head -1)
expect_eq "$(json "${F%.code}.json" j.error.code)" queue_full "503 code"
stop_server "$SERVER_PID"
echo "PASS"
