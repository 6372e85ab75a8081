/**
 * computeMatchTable (method.md §2) against a brute-force float64 per-pair reference that reads
 * every unit whole with readUnit (an independent path: canonical orientation, whole slices) and
 * takes the cosine of the concatenated strategy slices pair by pair.
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint, type Checkpoint } from "../src/core/model/checkpoint";
import { readUnit } from "../src/core/model/units";
import { unitsPerLayer, type Granularity } from "../src/core/model/types";
import { computeMatchTable } from "../src/core/share/match";
import { planSharing } from "../src/core/share/plan";
import { writeSyntheticModel, mulberry32, type SyntheticOptions } from "../src/core/model/synthetic";
import { unitLayout } from "../src/core/model/units";
import { writeSafetensors } from "../src/core/safetensors/writer";
import { f32ToBytes } from "../src/core/safetensors/dtype";
import { MatchError } from "../src/core/share/errors";
import type { MatchTable, Strategy } from "../src/core/share/types";
import { sharedPath, sharedSkip } from "./helpers/shared";

const PROJS: Record<Strategy, ("q" | "k" | "v")[]> = { q: ["q"], k: ["k"], v: ["v"], qk: ["q", "k"], qkv: ["q", "k", "v"] };

/** Per-pair float64 reference: vectors read whole per unit, cosines by three dot products. */
export async function referenceMatch(ckpt: Checkpoint, strategy: Strategy, granularity: Granularity) {
  const L = ckpt.spec.layers,
    U = unitsPerLayer(ckpt.spec, granularity);
  const vecs: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    for (let u = 0; u < U; u++) {
      const parts = await readUnit(ckpt, l, u, granularity, PROJS[strategy]);
      const flat = PROJS[strategy].flatMap((p) => Array.from(parts[p]!));
      vecs.push(Float64Array.from(flat));
    }
  }
  const cos = (a: Float64Array, b: Float64Array) => {
    let ab = 0,
      aa = 0,
      bb = 0;
    for (let i = 0; i < a.length; i++) {
      ab += a[i]! * b[i]!;
      aa += a[i]! * a[i]!;
      bb += b[i]! * b[i]!;
    }
    return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
  };
  const out: { layer: number; unit: number; sourceLayer: number; sourceUnit: number; score: number; all: number[] }[] = [];
  for (let l = 1; l < L; l++) {
    for (let u = 0; u < U; u++) {
      let best = -1,
        bs = -Infinity;
      const all: number[] = [];
      for (let j = 0; j < l * U; j++) {
        const c = cos(vecs[l * U + u]!, vecs[j]!);
        all.push(c);
        if (c > bs) {
          bs = c;
          best = j;
        }
      }
      out.push({ layer: l, unit: u, sourceLayer: Math.floor(best / U), sourceUnit: best % U, score: bs, all });
    }
  }
  return out;
}

export function assertMatchesReference(t: MatchTable, ref: Awaited<ReturnType<typeof referenceMatch>>, what: string): void {
  assert.equal(t.entries.length, ref.length, what);
  for (let i = 0; i < ref.length; i++) {
    const e = t.entries[i]!,
      r = ref[i]!;
    assert.deepEqual([e.layer, e.unit, e.sourceLayer, e.sourceUnit], [r.layer, r.unit, r.sourceLayer, r.sourceUnit], `${what}: source of ${r.layer}/${r.unit}`);
    assert.ok(Math.abs(e.score - r.score) < 1e-6, `${what}: score of ${r.layer}/${r.unit}: ${e.score} vs ${r.score}`);
    if (t.lowerCosines) {
      for (let j = 0; j < r.all.length; j++) assert.ok(Math.abs(t.lowerCosines[i]![j]! - r.all[j]!) < 1e-6, `${what}: cosine ${i},${j}`);
    }
  }
}

test(
  "share-match: stories260K-hf equals the float64 per-pair reference (every strategy, both granularities)",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    const ckpt = await openCheckpoint(sharedPath("models/stories260K-hf")!);
    try {
      for (const granularity of ["group", "query-head"] as const) {
        for (const strategy of ["q", "k", "v", "qk", "qkv"] as const) {
          const t = await computeMatchTable(ckpt, { strategy, granularity, providers: ["cpu"], chunkBytes: 4096 });
          assert.equal(t.layers, 5);
          assert.equal(t.unitsPerLayer, granularity === "group" ? 4 : 8);
          assertMatchesReference(t, await referenceMatch(ckpt, strategy, granularity), `stories260K ${strategy}/${granularity}`);
          assert.equal(t.source?.provider, "cpu");
          assert.ok((t.source?.bytesRead ?? 0) > 0);
          if (granularity === "group") {
            // q: 2 heads·8·64, k, v: 8·64 each, o: 64·16
            assert.equal(t.parametersPerUnit, 2 * 8 * 64 + 2 * 8 * 64 + 64 * 16);
            assert.equal(t.bytesPerUnit, 4 * t.parametersPerUnit!);
            assert.equal(t.parameters, 260_032);
          }
        }
      }
      // Deterministic: the same file gives the same table bit for bit (default chunking too).
      const a = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group" });
      const b = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group" });
      assert.deepEqual(a.entries, b.entries);
      assert.deepEqual(a.lowerCosines, b.lowerCosines);
      // Reads only the strategy's bytes: q and k of every layer (64·64 + 32·64 floats, 4 bytes).
      assert.equal(a.source?.bytesRead, 5 * (64 * 64 + 32 * 64) * 4);
    } finally {
      await ckpt.close();
    }
  },
);

test("share-match: bad options and cancellation are typed errors", { skip: sharedSkip("models/stories260K-hf") }, async () => {
  const ckpt = await openCheckpoint(sharedPath("models/stories260K-hf")!);
  try {
    await assert.rejects(
      computeMatchTable(ckpt, { strategy: "total" as Strategy, granularity: "group" }),
      (e: unknown) => e instanceof MatchError && e.code === "bad-options",
    );
    await assert.rejects(
      computeMatchTable(ckpt, { strategy: "qk", granularity: "head" as Granularity }),
      (e: unknown) => e instanceof MatchError && e.code === "bad-options",
    );
    await assert.rejects(
      computeMatchTable(ckpt, { strategy: "qk", granularity: "group", providers: ["tpu" as "cpu"] }),
      (e: unknown) => e instanceof MatchError && e.code === "bad-options",
    );
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      computeMatchTable(ckpt, { strategy: "qk", granularity: "group", signal: ac.signal }),
      (e: unknown) => e instanceof MatchError && e.code === "aborted",
    );
    const ac2 = new AbortController();
    let seen = 0;
    await assert.rejects(
      computeMatchTable(ckpt, {
        strategy: "qk",
        granularity: "group",
        chunkBytes: 1024,
        signal: ac2.signal,
        onProgress: (p) => {
          seen++;
          if (p.done === 2) ac2.abort();
        },
      }),
      (e: unknown) => e instanceof MatchError && e.code === "aborted",
    );
    assert.ok(seen >= 3);
  } finally {
    await ckpt.close();
  }
});

const SYNTH: [string, SyntheticOptions][] = [
  ["llama-gqa", { family: "llama", layers: 5, heads: 6, kvHeads: 2, headDim: 4, seed: 11 }],
  ["llama-mqa-bf16-sharded", { family: "llama", layers: 4, heads: 4, kvHeads: 1, headDim: 8, seed: 12, dtype: "BF16", shards: 2 }],
  ["qwen2-bias-f16", { family: "llama", layers: 4, heads: 4, kvHeads: 2, headDim: 4, seed: 13, qkvBias: true, dtype: "F16" }],
  ["gpt2", { family: "gpt2", layers: 4, heads: 3, headDim: 4, seed: 14 }],
  ["bert", { family: "bert", layers: 4, heads: 2, headDim: 8, seed: 15 }],
  ["gpt-neox", { family: "gpt-neox", layers: 4, heads: 4, headDim: 4, seed: 16 }],
];

test("share-match: synthetic models of every family equal the float64 per-pair reference", async () => {
  for (const [tag, opts] of SYNTH) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `headshare-match-${tag}-`));
    try {
      await writeSyntheticModel(dir, opts);
      const ckpt = await openCheckpoint(dir);
      try {
        const grans: Granularity[] = ckpt.spec.kvHeads < ckpt.spec.heads ? ["group", "query-head"] : ["group"];
        for (const granularity of grans) {
          for (const strategy of ["qk", "qkv", "v"] as const) {
            const t = await computeMatchTable(ckpt, { strategy, granularity, providers: ["cpu"], chunkBytes: 2048 });
            assertMatchesReference(t, await referenceMatch(ckpt, strategy, granularity), `${tag} ${strategy}/${granularity}`);
            if (ckpt.spec.family === "llama" && granularity === "group") {
              // every row of the strategy's projections is read exactly once
              let want = 0;
              for (const lt of ckpt.spec.layerTensors)
                for (const p of PROJS[strategy]) {
                  const i = ckpt.source.info(lt[p]);
                  want += i.dataOffsets[1] - i.dataOffsets[0];
                }
              assert.equal(t.source?.bytesRead, want, `${tag} ${strategy}: bytes read`);
            }
          }
        }
      } finally {
        await ckpt.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
});

/** Overwrites unit `to`'s q/k/v slices by unit `from`'s plus small seeded noise (any layout). */
async function plantCopies(ckpt: Checkpoint, outDir: string, pairs: [number, number, number, number][], seed: number): Promise<void> {
  const whole = new Map<string, Float32Array>();
  for (const t of ckpt.source.tensors) whole.set(t.name, await ckpt.source.readF32(t.name));
  const rand = mulberry32(seed);
  for (const [tl, tu, sl, su] of pairs) {
    const to = unitLayout(ckpt.spec, tl, tu, "group"),
      from = unitLayout(ckpt.spec, sl, su, "group");
    for (const p of ["q", "k", "v"] as const) {
      const info = ckpt.source.info(to[p].tensor);
      const cols = info.shape[1]!;
      const dst = whole.get(to[p].tensor)!,
        src = whole.get(from[p].tensor)!;
      const idx = (ref: typeof to.q) => ref.ranges.flatMap(([b, e]) => Array.from({ length: e - b }, (_, i) => b + i));
      const ti = idx(to[p]),
        si = idx(from[p]);
      for (let k = 0; k < ti.length; k++) {
        if (to[p].axis === 0) for (let c = 0; c < cols; c++) dst[ti[k]! * cols + c] = src[si[k]! * cols + c]! + 0.002 * (rand() - 0.5);
        else for (let r = 0; r < info.shape[0]!; r++) dst[r * cols + ti[k]!] = src[r * cols + si[k]!]! + 0.002 * (rand() - 0.5);
      }
    }
  }
  await fs.mkdir(outDir, { recursive: true });
  await fs.copyFile(ckpt.configPath, path.join(outDir, "config.json"));
  await writeSafetensors(
    path.join(outDir, "model.safetensors"),
    ckpt.source.tensors.map((t) => ({ name: t.name, dtype: "F32" as const, shape: t.shape, data: f32ToBytes(whole.get(t.name)!, "F32") })),
  );
}

test("share-match: non-finite weights are a typed error naming the unit", async () => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-nan-"));
  try {
    await writeSyntheticModel(path.join(base, "orig"), { family: "llama", layers: 3, heads: 2, headDim: 4, seed: 3 });
    const orig = await openCheckpoint(path.join(base, "orig"));
    try {
      const tensors = await Promise.all(
        orig.source.tensors.map(async (t) => {
          const v = await orig.source.readF32(t.name);
          if (t.name.endsWith("layers.2.self_attn.k_proj.weight")) v[9] = Number.NaN; // row 1 → unit 0
          return { name: t.name, dtype: "F32" as const, shape: t.shape, data: f32ToBytes(v, "F32") };
        }),
      );
      await fs.mkdir(path.join(base, "nan"));
      await fs.copyFile(orig.configPath, path.join(base, "nan", "config.json"));
      await writeSafetensors(path.join(base, "nan", "model.safetensors"), tensors);
    } finally {
      await orig.close();
    }
    const ckpt = await openCheckpoint(path.join(base, "nan"));
    try {
      await assert.rejects(
        computeMatchTable(ckpt, { strategy: "qk", granularity: "group" }),
        (e: unknown) => e instanceof MatchError && e.code === "bad-weights" && /layer 2 unit 0/.test(e.message),
      );
      const t = await computeMatchTable(ckpt, { strategy: "v", granularity: "group" }); // v is clean
      assert.equal(t.entries.length, 4);
    } finally {
      await ckpt.close();
    }
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test("share-match: planted near-copies are found exactly and are what a plan selects", async () => {
  for (const [tag, opts] of [
    ["llama", { family: "llama", layers: 6, heads: 8, kvHeads: 4, headDim: 8, seed: 21 }],
    ["gpt2", { family: "gpt2", layers: 6, heads: 4, headDim: 8, seed: 22 }],
  ] as [string, SyntheticOptions][]) {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), `headshare-plant-${tag}-`));
    try {
      await writeSyntheticModel(path.join(base, "orig"), opts);
      const orig = await openCheckpoint(path.join(base, "orig"));
      // (target layer, unit) ← (source layer, unit): includes a chain 5/1 ← 3/2 ← 1/0
      const planted: [number, number, number, number][] = [
        [1, 0, 0, 3],
        [3, 2, 1, 0],
        [5, 1, 3, 2],
        [4, 3, 2, 1],
        [2, 2, 0, 0],
      ];
      try {
        await plantCopies(orig, path.join(base, "planted"), planted, 5);
      } finally {
        await orig.close();
      }
      const ckpt = await openCheckpoint(path.join(base, "planted"));
      try {
        const t = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group" });
        const U = t.unitsPerLayer;
        for (const [tl, tu, sl, su] of planted) {
          const e = t.entries[(tl - 1) * U + tu]!;
          assert.deepEqual([e.sourceLayer, e.sourceUnit], [sl, su], `${tag}: planted ${tl}/${tu} ← ${sl}/${su}`);
          assert.ok(e.score > 0.9, `${tag}: planted score ${e.score}`);
        }
        const others = t.entries.filter((e) => !planted.some(([tl, tu]) => tl === e.layer && tu === e.unit));
        assert.ok(
          others.every((e) => e.score < 0.5),
          `${tag}: unplanted scores stay low`,
        );
        const plan = planSharing(t, planted.length / (t.layers * U));
        assert.deepEqual(plan.targets.map((x) => [x.layer, x.unit]).sort(), planted.map(([a, b]) => [a, b]).sort());
        const chained = plan.targets.find((x) => x.layer === 5 && x.unit === 1)!;
        assert.deepEqual([chained.rootLayer, chained.rootUnit], [0, 3]); // 5/1 ← 3/2 ← 1/0 ← 0/3, all selected
        assert.ok(plan.chainedTargets >= 2);
      } finally {
        await ckpt.close();
      }
    } finally {
      await fs.rm(base, { recursive: true, force: true });
    }
  }
});
