// The worker protocol's schemas and the shipped job table: every job has a handler, params are
// validated up front (absolute paths, ranges, enums, defaults), core results pass their schemas,
// and the CLI's progress line behaves on a TTY and off it.
import test from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { computeMatchTable } from "../src/core/share/match";
import { planSharing } from "../src/core/share/plan";
import { writeShared } from "../src/core/share/write";
import { inspectCheckpoint } from "../src/core/model/summary";
import { matchTableSchema, sharingPlanSchema } from "../src/protocol/shareSchemas";
import { workerRequests, type WorkerJob } from "../src/protocol/worker";
import { checkpointSummarySchema, shareResultSchema } from "../src/protocol/workerResults";
import { jobTable } from "../src/worker/jobTable";
import { ProgressLine, parseProviders } from "../src/cli/runJob";

test("protocol-worker: every job in the protocol has a handler in the shipped job table, and nothing else", () => {
  const jobs = Object.keys(workerRequests)
    .filter((m) => m !== "headshare/initialize" && m !== "headshare/shutdown")
    .sort();
  assert.deepEqual(Object.keys(jobTable).sort(), jobs);
  assert.deepEqual(jobs, [
    "headshare/devices",
    "headshare/eval",
    "headshare/expand",
    "headshare/export",
    "headshare/generate",
    "headshare/inspect",
    "headshare/match",
    "headshare/plan",
    "headshare/postshare",
    "headshare/postshareImport",
    "headshare/postshareJob",
    "headshare/share",
    "headshare/sweep",
  ]);
  for (const m of jobs) assert.equal(typeof jobTable[m as WorkerJob]?.run, "function", m);
});

test("protocol-worker: params are validated up front with defaults applied", () => {
  const share = workerRequests["headshare/share"].params;
  const ok = share.parse({ model: "/m", ratio: 0.3, out: "/o" });
  assert.deepEqual(ok, { model: "/m", ratio: 0.3, out: "/o", strategy: "qk", granularity: "group", format: "compact", force: false });
  assert.ok(share.safeParse({ model: "C:\\models\\m", ratio: 0, out: "\\\\server\\share\\o" }).success, "Windows paths are absolute too");
  const bad: unknown[] = [
    { model: "relative", ratio: 0.3, out: "/o" },
    { model: "/m", ratio: 1.5, out: "/o" },
    { model: "/m", ratio: Number.NaN, out: "/o" },
    { model: "/m", ratio: 0.3, out: "/o", format: "zip" },
    { model: "/m", ratio: 0.3, out: "/o", strategy: "qkvo" },
    { model: "/m", ratio: 0.3, out: "/o", providers: ["tpu"] },
    { model: "/m", ratio: 0.3, out: "/o", providers: [] },
    { model: "/m", ratio: "0.3", out: "/o" },
    { ratio: 0.3, out: "/o" },
  ];
  for (const b of bad) assert.equal(share.safeParse(b).success, false, JSON.stringify(b));
  const ev = workerRequests["headshare/eval"].params;
  assert.equal(ev.parse({ model: "/m", text: "/t" }).bos, true);
  assert.equal(ev.safeParse({ model: "/m", text: "/t", window: 1 }).success, false);
  assert.equal(workerRequests["headshare/sweep"].params.safeParse({ model: "/m", text: "/t", ratios: [] }).success, false);
  assert.equal(workerRequests["headshare/postshare"].params.safeParse({ model: "/m", ratio: 0.3, text: [] }).success, false);
  assert.equal(workerRequests["headshare/initialize"].params.safeParse({ protocolVersion: 2 }).success, false);
});

test("protocol-worker: core results pass their schemas; malformed tables and plans do not", async () => {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-proto-"));
  try {
    const model = path.join(dir, "m");
    fs.mkdirSync(model);
    await writeSyntheticModel(model, { family: "gpt2", layers: 3, heads: 4, headDim: 8, vocab: 32, seed: 9 });
    const ckpt = await openCheckpoint(model);
    try {
      const table = await computeMatchTable(ckpt, { strategy: "qkv", granularity: "group", providers: ["cpu"] });
      assert.ok(matchTableSchema.safeParse(table).success);
      const plan = planSharing(table, 0.5);
      assert.ok(sharingPlanSchema.safeParse(plan).success);
      const out = await writeShared(ckpt, plan, { format: "compact", outDir: path.join(dir, "c") });
      assert.ok(shareResultSchema.safeParse(out).success);
      const summary = await inspectCheckpoint(path.join(dir, "c"));
      assert.ok(checkpointSummarySchema.safeParse(summary).success);
      assert.ok(summary.plan && summary.plan.savedUnits === plan.savedUnits);
      // Malformed: wrong entry count, a source not strictly lower, a bad format tag.
      assert.equal(matchTableSchema.safeParse({ ...table, entries: table.entries.slice(1) }).success, false);
      assert.equal(
        matchTableSchema.safeParse({ ...table, entries: table.entries.map((e, i) => (i === 0 ? { ...e, sourceLayer: e.layer } : e)) }).success,
        false,
      );
      assert.equal(sharingPlanSchema.safeParse({ ...plan, format: "headshare.match" }).success, false);
    } finally {
      await ckpt.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

class FakeStream extends EventEmitter {
  text = "";
  constructor(
    readonly isTTY: boolean,
    readonly columns = 60,
  ) {
    super();
  }
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

test("protocol-worker: the CLI progress line redraws in place on a TTY and prints phases otherwise; --providers parsing", () => {
  const tty = new FakeStream(true);
  const line = new ProgressLine("share", tty as unknown as NodeJS.WriteStream);
  line.update({ job: 1, phase: "match: gram", done: 1, total: 4 });
  line.update({ job: 1, phase: "match: gram", done: 2, total: 4, message: "x".repeat(200) });
  line.clear();
  const frames = tty.text.split("\r\x1b[2K").filter((f) => f !== "");
  assert.equal(frames.length, 2);
  assert.match(frames[0]!, /^share: match: gram 1\/4 \(25%\) \d+s$/);
  assert.ok(frames[1]!.length <= 59 && frames[1]!.endsWith("…"), "long lines are cut to the terminal width");
  assert.ok(tty.text.endsWith("\r\x1b[2K"), "cleared at the end");
  const pipe = new FakeStream(false);
  const p = new ProgressLine("share", pipe as unknown as NodeJS.WriteStream);
  for (let i = 0; i < 5; i++) p.update({ job: 1, phase: "match: gram", done: i, total: 5 });
  p.update({ job: 1, phase: "write", done: 0, total: 3 });
  p.clear();
  assert.equal(pipe.text, "share: match: gram…\nshare: write…\n");
  assert.equal(parseProviders(undefined, "x", "u"), "auto");
  assert.deepEqual(parseProviders("cuda, cpu,cuda", "x", "u"), ["cuda", "cpu"]);
  assert.throws(() => parseProviders("gpu", "x", "u"), /unknown execution provider "gpu"/);
  assert.throws(() => parseProviders(",", "x", "u"), /needs at least one provider/);
});
