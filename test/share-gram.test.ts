/**
 * The Gram kernel on ORT against a plain float64 loop on seeded random vectors: every
 * strictly-lower-layer dot product, accumulated over several chunks; and the block schedule's
 * coverage and extra work in closed form.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { createGramKernel, GramSums, gramBlocks } from "../src/core/share/gram";
import { mulberry32 as rng } from "../src/core/model/rng";

test("share-gram: blocks cover every lower-layer pair exactly once", () => {
  for (const [L, U, strip] of [
    [1, 3, 64],
    [2, 1, 64],
    [5, 4, 64],
    [32, 32, 64],
    [7, 3, 6],
    [33, 5, 16],
    [12, 1, 1],
    [3, 100, 64],
  ] as const) {
    const n = L * U;
    const hits = new Uint8Array(n * n);
    for (const b of gramBlocks(L, U, strip)) {
      for (let i = b.aRow; i < b.aRow + b.aRows; i++) for (let j = b.bRow; j < b.bRow + b.bRows; j++) hits[i * n + j]!++;
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const lower = Math.floor(j / U) < Math.floor(i / U);
        if (lower) assert.equal(hits[i * n + j], 1, `L${L} U${U}: pair ${i},${j} covered ${hits[i * n + j]} times`);
        else assert.ok(hits[i * n + j]! <= 1);
      }
    }
  }
});

test("share-gram: on the Llama-2-7B shape the extra products are one 32×32 block per 2-layer strip", () => {
  const blocks = gramBlocks(32, 32);
  assert.equal(blocks.length, 16);
  assert.ok(blocks.every((b) => b.bRows === 64));
  const macsPerColumn = blocks.reduce((s, b) => s + b.aRows * b.bRows, 0);
  const pairs = (32 * 32 * 32 * 31) / 2; // 507,904 lower-layer pairs
  assert.equal(macsPerColumn, pairs + 16 * 32 * 32); // 3.2 % extra
  // one layer per strip when a layer alone is as wide as a strip: no extra products at all
  const wide = gramBlocks(4, 64);
  assert.equal(
    wide.reduce((s, b) => s + b.aRows * b.bRows, 0),
    (64 * 64 * 4 * 3) / 2,
  );
});

test("share-gram: ORT blocked products equal a float64 reference over chunks", async () => {
  const L = 6,
    U = 5,
    n = L * U,
    D = 3000;
  const r = rng(42);
  const x = new Float32Array(n * D).map(() => (r() - 0.5) * 0.04); // [n, D] f32
  const gram = await createGramKernel(L, U, { providers: ["cpu"] });
  const sums = new GramSums(L, U);
  try {
    assert.equal(gram.provider, "cpu");
    for (let c0 = 0; c0 < D; c0 += 700) {
      // uneven last chunk
      const w = Math.min(700, D - c0);
      const chunk = new Float32Array(n * w); // [n, w] f32
      for (let i = 0; i < n; i++) chunk.set(x.subarray(i * D + c0, i * D + c0 + w), i * w);
      sums.add(await gram.products(chunk, w), new Float64Array(n)); // norms come from the decoder (share-decode)
    }
    const dots = new Float64Array(n); // [n] f64
    for (let i = 0; i < n; i++) {
      sums.lowerDots(i, dots);
      let nn = 0;
      for (let k = 0; k < D; k++) nn += x[i * D + k]! * x[i * D + k]!;
      for (let j = 0; j < Math.floor(i / U) * U; j++) {
        let d = 0,
          nj = 0;
        for (let k = 0; k < D; k++) {
          d += x[i * D + k]! * x[j * D + k]!;
          nj += x[j * D + k]! * x[j * D + k]!;
        }
        // within 1e-6 of the reference on the cosine scale
        assert.ok(Math.abs(dots[j]! - d) < 1e-6 * Math.sqrt(nn * nj), `dot ${i},${j}: ${dots[j]} vs ${d}`);
      }
    }
  } finally {
    await gram.dispose();
  }
});
