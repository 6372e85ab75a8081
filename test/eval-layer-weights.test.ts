// LayerWeights applies a plan in place and puts the layer back exactly; the roots' slices kept in
// memory from their layer's read give the same bits as reading them from the file; the memory
// budget keeps them only beside what the passes need.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { computeMatchTable } from "../src/core/share/match";
import { planSharing } from "../src/core/share/plan";
import { LayerWeights, targetsOfLayer } from "../src/core/eval/layerWeights";
import { streamGraphs } from "../src/core/graph/blockGraphs";
import { chooseMemory, GIB } from "../src/core/eval/memoryBudget";
import { LLAMA2_7B_STREAM } from "./helpers/streamSizes";

// values of one root unit's slices (heads 4, head size 8, width 32): Llama GQA 4/2: q 16 rows, k and
// v 8 rows, o 16 columns of width 32; GPT-2: q/k/v 8 columns each of c_attn, o 8 rows of c_proj, and
// 8 values of each q/k/v bias
const UNIT_VALUES = { llama: 32 * (16 + 8 + 8 + 16), gpt2: 4 * 32 * 8 + 3 * 8 };

for (const [family, dtype] of [
  ["llama", "BF16"],
  ["llama", "F16"],
  ["gpt2", "F32"],
] as const) {
  test(`eval-layer-weights: ${family} ${dtype}: roots kept in memory = roots read from the file (bits); restore, or the next read, puts every layer back`, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-lw-"));
    try {
      const p = await writeSyntheticModel(path.join(dir, "m"), {
        family,
        layers: 5,
        heads: 4,
        kvHeads: family === "llama" ? 2 : 4,
        headDim: 8,
        vocab: 67,
        maxPositions: 64,
        dtype,
        seed: 21,
      });
      const ck = await openCheckpoint(p);
      try {
        const plan = planSharing(await computeMatchTable(ck, { strategy: "qk", granularity: "group", providers: ["cpu"] }), 0.6);
        const kept = new LayerWeights(ck),
          fromFile = new LayerWeights(ck);
        const roots = kept.rootParts([plan]);
        // every distinct root unit is alive from its layer to its last target's layer
        let peak = 0;
        for (let l = 0; l < ck.spec.layers; l++) {
          const alive = new Set(
            plan.targets
              .filter((t) => t.rootLayer <= l && plan.targets.some((u) => u.rootLayer === t.rootLayer && u.rootUnit === t.rootUnit && u.layer >= l))
              .map((t) => `${t.rootLayer}/${t.rootUnit}`),
          );
          peak = Math.max(peak, alive.size);
        }
        assert.ok(peak > 0, "the plan has roots");
        assert.equal(roots.peakBytes, peak * UNIT_VALUES[family] * (dtype === "F32" ? 4 : 2));
        kept.keepRoots(roots);
        const graphs = streamGraphs(ck.spec, ck.source, kept.dense, {}, p);
        let changedLayers = 0;
        for (let l = 0; l < ck.spec.layers; l++) {
          const tensors = graphs.block(l).weights.map((x) => x.tensor);
          const a = await kept.readLayer(l, tensors),
            b = await fromFile.readLayer(l, tensors);
          const before = new Map([...a].map(([k, v]) => [k, v.slice()]));
          // kept: not restorable (its next read widens the layer again); from the file: restorable
          const ra = await kept.applyPlan(l, plan, a, false),
            rb = await fromFile.applyPlan(l, plan, b);
          let changed = false;
          for (const [k, v] of a) {
            assert.deepEqual(
              Buffer.from(v.buffer, v.byteOffset, v.byteLength),
              Buffer.from(b.get(k)!.buffer, b.get(k)!.byteOffset, b.get(k)!.byteLength),
              `layer ${l} ${k}: kept = file`,
            );
            if (!v.every((x, i) => Object.is(x, before.get(k)![i]))) changed = true;
          }
          assert.equal(changed, targetsOfLayer(plan, l).length > 0, `layer ${l}: changed exactly when it has targets`);
          if (changed) changedLayers++;
          ra();
          rb();
          for (const [k, v] of b)
            assert.ok(
              v.every((x, i) => Object.is(x, before.get(k)![i])),
              `layer ${l} ${k}: restored exactly`,
            );
          const again = await kept.readLayer(l, tensors);
          for (const [k, v] of again)
            assert.ok(
              v.every((x, i) => Object.is(x, before.get(k)![i])),
              `layer ${l} ${k}: read again exactly`,
            );
        }
        assert.ok(changedLayers >= 2, `targets in several layers (${changedLayers})`);
        await Promise.all([kept.settle(), fromFile.settle()]);
      } finally {
        await ck.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

test("eval-layer-weights: the memory budget keeps the roots' slices only where the passes stay as they are", () => {
  // one 512-token window of Llama-2-7B: the pass is the window whatever the budget
  const one = { ...LLAMA2_7B_STREAM, totalTokens: 512 };
  const without = chooseMemory(one, 4 * GIB, "llama.safetensors");
  assert.equal(without.parts.rootSlices, 0);
  const kept = chooseMemory({ ...one, rootSliceBytes: 0.4 * GIB }, 4 * GIB, "llama.safetensors");
  assert.equal(kept.parts.rootSlices, 0.4 * GIB);
  assert.equal(kept.tokensPerPass, without.tokensPerPass, "the passes are not cut for them");
  assert.ok(kept.estimatedPeakBytes <= 4 * GIB);
  const tooBig = chooseMemory({ ...one, rootSliceBytes: 3 * GIB }, 4 * GIB, "llama.safetensors");
  assert.equal(tooBig.parts.rootSlices, 0, "read from the file instead");
  assert.deepEqual(tooBig, without);
  // forty windows: the budget fills its passes with windows; roots that would cut them are read from the file
  const many = chooseMemory({ ...LLAMA2_7B_STREAM, rootSliceBytes: 0.4 * GIB }, 4 * GIB, "llama.safetensors");
  assert.equal(many.parts.rootSlices, 0);
  assert.deepEqual(many, chooseMemory(LLAMA2_7B_STREAM, 4 * GIB, "llama.safetensors"));
});
