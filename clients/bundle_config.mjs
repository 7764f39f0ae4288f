// What an MCPB host (Claude Desktop) runs for an installed bundle: resolves the bundle's
// mcp_config with the official MCPB library (`getMcpConfigForManifest`, the same code path hosts
// use: ${__dirname}, ${HOME}…, user_config values and defaults, platform overrides) and prints
// it as JSON, or `null` when a required setting is still missing (the host asks for it first).
//
//   MCPB_PACKAGE=<node_modules>/@anthropic-ai/mcpb node clients/bundle_config.mjs \
//       <unpacked bundle dir> '<user config JSON>'

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, sep } from "node:path";
import { pathToFileURL } from "node:url";

const [bundleDir, userConfigJson = "{}"] = process.argv.slice(2);
if (!bundleDir || !process.env.MCPB_PACKAGE) {
  console.error("usage: MCPB_PACKAGE=<path to @anthropic-ai/mcpb> node bundle_config.mjs <bundle dir> [user config JSON]");
  process.exit(2);
}
const mcpb = await import(pathToFileURL(join(process.env.MCPB_PACKAGE, "dist", "index.js")).href);

const manifest = JSON.parse(readFileSync(join(bundleDir, "manifest.json"), "utf8"));
const home = homedir();
const config = await mcpb.getMcpConfigForManifest({
  manifest,
  extensionPath: bundleDir,
  systemDirs: {
    HOME: home,
    DATA: join(home, ".local", "share"),
    DESKTOP: join(home, "Desktop"),
    DOCUMENTS: join(home, "Documents"),
    DOWNLOADS: join(home, "Downloads"),
  },
  userConfig: JSON.parse(userConfigJson),
  pathSeparator: sep,
  logger: { log() {}, warn() {}, error: console.error },
});
process.stdout.write(JSON.stringify(config ?? null) + "\n");
