// Compact checkpoints run as compact: the graph feeds only the stored slices and gathers each
// layer's projections from them; logits equal the dense DirectShare output's (≤ 1e-5), and a plan
// applied in memory to the original equals the dense file. Ratio 0 changes nothing.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint, type Checkpoint } from "../src/core/model/checkpoint";
import type { SyntheticOptions } from "../src/core/model/synthetic";
import type { Granularity } from "../src/core/model/types";
import { computeMatchTable } from "../src/core/share/match";
import { planSharing } from "../src/core/share/plan";
import { writeShared } from "../src/core/share/write";
import type { SharingPlan } from "../src/core/share/types";
import { ForwardRunner } from "../src/core/eval/runner";
import { buildForward } from "../src/core/graph/forward";
import { LOGITS } from "../src/core/graph/types";
import { scaledSynthetic } from "./graph-reference";

async function logits(ck: Checkpoint, plan?: SharingPlan, compactActivations = false): Promise<Float32Array> {
  const seqs = [
    [1, 7, 3, 9, 12, 4, 4, 8, 2, 15, 6],
    [3, 3, 1, 14],
  ];
  const S = 11;
  const ids = new BigInt64Array(2 * S);
  seqs.forEach((s, r) =>
    s.forEach((id, t) => {
      ids[r * S + t] = BigInt(id);
    }),
  );
  const runner = await ForwardRunner.create(ck, { forward: { logits: true, compactActivations }, providers: ["cpu"], threads: 1, ...(plan ? { plan } : {}) });
  try {
    return (await runner.run(ids, 2, S))[LOGITS]!.data;
  } finally {
    await runner.release();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

async function checkCompact(opts: SyntheticOptions, granularity: Granularity, ratio: number, wantChains = false): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-compact-"));
  try {
    const orig = await openCheckpoint(await scaledSynthetic(dir, opts, 10));
    const table = await computeMatchTable(orig, { strategy: "qk", granularity, providers: ["cpu"] });
    const plan = planSharing(table, ratio);
    assert.ok(plan.selected > 0);
    if (wantChains) assert.ok(plan.chainedTargets > 0, "the plan has chains (targets whose source is itself a target)");
    console.log(`# ${opts.family} ${granularity} ratio ${ratio}: ${plan.selected} targets, ${plan.chainedTargets} chained`);
    await writeShared(orig, plan, { format: "compact", outDir: path.join(dir, "compact") });
    await writeShared(orig, plan, { format: "dense", outDir: path.join(dir, "dense") });
    const compact = await openCheckpoint(path.join(dir, "compact"));
    const dense = await openCheckpoint(path.join(dir, "dense"));
    try {
      // the compact graph is fed only what the file stores
      const fg = buildForward(compact, { logits: true });
      const fed = fg.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
      const stored = compact.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
      const denseParams = dense.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
      assert.equal(fed, stored, "every stored parameter is fed once, nothing else");
      assert.ok(stored < denseParams, `compact stores fewer parameters (${stored} < ${denseParams})`);
      assert.ok(
        fg.graph.nodes.some((n) => n.op === "Gather" && n.name.includes("/attn/assemble/")),
        "projections are gathered",
      );
      const lc = await logits(compact),
        ld = await logits(dense),
        lm = await logits(orig, plan),
        lo = await logits(orig);
      assert.ok(maxAbsDiff(lc, ld) <= 1e-5, `compact vs dense: ${maxAbsDiff(lc, ld)}`);
      // activation-side projections (the exported decoder's): no dense weight is built, same logits
      const la = await logits(compact, undefined, true);
      assert.ok(maxAbsDiff(la, ld) <= 1e-5, `compact (activation-side projections) vs dense: ${maxAbsDiff(la, ld)}`);
      assert.ok(maxAbsDiff(lm, ld) <= 1e-5, `in-memory plan vs dense file: ${maxAbsDiff(lm, ld)}`);
      assert.ok(maxAbsDiff(lo, ld) > 1e-3, `sharing changes the logits (${maxAbsDiff(lo, ld)}), so the comparison above means something`);
      const zero = planSharing(table, 0);
      assert.equal(zero.selected, 0);
      assert.equal(maxAbsDiff(await logits(orig, zero), lo), 0, "ratio 0 changes nothing");
    } finally {
      await Promise.all([orig.close(), compact.close(), dense.close()]);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test("graph-compact: Llama GQA (group units), ratio 0.75 with chains: compact = dense = in-memory plan", () =>
  checkCompact({ family: "llama", layers: 4, heads: 4, kvHeads: 2, headDim: 8, vocab: 17, maxPositions: 32, seed: 3 }, "group", 0.75, true));

test("graph-compact: Llama query-head granularity (q rows, o columns only)", () =>
  checkCompact({ family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, vocab: 17, maxPositions: 32, qkvBias: true, seed: 4 }, "query-head", 0.4));

test("graph-compact: GPT-2 fused c_attn columns and c_proj rows", () =>
  checkCompact({ family: "gpt2", layers: 3, heads: 4, headDim: 8, vocab: 17, maxPositions: 32, seed: 5 }, "group", 0.5));

test("graph-compact: GPT-NeoX query_key_value rows interleaved per head", () =>
  checkCompact({ family: "gpt-neox", layers: 3, heads: 4, headDim: 8, vocab: 17, maxPositions: 32, seed: 6 }, "group", 0.5));
