# shellcheck shell=bash
# Shared by .ci/foreign-clients.sh and .ci/packages.sh: counted checks, setup failures, and the
# fake AI Pass. Set SUITE (the name on the summary line) before sourcing.

PASSED=0
FAILED=0
FAILURES=()
# step NAME COMMAND...: runs one check, its output indented, and counts it.
step() {
  local name=$1 t0
  shift
  t0=$(date +%s)
  echo "== $name"
  if "$@" 2>&1 | sed 's/^/   /'; then
    PASSED=$((PASSED + 1))
    echo "   -> ok ($(($(date +%s) - t0)) s): $name"
  else
    FAILED=$((FAILED + 1))
    FAILURES+=("$name")
    echo "   -> FAILED ($(($(date +%s) - t0)) s): $name"
  fi
}
die() {
  echo "error: $*" >&2
  echo "$SUITE: $PASSED passed, $((FAILED + 1)) failed (setup: $*)"
  exit 1
}

# start_fake FAKE_BIN LOG PYTHON: the fake AI Pass as a coprocess (its stdin stays open while the
# script runs, and it exits when that closes). Sets FAKE_PID, BASE (its URL) and TOKEN (a token
# it issued, scope api:access profile:read).
start_fake() {
  local bin=$1 log=$2 py=$3
  coproc FAKE { exec "$bin" --port 0 2>"$log"; }
  FAKE_PID=$FAKE_PID
  read -r -t 60 BASE <&"${FAKE[0]}" || die "the fake printed no base URL (see $log)"
  TOKEN=$("$py" - "$BASE" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/_fake/token", data=json.dumps({"scope": "api:access profile:read"}).encode(),
                             headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=10))["access_token"])
PY
  ) || die "no token from $BASE/_fake/token"
}
