#!/usr/bin/env node
// Runs the prebuilt aipass-mcp binary of this platform (from the optional dependency
// @aipass-mcp/<os>-<arch>) with the same arguments. stdin, stdout and stderr are handed to the
// binary as they are: stdout carries the MCP JSON-RPC stream, so nothing here writes to it.
"use strict";

const { spawn } = require("node:child_process");
const path = require("node:path");

const platformPackage = `@aipass-mcp/${process.platform}-${process.arch}`;
const exe = process.platform === "win32" ? "aipass-mcp.exe" : "aipass-mcp";

function binaryPath() {
  try {
    return path.join(path.dirname(require.resolve(`${platformPackage}/package.json`)), "bin", exe);
  } catch {
    process.stderr.write(
      `aipass-mcp: no prebuilt binary for ${process.platform}-${process.arch} ` +
        `(the optional package ${platformPackage} is not installed).\n` +
        "Supported: linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64. " +
        "If npm skipped optional dependencies (--omit=optional, --no-optional), install again " +
        "without that; otherwise build from source: cargo install --path . (docs/installation.md).\n",
    );
    process.exit(1);
  }
}

const child = spawn(binaryPath(), process.argv.slice(2), { stdio: "inherit", windowsHide: true });
// A host that stops the server signals this process: pass the signal on, so the binary ends too.
const forwarded = ["SIGINT", "SIGTERM", "SIGHUP"];
for (const signal of forwarded) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (error) => {
  process.stderr.write(`aipass-mcp: could not start the binary: ${error.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // End the way the binary ended, so the host sees the same outcome.
    for (const s of forwarded) process.removeAllListeners(s);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
