#!/usr/bin/env bash
# Packs the Claude Desktop bundle (.mcpb) for this machine from a release build of aipass-mcp.
#
#   bash clients/pack-bundle.sh        # cargo build --release, then target/bundle/aipass-mcp-<version>-<os>-<arch>.mcpb
#
# Needs Rust and Node.js (npx). Settings (environment):
#   AIPASS_BINARY  use this binary instead of building one
#   MCPB           the MCPB CLI command (default: npx --yes @anthropic-ai/mcpb@2.1.2)
#   OUT_DIR        where the bundle goes (default: target/bundle)
#   BUNDLE_PLATFORM, BUNDLE_ARCH  the binary's platform (linux, darwin, win32) and arch, when it
#                  is not this machine's (dist/release.sh packs every target's bundle on one machine)
# The last line printed is the bundle's path.
set -euo pipefail
cd "$(dirname "$0")/.."

MCPB_VERSION=2.1.2 # keep in step with clients/package.json
read -r -a MCPB_CMD <<<"${MCPB:-npx --yes @anthropic-ai/mcpb@$MCPB_VERSION}"
OUT_DIR=${OUT_DIR:-target/bundle}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

case "${BUNDLE_PLATFORM:-$(uname -s)}" in
  Linux | linux) PLATFORM=linux EXE= ;;
  Darwin | darwin) PLATFORM=darwin EXE= ;;
  MINGW* | MSYS* | CYGWIN* | win32) PLATFORM=win32 EXE=.exe ;;
  *) echo "error: unsupported OS ${BUNDLE_PLATFORM:-$(uname -s)}" >&2; exit 1 ;;
esac
ARCH=${BUNDLE_ARCH:-$(uname -m)}

BINARY=${AIPASS_BINARY:-}
if [ -z "$BINARY" ]; then
  cargo build --release --bin aipass-mcp >&2
  BINARY=target/release/aipass-mcp$EXE
fi
[ -x "$BINARY" ] || { echo "error: no binary at $BINARY" >&2; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/server" "$STAGE/assets" "$OUT_DIR"
# One platform's binary per bundle, so the staged manifest names that platform only.
node -e '
  const fs = require("fs");
  const m = JSON.parse(fs.readFileSync("manifest.json", "utf8"));
  m.compatibility = { ...(m.compatibility || {}), platforms: [process.argv[1]] };
  fs.writeFileSync(process.argv[2], JSON.stringify(m, null, 2) + "\n");
' "$PLATFORM" "$STAGE/manifest.json"
cp assets/icon.png "$STAGE/assets/icon.png"
cp "$BINARY" "$STAGE/server/aipass-mcp$EXE"
# Debug symbols only make the download bigger (Linux only: stripping breaks macOS signatures).
# Another platform's binary comes stripped from dist/release.sh (this strip could not read it).
if [ "$PLATFORM" = linux ] && [ -z "${BUNDLE_PLATFORM:-}" ] && command -v strip >/dev/null; then strip "$STAGE/server/aipass-mcp"; fi

BUNDLE=$OUT_DIR/aipass-mcp-$VERSION-$PLATFORM-$ARCH.mcpb
rm -f "$BUNDLE"
"${MCPB_CMD[@]}" pack "$STAGE" "$BUNDLE" >&2
echo "$(cd "$(dirname "$BUNDLE")" && pwd)/$(basename "$BUNDLE")"
