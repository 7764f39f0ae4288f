#!/usr/bin/env bash
# Packages: what users install without a Rust toolchain, built and run as they would run it.
#
#   bash .ci/packages.sh
#
# 1. dist/release.sh builds the release binary once (maturin: the wheel around it) and packs the
#    npm packages, the Claude Desktop bundle, archives, server.json and checksums (Linux x64:
#    the only target this machine has a Rust standard library for).
# 2. server.json is validated against the MCP registry's published schema; the release
#    workflow's targets match dist/release.sh's and the launcher's platform packages.
# 3. npm: the launcher and @aipass-mcp/linux-x64 are published to a throwaway Verdaccio on
#    loopback; `npx -y --registry <local> aipass-mcp` answers --version and tools/list, with a cold
#    and a warm npm cache (both timed).
# 4. PyPI: the wheel in a fresh venv, through `uvx` and through `pipx run`, answers tools/list.
# 5. The host commands the docs print (`claude mcp add …`, `codex mcp add …` in README.md,
#    docs/clients.md, docs/installation.md and the package READMEs) run by the real Claude Code
#    and Codex CLIs, each server then connected / started.
#
# Installs what it needs itself, under target/packages (ignored by git): the pinned npm tools of
# dist/ci-tools/package.json, the pinned Python tools of dist/ci-tools/requirements.txt and
# clients/requirements.txt. Nothing leaves loopback. Ends with "packages: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)
export CARGO_TERM_COLOR=never

T=$ROOT/target/packages
OUT=$T/out
WORK=$T/work
TOOLS=$T/tools
PYENV=$T/py
mkdir -p "$T"
rm -rf "$WORK" "$OUT"
mkdir -p "$WORK"
# No npm, pip or uv state of the machine's user is read or written.
export npm_config_userconfig=$WORK/npmrc npm_config_cache=$T/npm-cache npm_config_update_notifier=false \
  npm_config_fund=false npm_config_audit=false PIP_DISABLE_PIP_VERSION_CHECK=1
: >"$WORK/npmrc"

SUITE=packages
# shellcheck source=steps.sh
source .ci/steps.sh
size() { du -h "$1" | cut -f1; }

# --- tools ---------------------------------------------------------------------------------------
echo "== Python tools (target/packages/py: dist/ci-tools/requirements.txt, clients/requirements.txt)"
if [ ! -x "$PYENV/bin/python" ]; then
  python3 -m venv "$PYENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
"$PYENV/bin/python" -m pip install --quiet -r dist/ci-tools/requirements.txt -r clients/requirements.txt \
  || die "pip install failed"
PY=$PYENV/bin/python
export PATH=$PYENV/bin:$PATH # maturin, uv, uvx, pipx
echo "   $(maturin --version), $(uv --version), pipx $(pipx --version)"

echo "== npm tools (target/packages/tools, dist/ci-tools/package-lock.json)"
mkdir -p "$TOOLS"
if ! cmp -s dist/ci-tools/package-lock.json "$TOOLS/package-lock.json" || [ ! -d "$TOOLS/node_modules" ]; then
  cp dist/ci-tools/package.json dist/ci-tools/package-lock.json "$TOOLS/"
  (cd "$TOOLS" && npm ci --loglevel=error) || die "npm ci failed"
fi
HOST_BIN=$TOOLS/node_modules/.bin
MCPB="node $TOOLS/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js"
# The host CLIs only ever see throwaway homes.
mkdir -p "$WORK/cli-home"
host_version() { HOME=$WORK/cli-home "$HOST_BIN/$1" --version 2>/dev/null; }
echo "   claude $(host_version claude), $(host_version codex), mcpb $($MCPB --version)"

# --- 1. release build and packing ----------------------------------------------------------------
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
TARGET=$(rustc -vV | sed -n 's/^host: //p')
t0=$(date +%s)
echo "== dist/release.sh build ($TARGET): maturin, one release build"
RELEASE_OUT=$OUT bash dist/release.sh build 2>"$T/build.log" | sed 's/^/   /' \
  || { tail -30 "$T/build.log"; die "dist/release.sh build failed"; }
BUILD_SECONDS=$(($(date +%s) - t0))
BINARY=$OUT/$TARGET/aipass-mcp
WHEEL=$(ls "$OUT"/wheels/aipass_mcp-"$VERSION"-*.whl 2>/dev/null | head -1)
[ -x "$BINARY" ] && [ -f "$WHEEL" ] || die "no binary or wheel in $OUT"
echo "   built in $BUILD_SECONDS s: binary $(size "$BINARY"), wheel $(size "$WHEEL") $(basename "$WHEEL")"

echo "== dist/release.sh pack"
RELEASE_OUT=$OUT RELEASE_URL=https://example.invalid/aipass-mcp/releases/v$VERSION MCPB=$MCPB \
  bash dist/release.sh pack >"$T/pack.log" 2>&1 || { tail -30 "$T/pack.log"; die "dist/release.sh pack failed"; }
LAUNCHER_TGZ=$OUT/npm/aipass-mcp-$VERSION.tgz
PLATFORM_TGZ=$OUT/npm/aipass-mcp-linux-x64-$VERSION.tgz
BUNDLE=$OUT/bundles/aipass-mcp-$VERSION-linux-x86_64.mcpb
ARCHIVE=$OUT/aipass-mcp-$VERSION-$TARGET.tar.gz
for f in "$LAUNCHER_TGZ" "$PLATFORM_TGZ" "$BUNDLE" "$ARCHIVE" "$OUT/server.json" "$OUT/SHA256SUMS"; do
  [ -f "$f" ] || die "dist/release.sh pack made no $f"
done
echo "   npm launcher $(size "$LAUNCHER_TGZ"), @aipass-mcp/linux-x64 $(size "$PLATFORM_TGZ"), bundle $(size "$BUNDLE"), archive $(size "$ARCHIVE")"
"$BINARY" tools >"$WORK/catalogue.json" || die "the release binary printed no catalogue"
# The shipped binary keeps startup code together (build.rs, link/startup.ld): traced from exec to
# idle, at least 90 % of what it runs must sit in .text.startup, or the layout has gone stale.
if [ "$TARGET" = x86_64-unknown-linux-gnu ]; then
  step "startup layout: the release binary runs its startup code from .text.startup" \
    bash bench/startup-layout/layout.sh --check "$BINARY"
fi

# --- the fake AI Pass ----------------------------------------------------------------------------
FAKE_BIN=$ROOT/target/debug/aipass-fake
cargo build --quiet -p aipass-fake --bin aipass-fake || die "building the fake failed"
start_fake "$FAKE_BIN" "$T/fake.log" "$PY"
REGISTRY_PID=
cleanup() {
  for pid in $FAKE_PID $REGISTRY_PID; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
}
trap cleanup EXIT
# What a host gives the server here: the fake, no browser, nothing from the user's own setup.
SERVER_ENV=(--env "AIPASS_BASE_URL=$BASE" --env "AIPASS_BROWSER=none" --env "AIPASS_LOG=warn"
  --env "HOME=$WORK/home" --env "AIPASS_CONFIG_DIR=$WORK/home/config")
mkdir -p "$WORK/home"
tools_list() { "$PY" dist/ci-tools/tools_list.py --catalogue "$WORK/catalogue.json" "${SERVER_ENV[@]}" -- "$@"; }

# --- 2. server.json ------------------------------------------------------------------------------
step "server.json (committed) against the MCP registry's published schema (skillsaw's copy)" \
  "$PY" dist/ci-tools/check_server_json.py server.json --npm-package npm/aipass-mcp/package.json --pypi-readme dist/pypi-README.md
packed_server_json() {
  "$PY" dist/ci-tools/check_server_json.py "$OUT/server.json" --npm-package npm/aipass-mcp/package.json --pypi-readme dist/pypi-README.md || return 1
  "$PY" - "$OUT/server.json" "$BUNDLE" <<'EOF'
import hashlib, json, sys
server = json.load(open(sys.argv[1]))
mcpb = [p for p in server["packages"] if p["registryType"] == "mcpb"]
digest = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
assert [p["fileSha256"] for p in mcpb] == [digest], (mcpb, digest)
print(f"mcpb entry: {mcpb[0]['identifier']} sha256 {digest[:16]}…")
EOF
}
step "server.json (packed, with the bundle's mcpb entry) against the published schema" packed_server_json
step "SHA256SUMS lists every packed file and matches it" bash -c "cd '$OUT' && sha256sum -c --quiet SHA256SUMS && wc -l < SHA256SUMS"

release_targets_agree() {
  # The workflow builds every target; dist/release.sh maps each to the npm platform package that
  # the launcher depends on. All three lists must name the same five platforms.
  "$PY" - <<'EOF'
import json, re, yaml
workflow = yaml.safe_load(open(".github/workflows/release.yml"))
targets = sorted(m["target"] for m in workflow["jobs"]["build"]["strategy"]["matrix"]["include"])
mapping = dict(re.findall(r"^\s+([a-z0-9_]+-[a-z0-9_-]+)\) echo ([a-z0-9]+-[a-z0-9]+) ;;", open("dist/release.sh").read(), re.M))
platforms = sorted(n.split("/")[1] for n in json.load(open("npm/aipass-mcp/package.json"))["optionalDependencies"])
print(f"workflow targets: {' '.join(targets)}")
assert targets == sorted(mapping), (targets, sorted(mapping))
assert sorted(mapping.values()) == platforms, (sorted(mapping.values()), platforms)
assert {"build", "pack", "publish"} <= set(workflow["jobs"]), list(workflow["jobs"])
EOF
}
step "release workflow targets = dist/release.sh targets = the launcher's platform packages" release_targets_agree

# --- 3. npm through a local registry -------------------------------------------------------------
# Its stdin is a FIFO this script holds open (bash runs one coprocess at a time: the fake's), so
# it stops when this script ends, however it ends.
mkfifo "$WORK/registry-in"
node dist/ci-tools/local-registry.cjs "$TOOLS/node_modules" "$WORK/registry" \
  <"$WORK/registry-in" >"$WORK/registry-out" 2>"$T/registry.log" &
REGISTRY_PID=$!
exec {REGISTRY_IN}>"$WORK/registry-in"
REG=
for _ in $(seq 600); do
  REG=$(head -1 "$WORK/registry-out")
  [ -n "$REG" ] || ! kill -0 "$REGISTRY_PID" 2>/dev/null && break
  sleep 0.1
done
[ -n "$REG" ] || die "Verdaccio printed no address (see $T/registry.log)"
echo "== Verdaccio at $REG (pid $REGISTRY_PID)"
# npm wants a token to publish; this registry takes any.
echo "//${REG#http://}/:_authToken=ci-throwaway" >"$WORK/npmrc"

publish() {
  npm publish --registry "$REG" "$PLATFORM_TGZ" || return 1
  npm publish --registry "$REG" "$LAUNCHER_TGZ" || return 1
  [ "$(npm view --registry "$REG" aipass-mcp version)" = "$VERSION" ] \
    && [ "$(npm view --registry "$REG" @aipass-mcp/linux-x64 version)" = "$VERSION" ]
}
step "npm publish @aipass-mcp/linux-x64 and aipass-mcp $VERSION to the local registry" publish

# npx_in CACHE ARGS...: npx from the local registry with that npm cache.
npx_in() { local cache=$1; shift; npm_config_cache=$cache npx -y --registry "$REG" aipass-mcp "$@"; }
npx_version() {
  local out t0
  rm -rf "$WORK/npx-cold"
  t0=$(date +%s%N)
  out=$(npx_in "$WORK/npx-cold" --version) || return 1
  echo "cold: '$out' after $((($(date +%s%N) - t0) / 1000000)) ms"
  [ "$out" = "aipass-mcp $VERSION" ]
}
step "npx -y --registry <local> aipass-mcp --version (cold npm cache): stdout passed through as is" npx_version
npx_tools_list() {
  rm -rf "$WORK/npx-cache"
  echo "cold npm cache:" && tools_list env "npm_config_cache=$WORK/npx-cache" npx -y --registry "$REG" aipass-mcp || return 1
  echo "warm npm cache:" && tools_list env "npm_config_cache=$WORK/npx-cache" npx -y --registry "$REG" aipass-mcp
}
step "npx -y --registry <local> aipass-mcp: full MCP tools/list, cold then warm npm cache" npx_tools_list
npx_args_and_status() {
  local out code
  # Arguments reach the binary: `status` with a token of the fake.
  out=$(AIPASS_ACCESS_TOKEN=$TOKEN AIPASS_BASE_URL=$BASE HOME=$WORK/home AIPASS_CONFIG_DIR=$WORK/home/config npx_in "$WORK/npx-cache" status) || return 1
  echo "status: $out"
  # The binary's exit status comes back: a bad setting exits 2.
  AIPASS_CONNECT_TIMEOUT=soon npx_in "$WORK/npx-cache" serve </dev/null 2>"$WORK/bad-setting.txt"
  code=$?
  echo "AIPASS_CONNECT_TIMEOUT=soon: exit $code, $(head -1 "$WORK/bad-setting.txt")"
  [ "$code" -eq 2 ]
}
step "npx aipass-mcp status / a bad setting: arguments in, exit status out" npx_args_and_status
npx_installed_tree() {
  # What npm put on disk for the user: the launcher and exactly one platform package.
  local dir
  dir=$(find "$WORK/npx-cache/_npx" -maxdepth 3 -name node_modules -type d | head -1)
  ls "$dir" "$dir/@aipass-mcp"
  [ -f "$dir/aipass-mcp/bin/aipass-mcp.js" ] && [ "$(ls "$dir/@aipass-mcp")" = linux-x64 ]
}
step "npx installed the launcher and only @aipass-mcp/linux-x64" npx_installed_tree

# --- 4. PyPI wheel -------------------------------------------------------------------------------
wheel_venv() {
  rm -rf "$WORK/wheel-venv"
  python3 -m venv "$WORK/wheel-venv" || return 1
  "$WORK/wheel-venv/bin/pip" install --quiet --no-index "$WHEEL" || return 1
  [ "$("$WORK/wheel-venv/bin/aipass-mcp" --version)" = "aipass-mcp $VERSION" ] || return 1
  tools_list "$WORK/wheel-venv/bin/aipass-mcp"
}
step "the wheel in a fresh venv (pip install --no-index): --version, tools/list" wheel_venv
uvx_wheel() {
  local out
  export UV_CACHE_DIR=$WORK/uv-cache UV_OFFLINE=1 UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
  out=$(uvx --from "$WHEEL" aipass-mcp --version) || return 1
  echo "uvx --from <wheel>: $out"
  [ "$out" = "aipass-mcp $VERSION" ] || return 1
  # As a host runs it: `uvx aipass-mcp`, the wheel found in a local folder instead of PyPI.
  tools_list env "UV_FIND_LINKS=$OUT/wheels" UV_NO_INDEX=1 uvx aipass-mcp
}
step "uvx --from <wheel> aipass-mcp --version; uvx aipass-mcp (offline, local wheel folder): tools/list" uvx_wheel
pipx_wheel() {
  local out
  export PIPX_HOME=$WORK/pipx PIPX_BIN_DIR=$WORK/pipx/bin PIP_NO_INDEX=1 PIP_FIND_LINKS=$OUT/wheels
  out=$(pipx run --spec "$WHEEL" aipass-mcp --version) || return 1
  echo "pipx run --spec <wheel>: $out"
  [ "$out" = "aipass-mcp $VERSION" ] || return 1
  tools_list pipx run --spec "$WHEEL" aipass-mcp
}
step "pipx run --spec <wheel> aipass-mcp: --version, tools/list" pipx_wheel
wheel_metadata() {
  "$PY" - "$WHEEL" "$VERSION" <<'EOF'
import sys, zipfile
wheel, version = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    meta = z.read(f"aipass_mcp-{version}.dist-info/METADATA").decode()
    names = z.namelist()
assert f"\nVersion: {version}\n" in meta, meta[:300]
assert "mcp-name: one.aipass/aipass-mcp" in meta, "the README (with the registry's mcp-name marker) is the long description"
assert f"aipass_mcp-{version}.data/scripts/aipass-mcp" in names, names
print(f"{wheel.rsplit('/', 1)[-1]}: Version {version}, scripts/aipass-mcp, mcp-name marker")
EOF
}
step "wheel metadata: version, the binary as a script, the registry's mcp-name marker" wheel_metadata

# --- the bundle dist/release.sh packed -----------------------------------------------------------
bundle() {
  rm -rf "$WORK/bundle" && $MCPB unpack "$BUNDLE" "$WORK/bundle" >/dev/null || return 1
  "$PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); assert m["compatibility"]["platforms"] == ["linux"] and m["version"] == sys.argv[2], m' \
    "$WORK/bundle/manifest.json" "$VERSION" || return 1
  [ "$("$WORK/bundle/server/aipass-mcp" --version)" = "aipass-mcp $VERSION" ] || return 1
  tools_list "$WORK/bundle/server/aipass-mcp" serve
}
step "the packed bundle (.mcpb): linux only, its binary answers tools/list" bundle

# --- 5. the docs' host commands, with the hosts' own CLIs ----------------------------------------
mkdir -p "$WORK/bin" && ln -sf "$BINARY" "$WORK/bin/aipass-mcp"
step "host commands in README.md, docs/clients.md, docs/installation.md and the package READMEs, run by claude $(host_version claude | cut -d' ' -f1) and $(host_version codex)" \
  "$PY" dist/ci-tools/host_commands.py --doc README.md --doc docs/clients.md:3 --doc docs/installation.md:1 \
  --doc npm/aipass-mcp/README.md --doc dist/pypi-README.md \
  --bin-dir "$WORK/bin" --host-bin "$HOST_BIN" --uv-bin "$PYENV/bin" --work "$WORK/hosts" \
  --base-url "$BASE" --token "$TOKEN" --catalogue "$WORK/catalogue.json" \
  --npm-registry "$REG" --wheel-dir "$OUT/wheels"

# --- summary -------------------------------------------------------------------------------------
echo
echo "sizes: binary $(size "$BINARY"), wheel $(size "$WHEEL"), npm launcher $(size "$LAUNCHER_TGZ"), @aipass-mcp/linux-x64 $(size "$PLATFORM_TGZ"), bundle $(size "$BUNDLE"); release build $BUILD_SECONDS s"
if [ "$FAILED" -gt 0 ]; then
  printf 'failed: %s\n' "${FAILURES[@]}"
fi
echo "packages: $PASSED passed, $FAILED failed ($(($(date +%s) - START)) s)"
[ "$FAILED" -eq 0 ]
