#!/usr/bin/env bash
# The MCP Apps view in a real browser: Debian's Chromium, driven by playwright-core, loads the
# view inside a minimal host page built on the official Apps SDK's AppBridge, fed by real results
# from the binary against the fake (clients/apps-host/run.mjs). Installs what it needs itself.
# Screenshots go to target/apps-shots (CI artefacts). Prints `apps: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PROFILE=${APPS_PROFILE:-debug}

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

echo "== npm ci (clients/apps-host) into target/apps-host"
HOST=$ROOT/target/apps-host
mkdir -p "$HOST"
cp clients/apps-host/package.json clients/apps-host/package-lock.json clients/apps-host/run.mjs clients/apps-host/host.js "$HOST/"
# Only the pinned packages; Playwright never downloads a browser (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD).
(cd "$HOST" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "== building aipass-mcp ($PROFILE) and aipass-fake"
if [ "$PROFILE" = release ]; then FLAG=--release; else FLAG=; fi
cargo build --quiet $FLAG --bin aipass-mcp
cargo build --quiet -p aipass-fake --bin aipass-fake

echo "== the view in Chromium"
rm -rf target/apps-shots
timeout 240 node "$HOST/run.mjs" \
  --server "$ROOT/target/$PROFILE/aipass-mcp" \
  --fake "$ROOT/target/debug/aipass-fake" \
  --shots "$ROOT/target/apps-shots" 2> >(grep -v '^aipass-fake: ' >&2)
