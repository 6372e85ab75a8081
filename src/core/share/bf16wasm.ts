/**
 * BF16 and F16 → float32 widening with WebAssembly SIMD (3–4× the plain JS loops), used by the
 * matcher for contiguous runs of half-precision rows. The module is assembled by hand here:
 *
 *   (func (export "bf16sq") (param $src i32) (param $dst i32) (param $n8 i32) (result f64)  ;; n8 ≥ 1 groups of 8
 *     (local $v v128) (local $a0 v128) (local $a1 v128) (local $w v128)
 *     (loop
 *       (local.set $v (v128.load (local.get $src)))
 *       (v128.store offset=0  (local.get $dst) (local.tee $w (i32x4.shl (i32x4.extend_low_i16x8_u  (local.get $v)) (i32.const 16))))
 *       (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w) (local.get $w))))
 *       (v128.store offset=16 (local.get $dst) (local.tee $w (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $v)) (i32.const 16))))
 *       (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w) (local.get $w))))
 *       (local.set $src (i32.add (local.get $src) (i32.const 16)))
 *       (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
 *       (br_if 0 (local.tee $n8 (i32.sub (local.get $n8) (i32.const 1)))))
 *     (local.set $a0 (f32x4.add (local.get $a0) (local.get $a1)))
 *     ;; Σ over lanes of f64.promote_f32(f32x4.extract_lane i (local.get $a0))
 *   )
 *   (memory (export "mem") 1)
 *
 * Besides widening, it returns the sum of squares of what it wrote (the matcher's squared norms,
 * so the Gram kernel needs no diagonal blocks); "sq" (param $p i32) (param $n8 i32) (result f64)
 * does only that, for floats already in the chunk (F32 and F16 rows). Callers pass segments of
 * ≤ SQ_SEGMENT values (≤ 256 f32 adds per lane) and add the segments in f64.
 *
 * "f16" widens IEEE half floats the same way, branch-free per lane:
 *   e = (h & 0x7fff) << 13;  o = e + (112 << 23);  o += (e & 0x0f800000) == 0x0f800000 ? 112 << 23 : 0;
 *   o = (e & 0x0f800000) == 0 ? bits(float(o + (1 << 23)) − 2^−14) : o;  result = o | (h & 0x8000) << 16
 * (inf/NaN get exponent 255; zeros and subnormals are rebuilt exactly by one float subtraction).
 *
 * The chunk the matcher hands to onnxruntime lives in this module's memory, so decoding writes
 * straight into it; raw bytes are staged at the end of the memory.
 */
import { f16ToF32Table } from "./decode";

/** Signed LEB128 of an i32 (for i32.const). */
function sleb(v: number): number[] {
  const out: number[] = [];
  let x = v | 0;
  for (;;) {
    const b = x & 0x7f;
    x >>= 7;
    if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** The "f16" body: locals 3 $x, 4 $s, 5 $e, 6 $exp, 7 $o, 8 $v (v128). */
function f16Body(): number[] {
  const get = (i: number): number[] => [0x20, i],
    set = (i: number): number[] => [0x21, i];
  const splat = (c: number): number[] => [0x41, ...sleb(c), 0xfd, 0x11];
  const AND = [0xfd, 0x4e],
    OR = [0xfd, 0x50],
    ADD = [0xfd, 0xae, 0x01],
    EQ = [0xfd, 0x37],
    SHL = [0xfd, 0xab, 0x01];
  const FSUB = [0xfd, 0xe5, 0x01],
    SELECT = [0xfd, 0x52];
  const half = (extend: number, offset: number): number[] => [
    ...get(1), // store address
    ...get(8),
    0xfd,
    extend,
    0x01,
    ...set(3),
    ...get(3),
    ...splat(0x8000),
    ...AND,
    0x41,
    16,
    ...SHL,
    ...set(4),
    ...get(3),
    ...splat(0x7fff),
    ...AND,
    0x41,
    13,
    ...SHL,
    ...set(5),
    ...get(5),
    ...splat(0x0f800000),
    ...AND,
    ...set(6),
    ...get(5),
    ...splat(0x38000000),
    ...ADD,
    ...set(7),
    ...get(7),
    ...get(6),
    ...splat(0x0f800000),
    ...EQ,
    ...splat(0x38000000),
    ...AND,
    ...ADD,
    ...set(7),
    ...get(7),
    ...splat(0x00800000),
    ...ADD,
    ...splat(0x38800000),
    ...FSUB,
    ...get(7),
    ...get(6),
    ...splat(0),
    ...EQ,
    ...SELECT,
    ...get(4),
    ...OR,
    0xfd,
    0x0b,
    0x04,
    offset, // v128.store
  ];
  return [
    0x01,
    0x06,
    0x7b, // 6 v128 locals
    0x03,
    0x40,
    ...get(0),
    0xfd,
    0x00,
    0x04,
    0x00,
    ...set(8), // $v = v128.load($src)
    ...half(0xa9, 0x00),
    ...half(0xaa, 0x10),
    ...loopEnd(
      [
        [0x00, 0x10],
        [0x01, 0x20],
      ],
      0x02,
    ),
    0x0b,
  ];
}

/** Values per call of the sum-of-squares functions: 2 accumulators × 4 lanes × 256 adds. */
export const SQ_SEGMENT = 2048;

const F32X4_ADD = [0xfd, 0xe4, 0x01],
  F32X4_MUL = [0xfd, 0xe6, 0x01];

/** Adds the lanes of v128 local `a` and v128 local `b` in f64 (leaves the f64 on the stack). */
function laneSum(a: number, b: number): number[] {
  const out = [0x20, a, 0x20, b, ...F32X4_ADD, 0x21, a];
  for (let lane = 0; lane < 4; lane++) out.push(0x20, a, 0xfd, 0x1f, lane, 0xbb, ...(lane ? [0xa0] : [])); // f32x4.extract_lane, f64.promote_f32, f64.add
  return out;
}

/** A loop's end: add `inc` to each pointer local, decrement local `n8` and branch back while it is non-zero. */
function loopEnd(pointers: readonly (readonly [local: number, inc: number])[], n8: number): number[] {
  return [...pointers.flatMap(([local, inc]) => [0x20, local, 0x41, inc, 0x6a, 0x21, local]), 0x20, n8, 0x41, 0x01, 0x6b, 0x22, n8, 0x0d, 0x00, 0x0b];
}

/** "bf16sq": params 0 $src, 1 $dst, 2 $n8; locals 3 $v, 4 $a0, 5 $a1, 6 $w (v128). */
function bf16SqBody(): number[] {
  const half = (extend: number, offset: number, acc: number): number[] => [
    0x20,
    0x01, // store address
    0x20,
    0x03,
    0xfd,
    extend,
    0x01,
    0x41,
    0x10,
    0xfd,
    0xab,
    0x01,
    0x22,
    0x06, // $w = i32x4.shl(extend(v), 16)
    0xfd,
    0x0b,
    0x04,
    offset, // v128.store
    0x20,
    acc,
    0x20,
    0x06,
    0x20,
    0x06,
    ...F32X4_MUL,
    ...F32X4_ADD,
    0x21,
    acc, // $acc += w·w
  ];
  return [
    0x01,
    0x04,
    0x7b, // 4 v128 locals
    0x03,
    0x40,
    0x20,
    0x00,
    0xfd,
    0x00,
    0x04,
    0x00,
    0x21,
    0x03, // $v = v128.load($src)
    ...half(0xa9, 0x00, 0x04),
    ...half(0xaa, 0x10, 0x05),
    ...loopEnd(
      [
        [0x00, 0x10],
        [0x01, 0x20],
      ],
      0x02,
    ),
    ...laneSum(0x04, 0x05),
    0x0b,
  ];
}

/** "sq": params 0 $p, 1 $n8; locals 2 $a0, 3 $a1, 4 $w (v128). */
function sqBody(): number[] {
  const acc = (offset: number, a: number): number[] => [
    0x20,
    a,
    0x20,
    0x00,
    0xfd,
    0x00,
    0x04,
    offset,
    0x22,
    0x04,
    0x20,
    0x04,
    ...F32X4_MUL,
    ...F32X4_ADD,
    0x21,
    a,
  ];
  return [0x01, 0x03, 0x7b, 0x03, 0x40, ...acc(0x00, 0x02), ...acc(0x10, 0x03), ...loopEnd([[0x00, 0x20]], 0x01), ...laneSum(0x02, 0x03), 0x0b];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
  const bodies = [f16Body(), bf16SqBody(), sqBody()];
  const code = [bodies.length, ...bodies.flatMap((b) => [...leb(b.length), ...b])];
  const name = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const fn = (s: string, index: number): number[] => [...name(s), 0x00, index];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [
      0x03,
      0x60,
      0x03,
      0x7f,
      0x7f,
      0x7f,
      0x00, // type 0: (i32 i32 i32) → ()
      0x60,
      0x03,
      0x7f,
      0x7f,
      0x7f,
      0x01,
      0x7c, // type 1: (i32 i32 i32) → f64
      0x60,
      0x02,
      0x7f,
      0x7f,
      0x01,
      0x7c, // type 2: (i32 i32) → f64
    ]),
    ...section(3, [0x03, 0x00, 0x01, 0x02]), // f16: type 0; bf16sq: type 1; sq: type 2
    ...section(5, [0x01, 0x00, 0x01]), // memory: min 1 page
    ...section(7, [0x04, ...name("mem"), 0x02, 0x00, ...fn("f16", 0), ...fn("bf16sq", 1), ...fn("sq", 2)]),
    ...section(10, code),
  ]);
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

export interface Bf16Decoder {
  /** The float32 chunk, inside the module's memory. */
  readonly chunk: Float32Array;
  /** Widens `count` BF16 values from `src` into chunk[dstIndex ...]; returns their sum of squares. */
  decode(src: Uint8Array, count: number, dstIndex: number): number;
  /** The staging area (for reading raw BF16 bytes straight into the module's memory). */
  readonly staging: Uint8Array;
  /** Widens `count` BF16 values already in `staging` (from byte `stagedAt`, default 0) into chunk[dstIndex ...]; returns their sum of squares. */
  widenStaged(count: number, dstIndex: number, stagedAt?: number): number;
  /** Widens `count` F16 values already in `staging` (from byte `stagedAt`, default 0) into chunk[dstIndex ...] (NaN payloads kept); returns their sum of squares. */
  widenStagedF16(count: number, dstIndex: number, stagedAt?: number): number;
  /** Σ chunk[i]² over [index, index + count), f32 squares summed in f64 every SQ_SEGMENT values. */
  sumSquares(index: number, count: number): number;
}

/**
 * A decoder whose memory holds a chunk of `chunkFloats` floats plus `stagingBytes` of staging;
 * undefined when WebAssembly SIMD is unavailable or the memory would exceed 4 GiB.
 */
export function createBf16Decoder(chunkFloats: number, stagingBytes: number): Bf16Decoder | undefined {
  const total = chunkFloats * 4 + stagingBytes + 64;
  if (total > 4 * 2 ** 30 - 65536) return undefined;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()));
  } catch {
    return undefined;
  }
  const mem = instance.exports.mem as WebAssembly.Memory;
  const f16 = instance.exports.f16 as (src: number, dst: number, n8: number) => void;
  const bf16sq = instance.exports.bf16sq as (src: number, dst: number, n8: number) => number;
  const sq = instance.exports.sq as (p: number, n8: number) => number;
  mem.grow(Math.ceil(total / 65536));
  const chunk = new Float32Array(mem.buffer, 0, chunkFloats); // [n, width] f32 row-major
  const stagingAt = Math.ceil((chunkFloats * 4) / 16) * 16;
  // views of the whole module memory: [chunk f32 | staging bf16]
  const u8 = new Uint8Array(mem.buffer);
  const u16 = new Uint16Array(mem.buffer);
  const u32 = new Uint32Array(mem.buffer);
  const f32 = new Float32Array(mem.buffer); // the same memory as floats
  const sumSquares = (index: number, count: number): number => {
    if (index < 0 || index + count > chunkFloats) throw new RangeError(`sum of squares over [${index}, ${index + count}) exceeds the chunk`);
    let s = 0,
      i = 0;
    for (const end = count & ~7; i < end; i += SQ_SEGMENT) s += sq((index + i) * 4, Math.min(SQ_SEGMENT, end - i) >>> 3);
    i = count & ~7;
    for (; i < count; i++) s += f32[index + i]! * f32[index + i]!;
    return s;
  };
  const staged = (count: number, dstIndex: number, at: number, what: string): number => {
    if (at < 0 || at % 2 !== 0 || at + count * 2 > stagingBytes || dstIndex + count > chunkFloats)
      throw new RangeError(`${what} decode of ${count} values from staging byte ${at} exceeds the staging area or the chunk`);
    return stagingAt + at;
  };
  const widenStaged = (count: number, dstIndex: number, stagedAt = 0): number => {
    const from = staged(count, dstIndex, stagedAt, "bf16");
    let s = 0,
      i = 0;
    for (const end = count & ~7; i < end; i += SQ_SEGMENT) s += bf16sq(from + i * 2, (dstIndex + i) * 4, Math.min(SQ_SEGMENT, end - i) >>> 3);
    i = count & ~7;
    for (; i < count; i++) {
      u32[dstIndex + i] = u16[from / 2 + i]! << 16;
      s += f32[dstIndex + i]! * f32[dstIndex + i]!;
    }
    return s;
  };
  const f16Table = f16ToF32Table();
  return {
    chunk,
    staging: u8.subarray(stagingAt, stagingAt + stagingBytes),
    widenStaged,
    sumSquares,
    widenStagedF16(count: number, dstIndex: number, stagedAt = 0): number {
      const from = staged(count, dstIndex, stagedAt, "f16");
      const n8 = count >>> 3;
      if (n8 > 0) f16(from, dstIndex * 4, n8);
      for (let i = n8 * 8; i < count; i++) f32[dstIndex + i] = f16Table[u16[from / 2 + i]!]!;
      return sumSquares(dstIndex, count);
    },
    decode(src: Uint8Array, count: number, dstIndex: number): number {
      if (count * 2 > stagingBytes || src.byteLength < count * 2) throw new RangeError(`bf16 decode of ${count} values exceeds the staging area`);
      u8.set(src.subarray(0, count * 2), stagingAt);
      return widenStaged(count, dstIndex);
    },
  };
}
