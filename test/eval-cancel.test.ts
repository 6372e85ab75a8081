/**
 * A cancel lands within a whole-model eval's batch (issue 18 finding 8: 20.5 s to exit on a
 * 16-layer model). onnxruntime-node cannot stop a running session.run, so runs are paced
 * (pacing.ts: about CANCEL_SECONDS each, measured); the bound asserted here is 2 × CANCEL_SECONDS
 * + 1 s, against one default-sized batch (2048 tokens) of the same model measured in the same test.
 */
import assert from "node:assert/strict";
import path from "node:path";
import test from "node:test";
import { EvalError } from "../src/core/eval/errors";
import { evaluate } from "../src/core/eval/evaluate";
import type { MemoryNeed } from "../src/core/eval/memoryBudget";
import { CANCEL_SECONDS, PacedBatches } from "../src/core/eval/pacing";
import { makeProtocol, type ScoredWindow } from "../src/core/eval/windows";
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
    try {
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
      const ck = await openCheckpoint(dir);
      try {
        const rand = mulberry32(7);
        const text = Array.from({ length: 20_000 }, () => String.fromCharCode(32 + Math.floor(rand() * 90))).join("");
        const protocol = makeProtocol({ window: 256 }, 256);
        const opts = { tokenizer: tok, providers: ["cpu" as const], forward: "whole-model" as const };
        // one default-sized batch (2048 tokens), timed: what a cancel waited for before pacing
        const t0 = performance.now();
        await evaluate(ck, text.slice(0, 2040), protocol, { ...opts, batchTokens: 2048 });
        const batchSeconds = (performance.now() - t0) / 1000;
        const ac = new AbortController();
        let abortedAt = 0;
        let need: MemoryNeed | undefined;
        const run = evaluate(ck, text, protocol, {
          ...opts,
          signal: ac.signal,
          onProgress: (q) => {
            need ??= q.memoryNeed;
            if (q.done > 0 && !abortedAt)
              setTimeout(() => {
                abortedAt = performance.now();
                ac.abort();
              }, 300);
          },
        });
        await assert.rejects(run, (e: unknown) => e instanceof EvalError && e.code === "aborted");
        const latency = (performance.now() - abortedAt) / 1000;
        console.log(
          `# one 2048-token batch: ${batchSeconds.toFixed(2)} s; cancel returned ${latency.toFixed(2)} s after the abort (bound ${2 * CANCEL_SECONDS + 1} s)`,
        );
        assert.ok(abortedAt > 0, "the abort fired during the run");
        // the memory estimate the OOM report names: weights as float32 + one batch (memoryBudget.ts wholeModelNeed)
        const params = ck.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
        assert.ok(need && need.bytes > 4 * params && /^whole-model forward: weights as float32/.test(need.what), JSON.stringify(need));
        assert.ok(latency < 2 * CANCEL_SECONDS + 1, `cancel took ${latency.toFixed(2)} s`);
      } finally {
        await ck.close();
      }
    } finally {
      removeDir(root);
    }
  },
);
