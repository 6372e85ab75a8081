/**
 * Slow, obvious reference code the fuzz targets compare readers against: element conversion of
 * little-endian bytes to float32 written straight from the IEEE formats (not the engine's
 * tables), and invariants any successfully parsed header must satisfy.
 */
import assert from "node:assert/strict";
import { ST_DTYPE_SIZE } from "./safetensorsGen";

/** One element at byte `i` of `dtype` → its value rounded to float32 (NaN for NaN). */
export function refElement(bytes: Uint8Array, i: number, dtype: string): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F64":
      return Math.fround(dv.getFloat64(i, true));
    case "F32":
      return dv.getFloat32(i, true);
    case "F16": {
      const h = dv.getUint16(i, true);
      const sign = h & 0x8000 ? -1 : 1,
        exp = (h >> 10) & 31,
        man = h & 1023;
      if (exp === 0) return sign * man * 2 ** -24;
      if (exp === 31) return man ? NaN : sign * Infinity;
      return sign * (1 + man / 1024) * 2 ** (exp - 15);
    }
    case "BF16": {
      const h = dv.getUint16(i, true);
      const sign = h & 0x8000 ? -1 : 1,
        exp = (h >> 7) & 255,
        man = h & 127;
      if (exp === 0) return sign * man * 2 ** -133;
      if (exp === 255) return man ? NaN : sign * Infinity;
      return sign * (1 + man / 128) * 2 ** (exp - 127);
    }
    case "I64":
      return Math.fround(Number(dv.getBigInt64(i, true)));
    case "I32":
      return Math.fround(dv.getInt32(i, true));
    case "I16":
      return dv.getInt16(i, true);
    case "I8":
      return dv.getInt8(i);
    case "U8":
    case "BOOL":
      return dv.getUint8(i);
    default:
      throw new Error(`refElement: no float conversion for ${dtype}`);
  }
}

/** Asserts `got` equals the reference conversion of `bytes` (NaN matches NaN, -0 matches -0). */
export function assertConverted(got: Float32Array, bytes: Uint8Array, dtype: string, what: string): void {
  const size = ST_DTYPE_SIZE[dtype]!;
  assert.equal(got.length, bytes.length / size, `${what}: element count`);
  for (let k = 0; k < got.length; k++) {
    const want = refElement(bytes, k * size, dtype);
    if (!(Object.is(got[k], want) || (Number.isNaN(got[k]) && Number.isNaN(want)))) {
      assert.fail(`${what}: element ${k} is ${got[k]}, the reference conversion of ${dtype} gives ${want}`);
    }
  }
}

export interface HeaderLike {
  readonly tensors: readonly { name: string; dtype: string; shape: readonly number[]; dataOffsets: readonly [number, number] }[];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * What any accepted header must satisfy, whatever the input: names unique, dtype known, shape of
 * non-negative safe integers, span = elements × dtype size, and the spans tile [0, dataSize)
 * exactly (the format's contiguity rule), metadata values strings.
 */
export function assertHeaderInvariants(h: HeaderLike, dataSize: number): void {
  const names = new Set<string>();
  for (const t of h.tensors) {
    assert.ok(!names.has(t.name), `duplicate tensor name ${t.name}`);
    names.add(t.name);
    const size = ST_DTYPE_SIZE[t.dtype];
    assert.ok(size !== undefined, `unknown dtype ${t.dtype} accepted`);
    let n = 1;
    for (const s of t.shape) {
      assert.ok(Number.isSafeInteger(s) && s >= 0, `bad shape ${JSON.stringify(t.shape)} accepted`);
      n *= s;
    }
    const [b, e] = t.dataOffsets;
    assert.ok(Number.isSafeInteger(b) && Number.isSafeInteger(e) && b >= 0 && b <= e, `bad offsets [${b}, ${e}]`);
    assert.equal(e - b, n * size, `span of ${t.name} is not elements × dtype size`);
  }
  const sorted = [...h.tensors].sort((x, y) => x.dataOffsets[0] - y.dataOffsets[0] || x.dataOffsets[1] - y.dataOffsets[1]);
  let end = 0;
  for (const t of sorted) {
    assert.equal(t.dataOffsets[0], end, `tensor ${t.name} does not start where the previous ends`);
    end = t.dataOffsets[1];
  }
  assert.equal(end, dataSize, "tensors do not cover the data region exactly");
  for (const [k, v] of Object.entries(h.metadata)) assert.equal(typeof v, "string", `metadata ${k} is not a string`);
}
