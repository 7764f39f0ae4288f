// A throwaway npm registry on loopback for .ci/packages.sh: Verdaccio with no uplinks (it never
// asks the public registry for anything), storage in the folder given, anyone may publish.
// Listens on a port the OS picks and prints `http://127.0.0.1:<port>` as its first stdout line;
// stops when its stdin closes, so it cannot outlive the script that started it.
//
//   node dist/ci-tools/local-registry.cjs <node_modules dir> <storage dir>

const { mkdirSync, writeFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

const [modules, storageArg] = process.argv.slice(2);
if (!modules || !storageArg) {
  console.error("usage: node local-registry.cjs <node_modules dir> <storage dir>");
  process.exit(2);
}
const storage = resolve(storageArg);
mkdirSync(storage, { recursive: true });
const configPath = join(storage, "config.yaml");
writeFileSync(
  configPath,
  [
    `storage: ${JSON.stringify(join(storage, "packages"))}`,
    "auth:",
    "  htpasswd:",
    `    file: ${JSON.stringify(join(storage, "htpasswd"))}`,
    "uplinks: {}",
    "packages:",
    "  '**':",
    "    access: $all",
    "    publish: $all",
    "log: { type: stdout, format: pretty, level: error }",
    "",
  ].join("\n"),
);

(async () => {
  const { runServer } = require(join(resolve(modules), "verdaccio"));
  const server = await runServer(configPath);
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`http://127.0.0.1:${server.address().port}\n`);
  });
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
})().catch((error) => {
  console.error(`local registry failed: ${error.stack || error}`);
  process.exit(1);
});
