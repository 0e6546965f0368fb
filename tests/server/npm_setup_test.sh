#!/usr/bin/env bash
# Installs the pinned npm packages the node-driven server tests use (the official `openai`
# client, playwright-core) into the build tree. When the npm registry cannot be reached the
# dependent tests are skipped, saying so; any other install failure fails this test.
source "$(dirname "$0")/lib.sh"
: "${NODE_DIR:?}" "${NPM_PACKAGES:?}"
mkdir -p "$NODE_DIR"
rm -f "$NODE_DIR/UNREACHABLE"
if [ -f "$NODE_DIR/installed" ] && [ "$(cat "$NODE_DIR/installed")" == "$NPM_PACKAGES" ] && [ -d "$NODE_DIR/node_modules" ]; then
  echo "npm packages up to date: $NPM_PACKAGES"
  exit 0
fi
skip() {
  echo "$1" | tee "$NODE_DIR/UNREACHABLE" >&2
  exit $SKIP
}
command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh installs nodejs)"
command -v npm >/dev/null || skip "SKIP: npm is not installed, so the openai/playwright-core tests cannot run"
timeout 30 npm ping >/dev/null 2>&1 || skip "SKIP: the npm registry ($(npm config get registry)) is unreachable"
rm -rf "$NODE_DIR/node_modules" "$NODE_DIR/installed"
# shellcheck disable=SC2086  # NPM_PACKAGES is a list
timeout 240 npm install --prefix "$NODE_DIR" --no-audit --no-fund --ignore-scripts --no-package-lock $NPM_PACKAGES
echo "$NPM_PACKAGES" >"$NODE_DIR/installed"
echo "installed $NPM_PACKAGES into $NODE_DIR"
