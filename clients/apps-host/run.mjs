// Browser test of the MCP Apps view, run by .ci/apps.sh from target/apps-host: the fake AI Pass,
// the real aipass-mcp binary (through the official MCP client, declaring the UI extension),
// a host page built on the official Apps SDK's AppBridge, and Debian's Chromium through
// Playwright. Every view gets real tool results; its file and tool requests go to the binary.
// Prints `apps: N passed, M failed` and writes screenshots to the folder given by --shots.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SERVER = arg("--server");
const FAKE = arg("--fake");
const SOURCE = arg("--source", here);
const SHOTS = arg("--shots");
const CHROMIUM = arg("--chromium", "/usr/bin/chromium");
const work = mkdtempSync(path.join(tmpdir(), "aipass-apps-"));
const results = [];
let fake;
let client;
let browser;

function check(name, ok, detail = "") {
  results.push({ name, ok });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ": " + detail : ""}`);
}

async function startFake() {
  fake = spawn(FAKE, ["--port", "0"], { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: fake.stdout });
    lines.once("line", resolve);
    fake.once("exit", () => reject(new Error("the fake exited")));
  });
  const base = line.trim();
  const answer = await fetch(base + "/_fake/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ scope: "api:access profile:read" }),
  });
  const { access_token } = await answer.json();
  return { base, token: access_token };
}

async function connect({ base, token }) {
  const transport = new StdioClientTransport({
    command: SERVER,
    args: ["serve"],
    env: {
      PATH: process.env.PATH,
      HOME: work,
      AIPASS_BASE_URL: base,
      AIPASS_ACCESS_TOKEN: token,
      AIPASS_OUTPUT_DIR: path.join(work, "out"),
      AIPASS_CONFIG_DIR: path.join(work, "config"),
      AIPASS_TOKEN_STORE: "file",
      AIPASS_BROWSER: "none",
      AIPASS_LOG: "warn",
    },
    stderr: "inherit",
  });
  client = new Client(
    { name: "aipass-apps-test-host", version: "1.0.0" },
    { capabilities: { extensions: { "io.modelcontextprotocol/ui": { mimeTypes: ["text/html;profile=mcp-app"] } } } },
  );
  await client.connect(transport);
}

async function main() {
  await connect(await startFake());

  const { tools } = await client.listTools();
  const pointing = tools.filter((t) => t._meta?.ui?.resourceUri === "ui://aipass/media").map((t) => t.name);
  check("media tools, list_models and balance point at ui://aipass/media", ["generate_image", "speak", "generate_video", "get_video", "list_models", "balance"].every((n) => pointing.includes(n)), pointing.join(","));
  check("other tools keep no _meta", tools.filter((t) => !pointing.includes(t.name)).every((t) => t._meta === undefined));
  const view = await client.readResource({ uri: "ui://aipass/media" });
  const html = view.contents[0].text;
  check("the view is served as text/html;profile=mcp-app", view.contents[0].mimeType === "text/html;profile=mcp-app", `${html.length} bytes`);

  const bundle = await esbuild.build({
    entryPoints: [path.join(SOURCE, "host.js")],
    bundle: true,
    format: "iife",
    platform: "browser",
    write: false,
    logLevel: "error",
  });
  const profile = mkdtempSync(path.join(tmpdir(), "aipass-apps-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
    viewport: { width: 680, height: 900 },
  });
  // No network at all: the page and the views may load nothing from anywhere.
  const outside = [];
  await browser.route("**/*", (route) => { outside.push(route.request().url()); return route.abort(); });
  const page = browser.pages()[0] || (await browser.newPage());
  page.on("console", (m) => { if (m.type() === "error") console.log("  [browser]", m.text()); });
  const calls = [];
  await page.exposeFunction("hostMcp", async (viewId, method, params) => {
    calls.push({ viewId, method, params });
    if (method === "tools/call") return await client.callTool(params);
    if (method === "resources/read") return await client.readResource(params);
    if (method === "resources/list") return await client.listResources(params);
    throw new Error("unexpected " + method);
  });
  await page.setContent(`<!doctype html><html><body style="margin:8px;font-family:sans-serif"><script>${bundle.outputFiles[0].text}</script></body></html>`);

  const open = async (id, theme, tool, args) => {
    const result = await client.callTool({ name: tool, arguments: args });
    if (result.isError) throw new Error(`${tool}: ${JSON.stringify(result.content)}`);
    await page.evaluate((v) => window.openView(v), { id, html, theme, tool, args, result });
    return { frame: await (await page.$(`#${id}`)).contentFrame(), result };
  };
  const shot = async (id, name) => {
    if (!SHOTS) return;
    // Wait for the host to apply the view's reported size (ui/notifications/size-changed).
    // Chromium does not lay out an off-screen frame, so bring it into view first.
    const element = await page.$(`#${id}`);
    await element.scrollIntoViewIfNeeded();
    const frame = await element.contentFrame();
    for (let i = 0; i < 40; i++) {
      const wanted = Math.min(await frame.evaluate(() => Math.ceil(document.body.getBoundingClientRect().height)), 900);
      const has = await page.$eval(`#${id}`, (f) => f.clientHeight);
      if (Math.abs(has - wanted) <= 2) break;
      await page.waitForTimeout(100);
    }
    await page.waitForTimeout(200);
    await (await page.$(`#${id}`)).screenshot({ path: path.join(SHOTS, name) });
  };

  // 1. Images: both appear, decoded, with prompt and model; a click enlarges one.
  {
    const { frame } = await open("images", "light", "generate_image", { prompt: "a lighthouse at dusk", n: 2 });
    await frame.waitForFunction(() => document.querySelectorAll("figure img").length === 2 && [...document.querySelectorAll("figure img")].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 20000 });
    const caption = await frame.textContent("figcaption");
    check("generated images appear in the gallery", true);
    check("the gallery shows prompt and model", caption.includes("a lighthouse at dusk") && caption.includes("model:"), caption);
    await shot("images", "apps-images.png");
    await frame.click("figure img");
    const enlarged = await frame.$eval("#lightbox", (l) => l.classList.contains("open") && l.querySelector("img").naturalWidth > 0);
    check("clicking an image enlarges it", enlarged);
    await frame.click("#lightbox");
    await frame.evaluate(() => window.scrollTo(0, 0));
  }

  // 2. Speech: the audio element has a playable source.
  {
    const { frame } = await open("speech", "dark", "speak", { text: "Hello from AI Pass" });
    await frame.waitForSelector("audio", { timeout: 20000 });
    const audio = await frame.$eval("audio", (a) => new Promise((resolve) => {
      const report = () => resolve({ src: a.src.slice(0, 5), canPlay: a.canPlayType(a.src ? "audio/mpeg" : ""), ready: a.readyState, duration: a.duration, error: a.error && a.error.code });
      if (a.readyState >= 1) report(); else { a.addEventListener("loadedmetadata", report); a.addEventListener("error", report); setTimeout(report, 10000); }
    }));
    check("the speech plays: audio has a loaded source", audio.src === "blob:" && audio.ready >= 1 && audio.duration > 0 && !audio.error, JSON.stringify(audio));
    await shot("speech", "apps-speech.png");
  }

  // 3. A finished video plays.
  const playable = (frame) => frame.$eval("video", (v) => new Promise((resolve) => {
    const report = () => resolve({ ready: v.readyState, time: v.currentTime, error: v.error && v.error.code });
    v.play().then(() => setTimeout(report, 600), () => report());
    setTimeout(report, 10000);
  }));
  {
    const { frame, result } = await open("video", "light", "generate_video", { prompt: "waves on a beach", wait_seconds: 30 });
    check("generate_video completed within its wait", result.structuredContent.status === "completed", result.structuredContent.status);
    await frame.waitForSelector("video", { timeout: 20000 });
    const state = await playable(frame);
    check("the finished video plays", state.ready >= 2 && state.time > 0 && !state.error, JSON.stringify(state));
    await shot("video", "apps-video.png");
  }

  // 4. A pending video: the refresh button calls get_video through the host until it completes.
  {
    const { frame, result } = await open("pending", "light", "generate_video", { prompt: "a slow sunrise", wait_seconds: 0 });
    check("a video started with wait_seconds 0 is pending", result.structuredContent.status !== "completed", result.structuredContent.status);
    await frame.waitForSelector("#refresh", { timeout: 20000 });
    await shot("pending", "apps-video-pending.png");
    for (let i = 0; i < 8 && !(await frame.$("video")); i++) {
      await frame.click("#refresh");
      await frame.waitForFunction(() => document.querySelector("video") || (document.querySelector("#refresh") && !document.querySelector("#refresh").disabled), null, { timeout: 20000 });
    }
    const refreshes = calls.filter((c) => c.viewId === "pending" && c.method === "tools/call");
    check("the refresh button calls get_video through the host", refreshes.length >= 1 && refreshes.every((c) => c.params.name === "get_video" && c.params.arguments.video_id === result.structuredContent.video_id), `${refreshes.length} calls`);
    const state = await playable(frame);
    check("the pending video completes and plays", state.ready >= 2 && state.time > 0, JSON.stringify(state));
  }

  // 5. The model list and the balance as compact tables.
  {
    const { frame, result } = await open("models", "light", "list_models", {});
    const rows = await frame.$$eval("#records tr", (r) => r.length - 1);
    const expected = Math.min(result.structuredContent.models.length, 300);
    check("list_models shows one table row per model", rows === expected && rows > 0, `${rows} of ${expected}`);
    await shot("models", "apps-models.png");
    const balance = await open("balance", "dark", "balance", {});
    const text = await balance.frame.textContent("#values");
    check("balance shows its figures in a table", text.includes("remaining budget"), text);
    await shot("balance", "apps-balance.png");
  }

  check("files came through resources/read", calls.filter((c) => c.method === "resources/read").length >= 5);
  check("no view or page reached the network", outside.length === 0, outside.join(" "));
}

try {
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  await main();
} catch (e) {
  check("the browser test ran to the end", false, e.stack || String(e));
} finally {
  await browser?.close().catch(() => {});
  await client?.close().catch(() => {});
  fake?.kill();
  rmSync(work, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok).length;
console.log(`apps: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
