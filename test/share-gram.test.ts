/**
 * The Gram kernel on ORT against a plain float64 loop on seeded random vectors: every
 * strictly-lower-layer dot product and every squared norm, accumulated over several chunks.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { createGramAccumulator, gramBlocks } from "../src/core/share/gram";
import { mulberry32 as rng } from "../src/core/model/rng";

test("share-gram: blocks cover every lower-layer pair and every diagonal cell exactly once", () => {
  for (const [L, U, leaf] of [[1, 3, 128], [2, 1, 128], [5, 4, 128], [32, 32, 128], [7, 3, 6], [33, 5, 16], [12, 1, 1]] as const) {
    const n = L * U;
    const hits = new Uint8Array(n * n);
    for (const b of gramBlocks(L, U, leaf)) {
      for (let i = b.aRow; i < b.aRow + b.aRows; i++) for (let j = b.bRow; j < b.bRow + b.bRows; j++) hits[i * n + j]!++;
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const lower = Math.floor(j / U) < Math.floor(i / U);
        if (lower || i === j) assert.equal(hits[i * n + j], 1, `L${L} U${U}: pair ${i},${j} covered ${hits[i * n + j]} times`);
        else assert.ok(hits[i * n + j]! <= 1);
      }
    }
  }
});

test("share-gram: ORT blocked products equal a float64 reference over chunks", async () => {
  const L = 6, U = 5, n = L * U, D = 3000;
  const r = rng(42);
  const x = new Float32Array(n * D).map(() => (r() - 0.5) * 0.04); // [n, D] f32
  const gram = await createGramAccumulator(L, U, { providers: ["cpu"] });
  try {
    assert.equal(gram.provider, "cpu");
    for (let c0 = 0; c0 < D; c0 += 700) { // uneven last chunk
      const w = Math.min(700, D - c0);
      const chunk = new Float32Array(n * w); // [n, w] f32
      for (let i = 0; i < n; i++) chunk.set(x.subarray(i * D + c0, i * D + c0 + w), i * w);
      await gram.add(chunk, w);
    }
    for (let i = 0; i < n; i++) {
      let nn = 0;
      for (let k = 0; k < D; k++) nn += x[i * D + k]! * x[i * D + k]!;
      assert.ok(Math.abs(gram.norms2[i]! - nn) <= 1e-6 * nn, `norm ${i}`);
      for (let j = 0; j < Math.floor(i / U) * U; j++) {
        let d = 0, nj = 0;
        for (let k = 0; k < D; k++) { d += x[i * D + k]! * x[j * D + k]!; nj += x[j * D + k]! * x[j * D + k]!; }
        const cosRef = d / Math.sqrt(nn * nj);
        const cos = gram.dots[i * n + j]! / Math.sqrt(gram.norms2[i]! * gram.norms2[j]!);
        assert.ok(Math.abs(cos - cosRef) < 1e-6, `cos ${i},${j}: ${cos} vs ${cosRef}`);
      }
    }
  } finally {
    await gram.dispose();
  }
});
