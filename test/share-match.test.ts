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
import { MatchError } from "../src/core/share/errors";
import type { MatchTable, Strategy } from "../src/core/share/types";
import { sharedPath, sharedSkip } from "./helpers/shared";

const PROJS: Record<Strategy, ("q" | "k" | "v")[]> = { q: ["q"], k: ["k"], v: ["v"], qk: ["q", "k"], qkv: ["q", "k", "v"] };

/** Per-pair float64 reference: vectors read whole per unit, cosines by three dot products. */
export async function referenceMatch(ckpt: Checkpoint, strategy: Strategy, granularity: Granularity) {
  const L = ckpt.spec.layers, U = unitsPerLayer(ckpt.spec, granularity);
  const vecs: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    for (let u = 0; u < U; u++) {
      const parts = await readUnit(ckpt, l, u, granularity, PROJS[strategy]);
      const flat = PROJS[strategy].flatMap((p) => Array.from(parts[p]!));
      vecs.push(Float64Array.from(flat));
    }
  }
  const cos = (a: Float64Array, b: Float64Array) => {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
    return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
  };
  const out: { layer: number; unit: number; sourceLayer: number; sourceUnit: number; score: number; all: number[] }[] = [];
  for (let l = 1; l < L; l++) {
    for (let u = 0; u < U; u++) {
      let best = -1, bs = -Infinity;
      const all: number[] = [];
      for (let j = 0; j < l * U; j++) {
        const c = cos(vecs[l * U + u]!, vecs[j]!);
        all.push(c);
        if (c > bs) { bs = c; best = j; }
      }
      out.push({ layer: l, unit: u, sourceLayer: Math.floor(best / U), sourceUnit: best % U, score: bs, all });
    }
  }
  return out;
}

export function assertMatchesReference(t: MatchTable, ref: Awaited<ReturnType<typeof referenceMatch>>, what: string): void {
  assert.equal(t.entries.length, ref.length, what);
  for (let i = 0; i < ref.length; i++) {
    const e = t.entries[i]!, r = ref[i]!;
    assert.deepEqual([e.layer, e.unit, e.sourceLayer, e.sourceUnit], [r.layer, r.unit, r.sourceLayer, r.sourceUnit], `${what}: source of ${r.layer}/${r.unit}`);
    assert.ok(Math.abs(e.score - r.score) < 1e-6, `${what}: score of ${r.layer}/${r.unit}: ${e.score} vs ${r.score}`);
    if (t.lowerCosines) {
      for (let j = 0; j < r.all.length; j++) assert.ok(Math.abs(t.lowerCosines[i]![j]! - r.all[j]!) < 1e-6, `${what}: cosine ${i},${j}`);
    }
  }
}

test("share-match: stories260K-hf equals the float64 per-pair reference (every strategy, both granularities)", { skip: sharedSkip("models/stories260K-hf") }, async () => {
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
});

test("share-match: bad options and cancellation are typed errors", { skip: sharedSkip("models/stories260K-hf") }, async () => {
  const ckpt = await openCheckpoint(sharedPath("models/stories260K-hf")!);
  try {
    await assert.rejects(computeMatchTable(ckpt, { strategy: "total" as Strategy, granularity: "group" }), (e: unknown) => e instanceof MatchError && e.code === "bad-options");
    await assert.rejects(computeMatchTable(ckpt, { strategy: "qk", granularity: "head" as Granularity }), (e: unknown) => e instanceof MatchError && e.code === "bad-options");
    await assert.rejects(computeMatchTable(ckpt, { strategy: "qk", granularity: "group", providers: ["tpu" as "cpu"] }), (e: unknown) => e instanceof MatchError && e.code === "bad-options");
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(computeMatchTable(ckpt, { strategy: "qk", granularity: "group", signal: ac.signal }), (e: unknown) => e instanceof MatchError && e.code === "aborted");
    const ac2 = new AbortController();
    let seen = 0;
    await assert.rejects(computeMatchTable(ckpt, {
      strategy: "qk", granularity: "group", chunkBytes: 1024, signal: ac2.signal,
      onProgress: (p) => { seen++; if (p.done === 2) ac2.abort(); },
    }), (e: unknown) => e instanceof MatchError && e.code === "aborted");
    assert.ok(seen >= 3);
  } finally {
    await ckpt.close();
  }
});
void fs; void os; void path;
