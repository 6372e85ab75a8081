// Issue 18: the CLI's writers meet another live run's lock on their output folder (src/core/output/lock.ts),
// end to end through `node dist/cli.js` on the demo model (assets/demo-model, 4 layers: seconds).
// Refused: one line naming the holder (pid, host, what it writes, its start) and that nothing was
// changed, exit 1, nothing written (postshare before its training). --wait (share, export,
// postshare-job): the writer says whom it waits for and writes as soon as the holder releases; Ctrl-C
// while waiting: exit 130 within WAIT_CANCEL_SECONDS, nothing written, the holder's lock untouched.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { lockOutput } from "../src/core/output";
import { noCli, runCli, startCli, type StartedCli } from "./helpers/cli";

const model = path.resolve(__dirname, "../../assets/demo-model");
const text = path.join(model, "heldout-brown.txt");
const HOLDER = "a test holding the lock";
/** A cancel while waiting: the lock is polled every 250 ms, then the worker confirms and the CLI exits. */
const WAIT_CANCEL_SECONDS = 5;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** What the lock module says about this test process's lock. */
const holderText = `headshare pid ${process.pid} on ${escape(os.hostname())} \\(${HOLDER}, started [^)]+\\)`;

/** The writers and their command lines; postshare only where it is refused before its training (about a minute here). */
function writers(out: string, withPostShare: boolean): [string, string[]][] {
  return [
    ["share", ["share", model, "--ratio", "0.25", "--out", out]],
    ["export", ["export", model, "--format", "onnx", "--ratio", "0.25", "--out", out]],
    ...(withPostShare ? [["postshare", ["postshare", model, "--ratio", "0.25", "--text", text, "--steps", "2", "--out", out]] as [string, string[]]] : []),
    ["postshare-job", ["postshare-job", model, "--ratio", "0.25", "--text", text, "--steps", "2", "--out", out]],
  ];
}

/** Resolves when the running CLI's stderr matches `re` (its progress line), rejects when it ends first. */
async function stderrShows(run: StartedCli, re: RegExp, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  let ended = false;
  void run.done.then(() => (ended = true));
  while (!re.test(run.stderrSoFar())) {
    if (ended) throw new Error(`the CLI ended before its stderr showed ${re}:\n${run.stderrSoFar()}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`its stderr never showed ${re} in ${timeoutMs} ms:\n${run.stderrSoFar()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const headshareFiles = (dir: string, except: string): string[] => fs.readdirSync(dir).filter((n) => n.startsWith(".headshare-") && n !== except);

test(
  "cli lock: share, export, postshare and postshare-job refuse a folder another live run writes, in one line naming the holder; nothing written",
  { skip: noCli },
  async () => {
    const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cli-lock-"));
    try {
      const out = path.join(tmp, "out");
      for (const [name, args] of writers(out, true)) {
        const lock = await lockOutput(out, { what: HOLDER });
        try {
          const r = await runCli(args);
          assert.equal(r.code, 1, `${name}: ${r.stderr}`);
          const line = new RegExp(`${escape(out)} is being written by ${holderText}; nothing was changed\\. Wait for it \\(--wait\\) or choose another folder`);
          assert.match(r.stderr, line, name);
          assert.equal(r.stderr.split("\n").filter((l) => line.test(l)).length, 1, `${name}: said once, no stack:\n${r.stderr}`);
          assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
          assert.equal(fs.existsSync(out), false, `${name} wrote nothing`);
          assert.deepEqual(headshareFiles(tmp, path.basename(lock.file)), [], `${name} left no staging or lock of its own`);
        } finally {
          await lock.release();
        }
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);

test(
  "cli lock: --wait names the holder it waits for and writes when it releases; Ctrl-C while waiting exits 130 within WAIT_CANCEL_SECONDS, nothing written",
  { skip: noCli, timeout: 180_000 },
  async () => {
    const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cli-lock-wait-"));
    const waiting = new RegExp(`waiting for ${holderText} to finish`);
    try {
      const out = path.join(tmp, "out");
      for (const [name, args] of writers(out, false)) {
        fs.rmSync(out, { recursive: true, force: true });
        // Ctrl-C while waiting
        const lock = await lockOutput(out, { what: HOLDER });
        const lockText = fs.readFileSync(lock.file, "utf8");
        const cancelled = startCli([...args, "--wait"]);
        await stderrShows(cancelled, waiting);
        const t0 = performance.now();
        cancelled.child.kill("SIGINT");
        const c = await cancelled.done;
        const seconds = (performance.now() - t0) / 1000;
        console.log(`# ${name} --wait: Ctrl-C while waiting → exit ${c.code} after ${seconds.toFixed(2)} s (bound ${WAIT_CANCEL_SECONDS} s)`);
        assert.equal(c.code, 130, `${name}: ${c.stderr}`);
        assert.match(c.stderr, /was cancelled; nothing was written/);
        assert.ok(seconds < WAIT_CANCEL_SECONDS, `${name}: the cancel took ${seconds.toFixed(2)} s`);
        assert.equal(fs.existsSync(out), false);
        assert.equal(fs.readFileSync(lock.file, "utf8"), lockText, "the holder's lock is untouched");
        assert.deepEqual(headshareFiles(tmp, path.basename(lock.file)), []);
        // --wait until the holder releases
        const waited = startCli([...args, "--wait"]);
        await stderrShows(waited, waiting);
        assert.equal(fs.existsSync(out), false, "nothing is written while the holder runs");
        await lock.release();
        const w = await waited.done;
        assert.equal(w.code, 0, `${name}: ${w.stderr}`);
        assert.ok(fs.readdirSync(out).length > 0, `${name} wrote ${out} after the holder released it`);
        assert.deepEqual(headshareFiles(tmp, ""), [], "no lock or staging left");
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);
