/**
 * BF16 → float32 widening with WebAssembly SIMD (about 4× the plain JS loop), used by the matcher
 * for contiguous runs of BF16 rows. The module is 120 hand-assembled bytes:
 *
 *   (func (export "bf16") (param $src i32) (param $dst i32) (param $n8 i32)   ;; n8 ≥ 1 groups of 8
 *     (loop
 *       (v128.store offset=0  (local.get $dst) (i32x4.shl (i32x4.extend_low_i16x8_u  (v128.load (local.get $src))) (i32.const 16)))
 *       (v128.store offset=16 (local.get $dst) (i32x4.shl (i32x4.extend_high_i16x8_u (v128.load (local.get $src))) (i32.const 16)))
 *       (local.set $src (i32.add (local.get $src) (i32.const 16)))
 *       (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
 *       (br_if 0 (local.tee $n8 (i32.sub (local.get $n8) (i32.const 1))))))
 *   (memory (export "mem") 1)
 *
 * The chunk the matcher hands to onnxruntime lives in this module's memory, so decoding writes
 * straight into it; raw bytes are staged at the end of the memory.
 */
const BODY = [
  0x00, // no locals
  0x03, 0x40, // loop
  0x20, 0x01, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, 0xfd, 0xa9, 0x01, 0x41, 0x10, 0xfd, 0xab, 0x01, 0xfd, 0x0b, 0x04, 0x00,
  0x20, 0x01, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, 0xfd, 0xaa, 0x01, 0x41, 0x10, 0xfd, 0xab, 0x01, 0xfd, 0x0b, 0x04, 0x10,
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00,
  0x20, 0x01, 0x41, 0x20, 0x6a, 0x21, 0x01,
  0x20, 0x02, 0x41, 0x01, 0x6b, 0x22, 0x02,
  0x0d, 0x00,
  0x0b, // end loop
  0x0b, // end func
];

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
  const code = [0x01, ...leb(BODY.length), ...BODY];
  const name = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00]), // type: (i32 i32 i32) → ()
    ...section(3, [0x01, 0x00]), // function 0 has type 0
    ...section(5, [0x01, 0x00, 0x01]), // memory: min 1 page
    ...section(7, [0x02, ...name("mem"), 0x02, 0x00, ...name("bf16"), 0x00, 0x00]),
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
  /** Widens `count` BF16 values from `src` into chunk[dstIndex ...]. */
  decode(src: Uint8Array, count: number, dstIndex: number): void;
  /** The staging area (for reading raw BF16 bytes straight into the module's memory). */
  readonly staging: Uint8Array;
  /** Widens `count` BF16 values already in `staging` into chunk[dstIndex ...]. */
  widenStaged(count: number, dstIndex: number): void;
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
  const bf16 = instance.exports.bf16 as (src: number, dst: number, n8: number) => void;
  mem.grow(Math.ceil(total / 65536));
  const chunk = new Float32Array(mem.buffer, 0, chunkFloats); // [n, width] f32 row-major
  const stagingAt = Math.ceil((chunkFloats * 4) / 16) * 16;
  // views of the whole module memory: [chunk f32 | staging bf16]
  const u8 = new Uint8Array(mem.buffer);
  const u16 = new Uint16Array(mem.buffer);
  const u32 = new Uint32Array(mem.buffer);
  const widenStaged = (count: number, dstIndex: number): void => {
    if (count * 2 > stagingBytes || dstIndex + count > chunkFloats) throw new RangeError(`bf16 decode of ${count} values exceeds the staging area or the chunk`);
    const n8 = count >>> 3;
    if (n8 > 0) bf16(stagingAt, dstIndex * 4, n8);
    for (let i = n8 * 8; i < count; i++) u32[dstIndex + i] = u16[stagingAt / 2 + i]! << 16;
  };
  return {
    chunk,
    staging: u8.subarray(stagingAt, stagingAt + stagingBytes),
    widenStaged,
    decode(src: Uint8Array, count: number, dstIndex: number): void {
      if (count * 2 > stagingBytes || src.byteLength < count * 2) throw new RangeError(`bf16 decode of ${count} values exceeds the staging area`);
      u8.set(src.subarray(0, count * 2), stagingAt);
      widenStaged(count, dstIndex);
    },
  };
}
