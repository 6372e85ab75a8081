/**
 * The matcher's float decoders against the safetensors engine's exact conversion (bytesToF32):
 * the JS decoder for every float dtype and the WebAssembly SIMD BF16 widener, on random bit
 * patterns (NaN, infinities, subnormals included), odd counts and unaligned sources.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { bytesToF32 } from "../src/core/safetensors/dtype";
import { decodeInto } from "../src/core/share/decode";
import { createBf16Decoder } from "../src/core/share/bf16wasm";
import { mulberry32 } from "../src/core/model/synthetic";

const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

test("share-decode: JS decoders equal bytesToF32 bit for bit (F32, F16, BF16, F64)", () => {
  const r = mulberry32(7);
  for (const [dtype, size] of [
    ["F32", 4],
    ["F16", 2],
    ["BF16", 2],
    ["F64", 8],
  ] as const) {
    const count = 1001;
    const bytes = new Uint8Array(count * size + 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
    if (dtype === "F64") {
      const v = new Float64Array(count).map(() => (r() - 0.5) * 1e3);
      bytes.set(new Uint8Array(v.buffer), 1);
    }
    const want = bytesToF32(bytes.slice(1, 1 + count * size), dtype); // unaligned source below
    const got = new Float32Array(count + 5);
    decodeInto(bytes, 1, dtype, count, got, 5);
    assert.ok(sameBits(got.subarray(5), want), dtype);
  }
});

test("share-decode: WebAssembly BF16 widening equals bytesToF32 for every length 0..40 and a large block", () => {
  const d = createBf16Decoder(1 << 16, 1 << 17);
  assert.ok(d, "WebAssembly SIMD is available in Node 20");
  const r = mulberry32(8);
  for (let count = 0; count <= 40; count++) {
    const bytes = new Uint8Array(count * 2 + 1).map(() => Math.floor(r() * 256));
    const src = bytes.subarray(1); // odd byte offset
    d.chunk.fill(7);
    d.decode(src, count, 3);
    assert.ok(sameBits(d.chunk.subarray(3, 3 + count), bytesToF32(src.slice(), "BF16")), `count ${count}`);
    assert.equal(d.chunk[2], 7);
    assert.equal(d.chunk[3 + count], 7, "writes nothing past the end");
  }
  const big = new Uint8Array(2 * 50_000).map(() => Math.floor(r() * 256));
  d.decode(big, 50_000, 100);
  assert.ok(sameBits(d.chunk.subarray(100, 50_100), bytesToF32(big, "BF16")));
  assert.throws(() => d.decode(new Uint8Array(2 << 17), 1 << 17, 0), RangeError);
});

/** Σ v² in float64 of the floats in `a`. */
const sumSq = (a: Float32Array): number => a.reduce((s, v) => s + v * v, 0);

test("share-decode: widening returns the float64 sum of squares, and sumSquares sums any chunk range (every length 0..40, a large block)", () => {
  const d = createBf16Decoder(1 << 17, 1 << 18);
  assert.ok(d);
  const r = mulberry32(9);
  const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(1e-30, Math.abs(b));
  for (const count of [...Array.from({ length: 41 }, (_, i) => i), 2047, 2048, 2049, 100_003]) {
    const v = new Float32Array(count).map(() => (r() - 0.5) * 0.1);
    const bits = new Uint16Array(count).map((_, i) => new Uint32Array(v.buffer)[i]! >>> 16); // bf16 of v (truncated)
    const bytes = new Uint8Array(bits.buffer);
    const s = d.decode(bytes, count, 5);
    const want = sumSq(d.chunk.subarray(5, 5 + count));
    assert.ok(count === 0 ? s === 0 : rel(s, want) < 1e-6, `bf16 count ${count}: ${s} vs ${want}`);
    const t = d.sumSquares(5, count);
    assert.ok(count === 0 ? t === 0 : rel(t, want) < 1e-6, `sumSquares count ${count}: ${t} vs ${want}`);
  }
  // a non-finite value makes the sum non-finite (the matcher reports damaged weights)
  const nan = new Uint16Array(16).fill(0x3f80);
  nan[9] = 0x7fc0;
  assert.ok(Number.isNaN(d.decode(new Uint8Array(nan.buffer), 16, 0)));
  assert.throws(() => d.sumSquares((1 << 17) - 3, 4), RangeError);
});

test("share-decode: WebAssembly F16 widening equals the exact table for all 65,536 bit patterns", () => {
  const d = createBf16Decoder(65_536 + 16, 2 * 65_536);
  assert.ok(d);
  const h = new Uint16Array(65_536);
  for (let i = 0; i < h.length; i++) h[i] = i;
  const want = bytesToF32(new Uint8Array(h.buffer), "F16");
  d.staging.set(new Uint8Array(h.buffer));
  d.widenStagedF16(65_536, 0);
  for (let i = 0; i < 65_536; i++) {
    const a = d.chunk[i]!,
      b = want[i]!;
    assert.ok(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)), `0x${i.toString(16)}: ${a} vs ${b}`);
  }
  d.chunk.fill(5);
  d.staging.set(new Uint8Array(h.buffer, 2 * 1000, 2 * 13)); // 13 values: one SIMD group + 5 by table
  const s = d.widenStagedF16(13, 7);
  assert.ok(Math.abs(s - sumSq(want.subarray(1000, 1013))) <= 1e-6 * s, "returns the sum of squares");
  for (let i = 0; i < 13; i++) assert.ok(Object.is(d.chunk[7 + i], want[1000 + i]));
  assert.equal(d.chunk[20], 5, "writes nothing past the end");
});
