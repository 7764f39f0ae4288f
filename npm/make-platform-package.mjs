#!/usr/bin/env node
// Lays out the npm package that holds one platform's binary, @aipass-mcp/<os>-<arch>, ready
// for `npm pack` / `npm publish`. The version and the list of platforms come from the launcher's
// package.json (npm/aipass-mcp), so they cannot drift apart.
//
//   node npm/make-platform-package.mjs <os>-<arch> <path to the aipass-mcp binary> <output dir>
//
// <os>-<arch> uses Node's names (process.platform-process.arch): linux-x64, linux-arm64,
// darwin-x64, darwin-arm64, win32-x64.

import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [platform, binary, outDir] = process.argv.slice(2);
if (!platform || !binary || !outDir) {
  console.error("usage: node npm/make-platform-package.mjs <os>-<arch> <binary> <output dir>");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const launcher = JSON.parse(readFileSync(join(here, "aipass-mcp", "package.json"), "utf8"));
const name = `@aipass-mcp/${platform}`;
if (launcher.optionalDependencies?.[name] !== launcher.version) {
  console.error(`error: ${name} is not an optional dependency of ${launcher.name}@${launcher.version}`);
  process.exit(2);
}
const [os, cpu] = platform.split("-");
const exe = os === "win32" ? "aipass-mcp.exe" : "aipass-mcp";

const manifest = {
  name,
  version: launcher.version,
  description: `The aipass-mcp binary for ${platform}; installed by the aipass-mcp package, not meant to be installed alone.`,
  license: launcher.license,
  homepage: launcher.homepage,
  os: [os],
  cpu: [cpu],
  // The Linux binaries link against glibc; npm skips this package on musl (Alpine).
  ...(os === "linux" ? { libc: ["glibc"] } : {}),
  files: [`bin/${exe}`],
  preferUnplugged: true,
};

rmSync(outDir, { recursive: true, force: true });
mkdirSync(join(outDir, "bin"), { recursive: true });
copyFileSync(binary, join(outDir, "bin", exe));
chmodSync(join(outDir, "bin", exe), 0o755);
writeFileSync(join(outDir, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
writeFileSync(
  join(outDir, "README.md"),
  `# ${name}\n\nThe prebuilt \`aipass-mcp\` binary for ${platform}. Install and run [aipass-mcp](https://www.npmjs.com/package/aipass-mcp) instead: \`npx -y aipass-mcp\`.\n`,
);
console.log(outDir);
