#!/usr/bin/env bash
# Traces a release aipass-mcp from exec to idle after `initialize` (every instruction, under
# ptrace) and writes link/startup.ld, the layout release builds put startup code in. With
# --check, says instead whether the binary's startup code sits in its .text.startup section.
#   bench/startup-layout/layout.sh [--check] [BINARY]   (default target/release/aipass-mcp)
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=write
if [[ ${1:-} == --check ]]; then mode=check; shift; fi
binary=$(realpath "${1:-target/release/aipass-mcp}")
work=target/startup-layout
rm -rf "$work" && mkdir -p "$work/home"
cc -O2 -o "$work/trace" bench/startup-layout/trace.c

# The bench's clean environment, and the session it opens: initialize, then initialized.
initialize='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"startup-layout","version":"0.1.0"}}}'
initialized='{"jsonrpc":"2.0","method":"notifications/initialized"}'
home=$(realpath "$work/home")
env -i PATH="$PATH" HOME="$home" AIPASS_CONFIG_DIR="$home/config" AIPASS_OUTPUT_DIR="$home/out" \
  AIPASS_TOKEN_STORE=file AIPASS_BROWSER=none AIPASS_BASE_URL=http://127.0.0.1:9 \
  AIPASS_ACCESS_TOKEN=startup-layout AIPASS_CLIENT_ID=aipass-mcp-demo \
  "$work/trace" "$work/offsets.txt" "$binary" \
  < <(printf '%s\n%s\n' "$initialize" "$initialized"; echo "$BASHPID" > "$work/input.pid"
       exec sleep 60 2> /dev/null) \
  > "$work/stdout.txt" 2> "$work/stderr.txt"
# The input's sleep only keeps stdin open while the server idles (the trace ends two seconds into
# idle; at worst the sleep ends, the server sees EOF and exits). Its stdout is the server's stdin;
# it must not hold this script's stderr, or a pipeline reading that (CI's step) waits for it.
kill "$(cat "$work/input.pid")" 2>/dev/null || true
grep -q '"result"' "$work/stdout.txt" || { echo "no initialize result; see $work/stderr.txt"; exit 1; }
grep '^trace:' "$work/stderr.txt"

if [[ $mode == check ]]; then
  python3 bench/startup-layout/layout.py check "$binary" "$work/offsets.txt" link/startup.ld
else
  python3 bench/startup-layout/layout.py write "$binary" "$work/offsets.txt" link/startup.ld
fi
