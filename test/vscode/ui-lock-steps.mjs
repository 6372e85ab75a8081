// UI steps for scripts/test-vscode.mjs (phase "lock"): Compress into an output folder that another live
// headshare run is writing (issue 18), driven like a user. A separate process (holdLock.js, bundled from
// test/vscode/holdLock.ts) holds the folder's lock through the core, so the extension meets a live owner
// with a real pid. The modal (src/extension/outputLock.ts) names that owner and offers "Wait for it" /
// "Cancel": Cancel starts nothing; Wait for it waits (the status bar's tooltip says for whom, nothing is
// written) and stays cancellable (Headshare: Cancel Running Job); a second Wait for it writes the folder
// as soon as the holder releases its lock. Throws on failure.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** A cancel while waiting: the worker polls the lock every 250 ms, then the job ends and the status bar clears. */
const WAIT_CANCEL_MS = 10_000;

export async function runUi({ page, port, workspace, payload, artifacts, step, testsOut, model }) {
  const out = path.join(workspace, "models", `${model}-locked`);
  const holder = spawn(process.execPath, [path.join(testsOut, "holdLock.js"), out], { stdio: ["pipe", "pipe", "inherit"] });
  let said = "";
  holder.stdout.on("data", (d) => (said += d));
  const holderSays = (re) => until(() => re.exec(said), 30_000, `holdLock.js to print ${re} (it printed ${JSON.stringify(said)})`);
  try {
    const lockFile = (await holderSays(/^locked (.+)$/m))[1];
    const lockText = fs.readFileSync(lockFile, "utf8");
    step(`holdLock.js (pid ${holder.pid}) holds ${lockFile}`);

    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    await page.locator(".monaco-workbench .statusbar").waitFor({ timeout: 60000 });
    const row = (name) =>
      page.locator(".explorer-folders-view .monaco-list-row", { has: page.locator(".label-name", { hasText: new RegExp(`^${name}$`) }) }).first();
    await row("models").waitFor({ timeout: 30000 });
    await row("models").click();
    await row(model).waitFor({ timeout: 15000 });
    const status = page.locator(".statusbar-item", { hasText: "Headshare" }).first();
    await status.waitFor({ timeout: 60000 });
    await page.waitForTimeout(1500);
    step("workbench up, extension active");

    const owner = new RegExp(`${escape(out)} is being written by headshare pid ${holder.pid} on .+ \\(a test's held lock, started `);
    const dialog = page.locator(".monaco-dialog-box");
    /** Compress from the explorer menu: DirectShare, the offered ratio, strategy and format, the locked folder; the dialog opens. */
    const compressInto = async () => {
      const item = page.locator(".context-view .monaco-menu .action-label", { hasText: "Compress Checkpoint" }).first();
      for (let i = 0; ; i++) {
        await row(model).click({ button: "right" });
        if (await visible(item, 3000)) break;
        await page.keyboard.press("Escape");
        if (i > 10) throw new Error(`the explorer context menu never offered Headshare: Compress Checkpoint on ${model}`);
        await page.waitForTimeout(1000);
      }
      await item.hover({ force: true });
      await page.waitForTimeout(200);
      await page.keyboard.press("Enter");
      const quickInput = page.locator(".quick-input-widget");
      for (const title of ["method", "sharing ratio", "similarity strategy", "output format", "output folder"]) {
        await quickInput.locator(".quick-input-title", { hasText: title }).waitFor({ timeout: 30000 });
        if (title === "output folder") await quickInput.locator("input").fill(out);
        await page.keyboard.press("Enter");
        await page.waitForTimeout(300);
      }
      await dialog.waitFor({ timeout: 30000 });
      assert.match((await dialog.textContent()) ?? "", owner, "the dialog names the live owner");
    };
    const button = (name) => dialog.locator(".monaco-button", { hasText: new RegExp(`^${name}$`) }).first();
    const jobRuns = () => status.textContent().then((t) => /compress/.test(t ?? ""));
    const untouched = () => {
      assert.equal(fs.existsSync(out), false, `nothing is written to ${out}`);
      assert.equal(fs.readFileSync(lockFile, "utf8"), lockText, "the holder's lock file is untouched");
    };

    // 1. Cancel: nothing starts.
    await compressInto();
    await page.screenshot({ path: path.join(artifacts, "vscode-lock-dialog.png") });
    assert.ok(await button("Wait for it").isVisible(), "the dialog offers Wait for it");
    await button("Cancel").click();
    await dialog.waitFor({ state: "hidden", timeout: 10000 });
    await page.waitForTimeout(2000);
    assert.equal(await jobRuns(), false, "no compress job started");
    untouched();
    step(`dialog named pid ${holder.pid}; Cancel: no job started, nothing written, the lock untouched`);

    // 2. Wait for it: the job waits, says for whom, writes nothing; Headshare: Cancel Running Job ends it.
    await compressInto();
    await button("Wait for it").click();
    await until(jobRuns, 30_000, "the compress job to show in the status bar");
    const waitingFor = new RegExp(`waiting for headshare pid ${holder.pid} on .+ to finish`);
    await until(
      async () => {
        await status.hover();
        const shown = await visible(page.getByText(waitingFor).first(), 5000);
        if (!shown) await page.mouse.move(10, 10);
        return shown;
      },
      60_000,
      "the status bar tooltip to say whom the job waits for",
    );
    await page.screenshot({ path: path.join(artifacts, "vscode-lock-waiting.png") });
    await page.mouse.move(10, 10);
    untouched();
    step("Wait for it: the job waits (tooltip: waiting for the holder), nothing written");
    await page.keyboard.press("F1");
    await page.locator(".quick-input-widget input").fill(">Headshare: Cancel Running Job");
    await page.locator(".quick-input-list .monaco-list-row", { hasText: "Cancel Running Job" }).first().waitFor({ timeout: 10000 });
    const t0 = Date.now();
    await page.keyboard.press("Enter");
    await until(async () => !(await jobRuns()), WAIT_CANCEL_MS, `the waiting job to end within ${WAIT_CANCEL_MS} ms of Cancel Running Job`);
    const cancelMs = Date.now() - t0;
    untouched();
    step(`cancelled while waiting: the job ended ${cancelMs} ms after Cancel Running Job (bound ${WAIT_CANCEL_MS} ms); nothing written`);

    // 3. Wait for it again; the holder finishes: the folder is written.
    await compressInto();
    await button("Wait for it").click();
    await until(jobRuns, 30_000, "the compress job to show in the status bar");
    await page.waitForTimeout(1000);
    untouched();
    holder.stdin.write("done\n");
    await holderSays(/^released$/m);
    const report = page.frameLocator("iframe.webview.ready").last().frameLocator("iframe#active-frame");
    await report.locator("#report-size").waitFor({ timeout: 180000 });
    assert.ok(fs.existsSync(path.join(out, "model.safetensors")), `${out}/model.safetensors written once the holder released`);
    assert.equal(fs.existsSync(lockFile), false, "the writer released its lock");
    await page.screenshot({ path: path.join(artifacts, "vscode-lock-written.png") });
    step("Wait for it, holder released: the folder was written and its report opened");
  } finally {
    if (holder.exitCode === null) holder.kill();
  }
}

async function until(f, ms, what) {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const visible = (locator, timeout) =>
  locator.waitFor({ state: "visible", timeout }).then(
    () => true,
    () => false,
  );

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
