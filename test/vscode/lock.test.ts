/**
 * Issue 18 in the real extension host, as automation meets it (options given, no dialog): a writer
 * command whose output folder another live run is writing. `wait: false` is the job's one-line
 * refusal naming the owner; `wait: true` waits (the job's phase says for whom), is cancellable, and
 * writes as soon as the owner releases its lock. The interactive "Wait for it" / "Cancel" dialog is
 * driven in the workbench by ui-lock-steps.mjs (modal dialogs are refused inside extension tests).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as vscode from "vscode";
import { lockOutput } from "../../src/core/output/lock";

const tmp = process.env.HEADSHARE_TEST_TMP ?? "";
/** A cancel while waiting: the worker polls the lock every 250 ms, then confirms. */
const WAIT_CANCEL_MS = 5000;

interface Api {
  runningJobs(): { id: number; label: string; phase: string }[];
  cancel(id?: number): number;
  lastMessage(): string | undefined;
}

async function until(f: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("Issue 18: an output folder another live run writes (Export for ONNX Runtime, the wait option)", function () {
  let api: Api;
  let demo = "";

  before(async function () {
    const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === "headshare")!;
    api = (await ext.activate()) as Api;
    demo = path.join(tmp, "lock", "demo-model");
    fs.mkdirSync(path.dirname(demo), { recursive: true });
    fs.cpSync(path.join(ext.extensionPath, "assets", "demo-model"), demo, { recursive: true });
  });

  it("wait: false is refused naming the owner; wait: true waits saying for whom, is cancellable, and writes once the owner releases", async function () {
    this.timeout(180_000);
    const out = path.join(tmp, "lock", "demo-onnx");
    const lock = await lockOutput(out, { what: "the extension test's lock" });
    const owner = `headshare pid ${process.pid} on `;
    const exportInto = (wait: boolean) => vscode.commands.executeCommand("headshare.exportOnnx", vscode.Uri.file(demo), { out, quiet: true, wait });
    const waitingJob = () => api.runningJobs().some((j) => j.phase.includes(`waiting for ${owner}`));
    try {
      assert.equal(await exportInto(false), undefined, "refused");
      const said = api.lastMessage() ?? "";
      assert.ok(said.includes(`${out} is being written by ${owner}`) && said.includes("(the extension test's lock, started "), said);
      assert.match(said, /nothing was changed/);
      assert.equal(fs.existsSync(out), false);

      const cancelled = exportInto(true);
      await until(waitingJob, 60_000, "the export job's phase to say whom it waits for");
      assert.equal(fs.existsSync(out), false, "nothing is written while the owner runs");
      const t0 = Date.now();
      assert.equal(api.cancel(), 1);
      assert.equal(await cancelled, undefined, "a cancelled export returns nothing");
      const ms = Date.now() - t0;
      console.log(`      (cancel while waiting: the export ended ${ms} ms after the cancel; bound ${WAIT_CANCEL_MS} ms)`);
      assert.ok(ms < WAIT_CANCEL_MS, `the cancel took ${ms} ms`);
      assert.equal(fs.existsSync(out), false);

      const written = exportInto(true);
      await until(waitingJob, 60_000, "the export job's phase to say whom it waits for");
      await lock.release();
      const r = (await written) as { outDir: string } | undefined;
      assert.equal(r?.outDir, out, api.lastMessage());
      assert.ok(fs.existsSync(path.join(out, "onnx", "model.onnx")), "written once the owner released its lock");
    } finally {
      await lock.release();
    }
  });
});
