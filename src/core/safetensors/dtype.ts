/**
 * Dtype sizes and exact float conversions.
 * - F16/BF16 → F32 is exact (every half value is a float32).
 * - F32 → F16/BF16 rounds to nearest, ties to even (like torch `.to(torch.bfloat16)`), keeps
 *   NaN a NaN (quiet), ±Inf, and signed zeros; F16 overflow goes to ±Inf, underflow to subnormals/0.
 * Byte order is little-endian as the format requires; typed-array views assume a little-endian host.
 */
import os from "node:os";
import type { DType } from "./types";

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

export const DTYPES: readonly DType[] = Object.keys(DTYPE_SIZE) as DType[];

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, x);
}

/** Dtypes readable as float32 (ints are converted by value; F8 types are inspect-only). */
export function isF32Convertible(d: DType): boolean {
  return d !== "F8_E4M3" && d !== "F8_E5M2";
}

if (os.endianness() !== "LE") {
  // Every typed-array view below assumes the format's byte order.
  throw new Error("headshare: big-endian hosts are not supported (safetensors is little-endian)");
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One IEEE half (bits) → number, exact. */
export function f16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

/** float32 (as number, first rounded to f32) → half bits, round to nearest even. */
export function numberToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 | (m >>> 13) : 0);
  // Unbiased exponent; half normal range is [-14, 15].
  const ue = e - 127;
  if (ue > 15) return sign | 0x7c00;
  if (ue >= -14) {
    // Normal half: 10 mantissa bits, drop 13 with RNE (a carry may bump the exponent, even to Inf).
    let hm = m >>> 13;
    const rest = m & 0x1fff;
    let he = ue + 15;
    if (rest > 0x1000 || (rest === 0x1000 && hm & 1)) {
      hm++;
      if (hm === 0x400) {
        hm = 0;
        he++;
      }
    }
    if (he >= 31) return sign | 0x7c00;
    return sign | (he << 10) | hm;
  }
  // Subnormal half: value = mant · 2^-24. Full significand (with implicit 1) is 24 bits at 2^(ue-23).
  if (e === 0) return sign; // float32 subnormals are far below half's smallest subnormal
  const sig = m | 0x800000;
  const shift = -ue - 1; // bits to drop so that the unit is 2^-24: (ue-23) → -24 means shift = -1-ue
  if (shift > 24) return sign;
  const hm = sig >>> shift;
  const rest = sig & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  const r = rest > half || (rest === half && hm & 1) ? hm + 1 : hm;
  return sign | r; // r may reach 0x400 = smallest normal, which is the right encoding
}

/** bfloat16 bits → number, exact. */
export function bf16BitsToNumber(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** number (rounded to f32 first) → bfloat16 bits, round to nearest even; NaN stays NaN. */
export function numberToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) | 0x40) & 0xffff;
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** A table of all 65536 half values as float32 (built once, 256 KiB). */
let f16Table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToNumber(i);
  }
  return f16Table;
}

/** A copy of `bytes` whose buffer is aligned to `align` (bytes from the pool may be unaligned). */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  if (bytes.byteOffset % align === 0) return bytes;
  return new Uint8Array(bytes);
}

/**
 * Raw little-endian bytes of `dtype` → float32 values. Exact for F32/F16/BF16 and for ints up to
 * 2^24 in magnitude; F64 and larger ints are rounded to nearest. `file`/`name` only feed errors.
 */
export function bytesToF32(bytes: Uint8Array, dtype: DType): Float32Array {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`bytesToF32: ${bytes.byteLength} bytes is not a multiple of ${dtype}'s ${size}`);
  }
  const n = bytes.byteLength / size;
  const b = aligned(bytes, size);
  switch (dtype) {
    case "F32":
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    case "F64":
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n));
    case "F16":
    case "BF16":
      return widenInto(b, dtype, new Float32Array(n));
    case "I64": {
      const src = new BigInt64Array(b.buffer, b.byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
      return out;
    }
    case "I32":
      return Float32Array.from(new Int32Array(b.buffer, b.byteOffset, n));
    case "I16":
      return Float32Array.from(new Int16Array(b.buffer, b.byteOffset, n));
    case "I8":
      return Float32Array.from(new Int8Array(b.buffer, b.byteOffset, n));
    case "U8":
    case "BOOL":
      return Float32Array.from(b.subarray(0, n));
    case "F8_E4M3":
    case "F8_E5M2":
      throw new RangeError(`bytesToF32: ${dtype} has no float32 conversion here (inspect-only dtype)`);
  }
}

/**
 * Raw little-endian F32/F16/BF16 bytes → float32 values written into `out` (exact; `out.length`
 * must be the element count). For buffers reused across calls: no allocation, no page faults.
 * BF16 reads two values per 32-bit load when the bytes are 4-byte aligned (≈ 2× the 16-bit loop).
 */
export function widenInto(bytes: Uint8Array, dtype: "F32" | "F16" | "BF16", out: Float32Array): Float32Array {
  const size = DTYPE_SIZE[dtype],
    n = out.length;
  if (bytes.byteLength !== n * size) throw new RangeError(`widenInto: ${bytes.byteLength} bytes of ${dtype} do not hold ${n} values`);
  if (dtype === "F32") {
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
    return out;
  }
  const b = aligned(bytes, 2);
  if (dtype === "F16") {
    const t = halfTable();
    const src = new Uint16Array(b.buffer, b.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = t[src[i]!]!;
    return out;
  }
  const dst = new Uint32Array(out.buffer, out.byteOffset, n);
  if (b.byteOffset % 4 === 0) {
    // [n/2] u32 = two BF16 values each: the low half is element 2i, the high half element 2i+1
    const pairs = n >>> 1;
    const src = new Uint32Array(b.buffer, b.byteOffset, pairs);
    for (let i = 0, j = 0; i < pairs; i++, j += 2) {
      const w = src[i]!;
      dst[j] = w << 16;
      dst[j + 1] = w & 0xffff0000;
    }
    if (n & 1) dst[n - 1] = new Uint16Array(b.buffer, b.byteOffset, n)[n - 1]! << 16;
    return out;
  }
  const src = new Uint16Array(b.buffer, b.byteOffset, n);
  for (let i = 0; i < n; i++) dst[i] = src[i]! << 16;
  return out;
}

/** float32 values → little-endian bytes of a float dtype (F32, F64, F16, BF16), rounding to nearest even. */
export function f32ToBytes(values: Float32Array, dtype: "F32" | "F64" | "F16" | "BF16"): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case "F32":
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case "F64":
      return new Uint8Array(Float64Array.from(values).buffer);
    case "F16": {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = numberToF16Bits(values[i]!);
      return new Uint8Array(out.buffer);
    }
    case "BF16": {
      const bits = new Uint32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const b = bits[i]!;
        out[i] = (b & 0x7f800000) === 0x7f800000 && b & 0x7fffff ? ((b >>> 16) | 0x40) & 0xffff : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
      }
      return new Uint8Array(out.buffer);
    }
  }
}

/** Number of elements of a shape ([] → 1). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}
