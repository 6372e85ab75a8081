/**
 * A cancel lands within a whole-model eval's batch (issue 18 finding 8: 20.5 s to exit on a
 * 16-layer model). onnxruntime-node cannot stop a running session.run, so runs are paced
 * (pacing.ts: about CANCEL_SECONDS each, measured); the bound asserted here is 2 × CANCEL_SECONDS
 * + 1 s, against one default-sized batch (2048 tokens) of the same model measured in the same test.
 * The same bound for a sweep: its original's pass is paced, and every ratio replays those batches.
 */
import assert from "node:assert/strict";
import path from "node:path";
import test from "node:test";
import { EvalError } from "../src/core/eval/errors";
import { evaluate } from "../src/core/eval/evaluate";
import type { MemoryNeed } from "../src/core/eval/memoryBudget";
import { CANCEL_SECONDS, PacedBatches } from "../src/core/eval/pacing";
import { sweep } from "../src/core/eval/sweep";
import { makeProtocol, type ScoredWindow } from "../src/core/eval/windows";
import type { Checkpoint } from "../src/core/model/checkpoint";
import { computeMatchTable } from "../src/core/share/match";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { mulberry32, writeSyntheticModel } from "../src/core/model/synthetic";
import type { TextTokenizer } from "../src/core/eval/tokenizer";
import { removeDir, scratchDir } from "./fuzz/tmp";

const V = 256;
const tok: TextTokenizer = {
  path: "bytes",
  vocabSize: V,
  bosTokenId: 1,
  encode: (t) => [...Buffer.from(t, "latin1")],
  decode: (ids) => Buffer.from(ids).toString("latin1"),
};

test("eval cancel: paced batches start with one window and then fit the measured speed, never above the memory-sized cap", () => {
  const ws: ScoredWindow[] = Array.from({ length: 50 }, (_, i) => ({ tokens: Array.from({ length: 100 + (i % 3) }, () => 1), scoreFrom: 1 }));
  const p = new PacedBatches(ws, 1000, 1);
  const first = p.next()!;
  assert.equal(first.batch, 1, "one window first");
  p.took(first, 0.05); // 101 tokens... at 0.05 s → ~2020 tokens per second
  const second = p.next()!;
  assert.equal(second.batch * second.seq <= 1000, true, "capped by maxTokens");
  assert.equal(second.batch, 9, "floor(1000 / 101) windows under the cap");
  p.took(second, 3); // slow: 909 tokens in 3 s → 303 tokens per second
  assert.equal(p.next()!.batch, 3, "303 tokens fit about 3 windows of 100");
  let n = 1 + 9 + 3;
  for (let b = p.next(); b; b = p.next()) n += b.batch;
  assert.equal(n, 50, "every window once");
  const fixed = new PacedBatches(ws, 1000, undefined);
  assert.equal(fixed.next()!.batch, 9, "unpaced: the cap from the start");
});

test(
  "eval cancel: a cancel during a whole-model eval returns within 2 × CANCEL_SECONDS + 1 s, not after a 2048-token batch",
  { timeout: 180_000 },
  async () => {
    const root = scratchDir("eval-cancel");
    const { ck, text, protocol } = await cancelFixture(root);
    try {
      const opts = { tokenizer: tok, providers: ["cpu" as const], forward: "whole-model" as const };
      // one default-sized batch (2048 tokens), timed: what a cancel waited for before pacing
      const t0 = performance.now();
      await evaluate(ck, text.slice(0, 2040), protocol, { ...opts, batchTokens: 2048 });
      const batchSeconds = (performance.now() - t0) / 1000;
      let need: MemoryNeed | undefined;
      const latency = await cancelLatency<{ done: number; memoryNeed?: MemoryNeed }>(
        (signal, onProgress) => evaluate(ck, text, protocol, { ...opts, signal, onProgress }),
        (q) => {
          need ??= q.memoryNeed;
          return q.done > 0;
        },
      );
      console.log(
        `# one 2048-token batch: ${batchSeconds.toFixed(2)} s; cancel returned ${latency.toFixed(2)} s after the abort (bound ${2 * CANCEL_SECONDS + 1} s)`,
      );
      // the memory estimate the OOM report names: weights as float32 + one batch (memoryBudget.ts wholeModelNeed)
      const params = ck.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
      assert.ok(need && need.bytes > 4 * params && /^whole-model forward: weights as float32/.test(need.what), JSON.stringify(need));
      assert.ok(latency < 2 * CANCEL_SECONDS + 1, `cancel took ${latency.toFixed(2)} s`);
    } finally {
      await ck.close();
      removeDir(root);
    }
  },
);

/** A 12-layer model (a 2048-token batch takes seconds on a CPU), a 20,000-character text and its protocol (window 256). */
async function cancelFixture(root: string): Promise<{ ck: Checkpoint; text: string; protocol: ReturnType<typeof makeProtocol> }> {
  const dir = await writeSyntheticModel(path.join(root, "m"), {
    family: "llama",
    layers: 12,
    heads: 8,
    headDim: 32,
    intermediate: 1024,
    vocab: V,
    maxPositions: 256,
    seed: 3,
  });
  const rand = mulberry32(7);
  const text = Array.from({ length: 20_000 }, () => String.fromCharCode(32 + Math.floor(rand() * 90))).join("");
  return { ck: await openCheckpoint(dir), text, protocol: makeProtocol({ window: 256 }, 256) };
}

/** Aborts 300 ms after `when` first holds for a progress report; resolves with the seconds from the abort to the rejection. */
async function cancelLatency<P>(start: (signal: AbortSignal, onProgress: (p: P) => void) => Promise<unknown>, when: (p: P) => boolean): Promise<number> {
  const ac = new AbortController();
  let abortedAt = 0,
    armed = false;
  const run = start(ac.signal, (p) => {
    if (armed || !when(p)) return;
    armed = true;
    setTimeout(() => {
      abortedAt = performance.now();
      ac.abort();
    }, 300);
  });
  await assert.rejects(run, (e: unknown) => e instanceof EvalError && e.code === "aborted");
  assert.ok(abortedAt > 0, "the abort fired during the run");
  return (performance.now() - abortedAt) / 1000;
}

test(
  "eval cancel: a cancel during a sweep's ratio pass returns within 2 × CANCEL_SECONDS + 1 s, not after a 2048-token batch",
  { timeout: 180_000 },
  async () => {
    const root = scratchDir("sweep-cancel");
    const { ck, text, protocol } = await cancelFixture(root);
    try {
      const opts = { tokenizer: tok, providers: ["cpu" as const], forward: "whole-model" as const };
      const table = await computeMatchTable(ck, { strategy: "qk", granularity: "group", providers: ["cpu"] });
      // one default-sized batch (2048 tokens) for the original and one ratio, timed: what a cancel waited for before pacing
      const t0 = performance.now();
      const one = await sweep(ck, [0.25], text.slice(0, 2040), protocol, { ...opts, table, batchTokens: 2048 });
      const batchSeconds = (performance.now() - t0) / 1000;
      assert.equal(one.rows.length, 1);
      const phases: string[] = [];
      const latency = await cancelLatency<{ phase: string; done: number }>(
        (signal, onProgress) => sweep(ck, [0.25, 0.5], text, protocol, { ...opts, table, signal, onProgress }),
        (p) => {
          if (phases.at(-1) !== p.phase) phases.push(p.phase);
          return p.phase === "ratio 0.5";
        },
      );
      console.log(
        `# sweep: one 2048-token batch (original + one ratio): ${batchSeconds.toFixed(2)} s; cancel in the second ratio returned ${latency.toFixed(2)} s after the abort (bound ${2 * CANCEL_SECONDS + 1} s)`,
      );
      assert.deepEqual(phases, ["original", "ratio 0.25", "ratio 0.5"], "the original's pass, then each ratio");
      assert.ok(latency < 2 * CANCEL_SECONDS + 1, `cancel took ${latency.toFixed(2)} s`);
    } finally {
      await ck.close();
      removeDir(root);
    }
  },
);
