// The reused buffers of the layer-streamed read widen exactly: every BF16/F16/F32 value of several
// tensors (odd lengths: SIMD groups of 8 plus a tail), reused for a second "layer", equals the
// per-value closed form (bf16BitsToNumber, f16BitsToNumber); likewise widenInto, the JS fallback.
import test from "node:test";
import assert from "node:assert/strict";
import { LayerBuffers } from "../src/core/eval/layerBuffers";
import { bf16BitsToNumber, f16BitsToNumber, widenInto } from "../src/core/safetensors/dtype";

function randomHalves(n: number, seed: number, dtype: "F16" | "BF16"): Uint16Array {
  const out = new Uint16Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    let h = s >>> 16;
    // F16 NaNs: the table and SIMD both give a NaN, payloads aside; keep them out of the bit comparison
    if (dtype === "F16" && (h & 0x7c00) === 0x7c00 && h & 0x3ff) h &= 0xfc00;
    out[i] = h;
  }
  return out;
}

function sameBits(got: Float32Array, want: (i: number) => number, what: string): void {
  const ref = Float32Array.from({ length: got.length }, (_, i) => want(i));
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length),
    b = new Uint32Array(ref.buffer);
  for (let i = 0; i < got.length; i++)
    if (a[i] !== b[i] && !(Number.isNaN(got[i]) && Number.isNaN(ref[i]))) assert.fail(`${what}: value ${i}: ${got[i]} ≠ ${ref[i]}`);
}

test("eval layer buffers: BF16, F16 and F32 widen exactly into the reused arrays, layer after layer (SIMD or JS)", () => {
  const lengths = [4099, 17, 8, 3, 10000];
  const dtypes = ["BF16", "F16", "F32", "BF16", "F16"] as const;
  const bytes = lengths.map((n, i) => n * (dtypes[i] === "F32" ? 4 : 2));
  const buffers = new LayerBuffers(bytes, lengths);
  assert.ok(buffers.fits(bytes, lengths) && !buffers.fits(bytes, [...lengths.slice(0, 4), 9999]));
  for (const layer of [1, 2]) {
    lengths.forEach((n, i) => {
      const d = dtypes[i]!;
      const view = buffers.view(i);
      assert.equal(view.byteLength, bytes[i]);
      if (d === "F32") {
        const f = Float32Array.from({ length: n }, (_, k) => Math.sin(k * layer) * 1e3);
        view.set(new Uint8Array(f.buffer));
        sameBits(buffers.widen(i, d), (k) => f[k]!, `layer ${layer} F32 tensor ${i}`);
        return;
      }
      const h = randomHalves(n, 100 * layer + i, d);
      view.set(new Uint8Array(h.buffer));
      const conv = d === "BF16" ? bf16BitsToNumber : f16BitsToNumber;
      sameBits(buffers.widen(i, d), (k) => conv(h[k]!), `layer ${layer} ${d} tensor ${i} (${buffers.simd ? "SIMD" : "JS"})`);
      // the JS path, from a 2-aligned (not 4-aligned) view and an aligned one
      const odd = new Uint8Array(2 * n + 2);
      odd.set(new Uint8Array(h.buffer), 2);
      sameBits(widenInto(odd.subarray(2), d, new Float32Array(n)), (k) => conv(h[k]!), `widenInto ${d} (2-aligned)`);
      sameBits(widenInto(new Uint8Array(h.buffer), d, new Float32Array(n)), (k) => conv(h[k]!), `widenInto ${d}`);
    });
  }
});
