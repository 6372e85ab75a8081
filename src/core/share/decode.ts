/**
 * Exact float conversion of raw little-endian tensor bytes straight into a float32 destination
 * (no intermediate arrays): BF16 and F16 are exact in float32, F32 is copied, F64 is rounded.
 */
import type { DType } from "../safetensors/types";

let f16Table: Float32Array | undefined;
/** All 65536 F16 values as float32 (exact). */
export function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536); // [65536] f32: value of every F16 bit pattern
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? Number.NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  f16Table = t;
  return t;
}

/** Float dtypes the matcher reads. */
export const DECODABLE: readonly DType[] = ["F32", "F16", "BF16", "F64"];

/**
 * Writes `count` elements decoded from `src` (elements starting at byte `srcByte`) into
 * `dst[dstIndex ...]`.
 */
export function decodeInto(src: Uint8Array, srcByte: number, dtype: DType, count: number, dst: Float32Array, dstIndex: number): void {
  const at = src.byteOffset + srcByte;
  switch (dtype) {
    case "BF16": {
      const out = new Uint32Array(dst.buffer, dst.byteOffset + dstIndex * 4, count);
      const inp = at % 2 === 0 ? new Uint16Array(src.buffer, at, count) : new Uint16Array(src.slice(srcByte, srcByte + 2 * count).buffer);
      for (let i = 0; i < count; i++) out[i] = inp[i]! << 16;
      return;
    }
    case "F16": {
      const table = f16ToF32Table();
      const inp = at % 2 === 0 ? new Uint16Array(src.buffer, at, count) : new Uint16Array(src.slice(srcByte, srcByte + 2 * count).buffer);
      for (let i = 0; i < count; i++) dst[dstIndex + i] = table[inp[i]!]!;
      return;
    }
    case "F32": {
      const inp = at % 4 === 0 ? new Float32Array(src.buffer, at, count) : new Float32Array(src.slice(srcByte, srcByte + 4 * count).buffer);
      dst.set(inp, dstIndex);
      return;
    }
    case "F64": {
      const inp = at % 8 === 0 ? new Float64Array(src.buffer, at, count) : new Float64Array(src.slice(srcByte, srcByte + 8 * count).buffer);
      for (let i = 0; i < count; i++) dst[dstIndex + i] = inp[i]!;
      return;
    }
    default:
      throw new RangeError(`cannot decode ${dtype} as float`);
  }
}
