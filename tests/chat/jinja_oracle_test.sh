#!/usr/bin/env bash
# Chat templates rendered by our Jinja interpreter and by @huggingface/jinja (npm; installed
# by server_npm_setup) on 300 random conversations each: system prompt or not, tool calls and
# tool results, tools, <think> blocks, roles out of order (which some templates refuse with
# raise_exception: both must refuse), add_generation_prompt on and off.
set -euo pipefail
: "${NODE_DIR:?}" "${CHECK:?}"
if [ -f "$NODE_DIR/UNREACHABLE" ] || [ ! -d "$NODE_DIR/node_modules/@huggingface/jinja" ]; then
  echo "SKIP: the npm packages are not installed ($(cat "$NODE_DIR/UNREACHABLE" 2>/dev/null || echo 'see server_npm_setup'))"
  exit 77
fi
here=$(dirname "$0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node "$here/jinja_oracle.mjs" "$NODE_DIR" "$here/templates" 300 "$work/cases.json"
"$CHECK" "$work/cases.json"
