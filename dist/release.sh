#!/usr/bin/env bash
# The release recipe: builds aipass-mcp for one target, then packs everything users install.
#
#   bash dist/release.sh build [TARGET]   # on a machine of that target (default: this machine's)
#   bash dist/release.sh pack             # once, after every target's build is in dist/out/
#
# `build` runs maturin (PyPI tool, see dist/ci-tools/requirements.txt), which builds the release
# binary once, stripped, and wraps it in the wheel; the same binary is copied out for the rest:
#   dist/out/<target>/aipass-mcp[.exe]     the binary
#   dist/out/wheels/*.whl                  the wheel (PyPI: uvx / pipx run aipass-mcp)
# `pack` turns each dist/out/<target>/ binary into
#   aipass-mcp-<version>-<target>.tar.gz|.zip         archives (docs/installation.md)
#   npm/aipass-mcp-<os>-<arch>-<version>.tgz          @aipass-mcp/<os>-<arch>, the binary
#   npm/aipass-mcp-<version>.tgz                      the launcher (npx -y aipass-mcp)
#   aipass-mcp-<version>-<os>-<arch>.mcpb             Claude Desktop bundles (clients/pack-bundle.sh)
#   server.json                                       the MCP registry entry, with the bundles
#   SHA256SUMS                                        of every file above and the wheels
# Settings (environment): RELEASE_URL, where the release's files will be downloaded from (the
# .mcpb entries of server.json need it; without it they are left out); MCPB, the MCPB CLI command
# (as in clients/pack-bundle.sh). .github/workflows/release.yml runs this on every target;
# .ci/packages.sh runs both steps for Linux x64 and checks what they make.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${RELEASE_OUT:-$ROOT/dist/out}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# target triple -> Node's <os>-<arch> (npm package, bundle) and the archive format
npm_platform() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo linux-x64 ;;
    aarch64-unknown-linux-gnu) echo linux-arm64 ;;
    x86_64-apple-darwin) echo darwin-x64 ;;
    aarch64-apple-darwin) echo darwin-arm64 ;;
    x86_64-pc-windows-msvc) echo win32-x64 ;;
    *) echo "error: no npm platform for target $1" >&2; return 1 ;;
  esac
}
exe_suffix() { case "$1" in *windows*) echo .exe ;; *) echo ;; esac; }

build() {
  local host target exe wheel_dir built
  host=$(rustc -vV | sed -n 's/^host: //p')
  target=${1:-$host}
  exe=$(exe_suffix "$target")
  npm_platform "$target" >/dev/null
  wheel_dir=$OUT/wheels
  mkdir -p "$wheel_dir" "$OUT/$target"
  # One cargo build: maturin compiles the release binary (stripped, pyproject.toml) into the
  # wheel. For this machine's own target, without --target, so target/release is reused.
  if [ "$target" = "$host" ]; then
    maturin build --release --locked --out "$wheel_dir" >&2
    built=target/release/aipass-mcp$exe
  else
    maturin build --release --locked --target "$target" --out "$wheel_dir" >&2
    built=target/$target/release/aipass-mcp$exe
  fi
  cp "$built" "$OUT/$target/aipass-mcp$exe"
  echo "$OUT/$target/aipass-mcp$exe"
}

pack() {
  local targets=() t platform os arch exe binary stage bundle_arch
  for t in "$OUT"/*/aipass-mcp "$OUT"/*/aipass-mcp.exe; do
    [ -f "$t" ] && targets+=("$(basename "$(dirname "$t")")")
  done
  [ ${#targets[@]} -gt 0 ] || { echo "error: no builds in $OUT (run: dist/release.sh build)" >&2; exit 1; }
  mkdir -p "$OUT/npm" "$OUT/bundles"
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' RETURN
  for t in "${targets[@]}"; do
    platform=$(npm_platform "$t")
    os=${platform%-*} arch=${platform#*-}
    exe=$(exe_suffix "$t")
    binary=$OUT/$t/aipass-mcp$exe
    echo "== $t ($platform)" >&2
    if [ -n "$exe" ]; then
      (cd "$OUT/$t" && rm -f "$OUT/aipass-mcp-$VERSION-$t.zip" && python3 -m zipfile -c "$OUT/aipass-mcp-$VERSION-$t.zip" "aipass-mcp$exe")
    else
      tar -czf "$OUT/aipass-mcp-$VERSION-$t.tar.gz" -C "$OUT/$t" aipass-mcp
    fi
    node npm/make-platform-package.mjs "$platform" "$binary" "$stage/$platform" >/dev/null
    (cd "$stage/$platform" && npm pack --silent --pack-destination "$OUT/npm" >/dev/null)
    case "$arch" in x64) bundle_arch=x86_64 ;; arm64) [ "$os" = linux ] && bundle_arch=aarch64 || bundle_arch=arm64 ;; esac
    AIPASS_BINARY=$binary OUT_DIR=$OUT/bundles BUNDLE_PLATFORM=$os BUNDLE_ARCH=$bundle_arch \
      bash clients/pack-bundle.sh >/dev/null
  done
  (cd npm/aipass-mcp && npm pack --silent --pack-destination "$OUT/npm" >/dev/null)
  server_json >"$OUT/server.json"
  (cd "$OUT" && find . -type f \( -name '*.tar.gz' -o -name '*.zip' -o -name '*.tgz' -o -name '*.whl' -o -name '*.mcpb' -o -name server.json \) \
    | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
  echo "$OUT"
}

# server.json with this version, plus one mcpb package per bundle when RELEASE_URL is known.
server_json() {
  python3 - "$VERSION" "${RELEASE_URL:-}" "$OUT/bundles" <<'PY'
import hashlib, json, pathlib, sys
version, url, bundles = sys.argv[1], sys.argv[2].rstrip("/"), pathlib.Path(sys.argv[3])
server = json.loads(pathlib.Path("server.json").read_text())
assert server["version"] == version, f"server.json has {server['version']}, Cargo.toml {version}"
if url:
    for bundle in sorted(bundles.glob("*.mcpb")):
        server["packages"].append({
            "registryType": "mcpb",
            "identifier": f"{url}/{bundle.name}",
            "fileSha256": hashlib.sha256(bundle.read_bytes()).hexdigest(),
            "transport": {"type": "stdio"},
        })
print(json.dumps(server, indent=2))
PY
}

case "${1:-}" in
  build) build "${2:-}" ;;
  pack) pack ;;
  *) echo "usage: bash dist/release.sh build [TARGET] | pack" >&2; exit 2 ;;
esac
