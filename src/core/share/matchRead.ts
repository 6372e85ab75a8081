/**
 * Reading the match kernel's input (method.md §2): the strategy's projection slices of every unit,
 * in blocks of rows (the schedule), decoded to float32 into one chunk [n, width] with every unit's
 * sum of squares taken on the way. Used by the matcher on its own thread and by match threads.
 *
 * Row slices (Llama-style q/k/v rows) are read by synchronous positioned reads straight into the
 * decoder's memory; column slices (GPT-2's fused c_attn) and dtypes without a fast path by async
 * reads of whole tensor rows, started one block ahead.
 */
import fsSync from "node:fs";
import type { Checkpoint } from "../model/checkpoint";
import { unitsPerLayer, type Granularity, type SliceRef } from "../model/types";
import { unitLayout } from "../model/units";
import { DTYPE_SIZE } from "../safetensors/dtype";
import type { TensorSource } from "../safetensors/types";
import { createBf16Decoder, type Bf16Decoder } from "./bf16wasm";
import { decodeInto, DECODABLE } from "./decode";
import { MatchError } from "./errors";
import type { Strategy } from "./types";

export const STRATEGY_PROJS: Readonly<Record<Strategy, readonly ("q" | "k" | "v")[]>> = {
  q: ["q"],
  k: ["k"],
  v: ["v"],
  qk: ["q", "k"],
  qkv: ["q", "k", "v"],
};

/** One projection's slices of all n units, read in blocks of `rowsPerUnit` rows of `width` floats. */
export interface ProjPlan {
  readonly proj: "q" | "k" | "v";
  readonly refs: readonly SliceRef[]; // per unit, (layer, unit) order
  readonly rowsPerUnit: number;
  readonly width: number; // floats per row of a unit's slice
}

export function planProjection(ckpt: Checkpoint, proj: "q" | "k" | "v", granularity: Granularity, U: number): ProjPlan {
  const { spec, source } = ckpt;
  const refs: SliceRef[] = [];
  let rowsPerUnit = -1,
    width = -1;
  for (let l = 0; l < spec.layers; l++) {
    for (let u = 0; u < U; u++) {
      const ref = unitLayout(spec, l, u, granularity)[proj];
      const info = source.info(ref.tensor);
      if (!DECODABLE.includes(info.dtype)) {
        throw new MatchError("unsupported", `${source.path}: tensor "${ref.tensor}" is ${info.dtype}; matching reads F32, F16, BF16 or F64 weights`);
      }
      if (info.shape.length !== 2) {
        throw new MatchError("unsupported", `${source.path}: tensor "${ref.tensor}" has shape [${info.shape.join(", ")}]; a projection weight must be 2-D`);
      }
      const [R, C] = info.shape as [number, number];
      const span = ref.ranges.reduce((s, [b, e]) => s + (e - b), 0);
      const rows = ref.axis === 0 ? span : R;
      const w = ref.axis === 0 ? C : span;
      if (rowsPerUnit < 0) {
        rowsPerUnit = rows;
        width = w;
      }
      if (rows !== rowsPerUnit || w !== width) {
        throw new MatchError(
          "unsupported",
          `${source.path}: unit (layer ${l}, unit ${u}) has a ${proj} slice of ${rows}×${w}, others ${rowsPerUnit}×${width}; matching needs equally sized units`,
        );
      }
      refs.push(ref);
    }
  }
  return { proj, refs, rowsPerUnit, width };
}

/** Raw bytes for rows [t0, t1) of every unit's slice of one projection, plus how to decode them. */
interface RawBlock {
  readonly plan: ProjPlan;
  readonly t0: number;
  readonly t1: number;
  /** Per unit: byte arrays with the rows' data, in order. For column slices: the tensor's rows [t0, t1). */
  readonly parts: readonly (readonly Uint8Array[])[];
}

/** Row runs [b, e) of the tensor that hold rows [t0, t1) of a unit's row-slice. */
function rowRuns(ref: SliceRef, t0: number, t1: number): [number, number][] {
  const runs: [number, number][] = [];
  let t = 0;
  for (const [b, e] of ref.ranges) {
    const lo = Math.max(t0, t),
      hi = Math.min(t1, t + (e - b));
    if (lo < hi) runs.push([b + (lo - t), b + (hi - t)]);
    t += e - b;
  }
  return runs;
}

async function readBlock(source: TensorSource, plan: ProjPlan, t0: number, t1: number): Promise<RawBlock> {
  const byTensorRows = new Map<string, Promise<Uint8Array>>(); // column slices share a tensor's rows
  const parts = await Promise.all(
    plan.refs.map(async (ref) => {
      const info = source.info(ref.tensor);
      const rowBytes = info.shape[1]! * DTYPE_SIZE[info.dtype];
      if (ref.axis === 1) {
        let p = byTensorRows.get(ref.tensor);
        if (!p) {
          p = source.readBytes(ref.tensor, t0 * rowBytes, t1 * rowBytes);
          byTensorRows.set(ref.tensor, p);
        }
        return [await p];
      }
      return Promise.all(rowRuns(ref, t0, t1).map(([b, e]) => source.readBytes(ref.tensor, b * rowBytes, e * rowBytes)));
    }),
  );
  return { plan, t0, t1, parts };
}

/** True when every slice of `plan` is a row slice of F32, F16, or BF16 (given the SIMD decoder). */
export function readsDirectly(source: TensorSource, plan: ProjPlan, simd = true): boolean {
  return plan.refs.every((r) => {
    const d = source.info(r.tensor).dtype;
    return r.axis === 0 && (d === "F32" || d === "F16" || (d === "BF16" && simd));
  });
}

/**
 * The fast path for row slices (F32, BF16, F16): synchronous positioned reads (page cache) with no
 * intermediate buffers — F32 rows straight into the chunk, BF16/F16 into the WebAssembly decoder's
 * staging area (then widened into the chunk by SIMD).
 * Opens each weights file read-only once; `bytes` counts what it read.
 */
class DirectRowReader {
  private readonly fds = new Map<string, { fd: number; dataStart: number }>();
  private readonly staging: Uint8Array; // [≤ one unit's block] raw F16/BF16 bytes
  bytes = 0;
  constructor(
    private readonly source: TensorSource,
    private readonly chunk: Float32Array,
    private readonly bf16: Bf16Decoder | undefined,
    maxWidth: number,
  ) {
    this.staging = bf16?.staging ?? new Uint8Array(maxWidth * 2);
  }

  /** True when every slice of `plan` is a row slice of a dtype this reader handles. */
  fits(plan: ProjPlan): boolean {
    return readsDirectly(this.source, plan, !!this.bf16);
  }

  private file(path: string): { fd: number; dataStart: number } {
    let f = this.fds.get(path);
    if (!f) {
      const fd = fsSync.openSync(path, "r");
      try {
        const head = Buffer.alloc(8);
        if (fsSync.readSync(fd, head, 0, 8, 0) !== 8) throw new MatchError("read-failed", `${path}: cannot read the safetensors header length`);
        f = { fd, dataStart: 8 + Number(head.readBigUInt64LE(0)) };
      } catch (e) {
        fsSync.closeSync(fd);
        throw e;
      }
      this.fds.set(path, f);
    }
    return f;
  }

  private readExact(fd: number, into: Uint8Array, len: number, pos: number, file: string, tensor: string): void {
    for (let done = 0; done < len;) {
      const got = fsSync.readSync(fd, into, done, len - done, pos + done);
      if (got === 0) throw new MatchError("read-failed", `${file}: tensor "${tensor}" ends early (file truncated?)`);
      done += got;
    }
    this.bytes += len;
  }

  /** Reads (and widens) rows [t0, t1) of every unit's slice into chunk [n, (t1−t0)·width], adding each unit's squares to norms2. */
  block(plan: ProjPlan, t0: number, t1: number, norms2: Float64Array /* [n] f64 */): number {
    const W = (t1 - t0) * plan.width;
    const chunkBytes = new Uint8Array(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
    for (let i = 0; i < plan.refs.length; i++) {
      const ref = plan.refs[i]!;
      const info = this.source.info(ref.tensor);
      const { fd, dataStart } = this.file(info.file);
      const size = DTYPE_SIZE[info.dtype];
      const rowBytes = info.shape[1]! * size;
      let at = i * W;
      for (const [b, e] of rowRuns(ref, t0, t1)) {
        const len = (e - b) * rowBytes;
        const count = len / size;
        const pos = dataStart + info.dataOffsets[0] + b * rowBytes;
        if (info.dtype === "F32") {
          this.readExact(fd, chunkBytes.subarray(at * 4), len, pos, info.file, ref.tensor);
          norms2[i]! += sumSquares(this.chunk, this.bf16, at, count);
        } else {
          this.readExact(fd, this.staging, len, pos, info.file, ref.tensor);
          if (info.dtype === "BF16") norms2[i]! += this.bf16!.widenStaged(count, at);
          else if (this.bf16) norms2[i]! += this.bf16.widenStagedF16(count, at);
          else {
            decodeInto(this.staging, 0, info.dtype, count, this.chunk, at);
            norms2[i]! += sumSquares(this.chunk, undefined, at, count);
          }
        }
        at += count;
      }
    }
    return W;
  }

  close(): void {
    for (const { fd } of this.fds.values()) fsSync.closeSync(fd);
    this.fds.clear();
  }
}

/** Σ chunk[i]² over [from, from + count): WebAssembly SIMD when the chunk is the decoder's, else plain float64. */
function sumSquares(chunk: Float32Array, bf16: Bf16Decoder | undefined, from: number, count: number): number {
  if (bf16 && bf16.chunk === chunk) return bf16.sumSquares(from, count);
  let s = 0;
  for (let i = from; i < from + count; i++) s += chunk[i]! * chunk[i]!;
  return s;
}

/** Decodes a raw block into chunk [n, (t1−t0)·width] f32 row-major, adding each unit's squares to norms2. */
function decodeBlock(source: TensorSource, block: RawBlock, chunk: Float32Array, norms2: Float64Array, bf16?: Bf16Decoder): number {
  const { plan, t0, t1 } = block;
  const W = (t1 - t0) * plan.width;
  for (let i = 0; i < plan.refs.length; i++) {
    const ref = plan.refs[i]!;
    const info = source.info(ref.tensor);
    const size = DTYPE_SIZE[info.dtype];
    const parts = block.parts[i]!;
    if (ref.axis === 0) {
      let at = i * W;
      for (const p of parts) {
        const count = p.byteLength / size;
        if (bf16 && info.dtype === "BF16") bf16.decode(p, count, at);
        else decodeInto(p, 0, info.dtype, count, chunk, at);
        at += count;
      }
    } else {
      const C = info.shape[1]!;
      const rowsBytes = parts[0]!;
      let at = i * W;
      for (let r = 0; r < t1 - t0; r++) {
        for (const [b, e] of ref.ranges) {
          decodeInto(rowsBytes, (r * C + b) * size, info.dtype, e - b, chunk, at);
          at += e - b;
        }
      }
    }
    norms2[i]! += sumSquares(chunk, bf16, i * W, W);
  }
  return W;
}

/** One step of the schedule: rows [t0, t1) of every unit's slice of one projection. */
export interface BlockSpec {
  readonly plan: ProjPlan;
  readonly t0: number;
  readonly t1: number;
}

/** The blocks of a match: each ≤ `chunkBytes` of float32 over all n units. */
export interface MatchSchedule {
  readonly n: number;
  readonly blocks: readonly BlockSpec[];
  /** Widest block (floats per unit). */
  readonly maxWidth: number;
  /** Total floats per unit (the unit vector's length). */
  readonly unitLength: number;
}

export function matchSchedule(ckpt: Checkpoint, strategy: Strategy, granularity: Granularity, chunkBytes: number): MatchSchedule {
  const U = unitsPerLayer(ckpt.spec, granularity);
  const n = ckpt.spec.layers * U;
  const plans = STRATEGY_PROJS[strategy].map((p) => planProjection(ckpt, p, granularity, U));
  const chunkFloats = Math.max(1, Math.floor(chunkBytes / 4));
  const blocks: BlockSpec[] = [];
  for (const plan of plans) {
    const rowsPerBlock = Math.max(1, Math.min(plan.rowsPerUnit, Math.floor(chunkFloats / (n * plan.width))));
    for (let t0 = 0; t0 < plan.rowsPerUnit; t0 += rowsPerBlock) blocks.push({ plan, t0, t1: Math.min(plan.rowsPerUnit, t0 + rowsPerBlock) });
  }
  const maxWidth = Math.max(...blocks.map((b) => (b.t1 - b.t0) * b.plan.width));
  const unitLength = plans.reduce((s, p) => s + p.rowsPerUnit * p.width, 0);
  return { n, blocks, maxWidth, unitLength };
}

/** A block in the chunk: its width (floats per unit) and every unit's sum of squares over it. */
export interface ReadBlock {
  readonly width: number;
  readonly norms: Float64Array /* [n] f64 */;
  readonly waited: number;
}

/** The chunk of one matcher (thread): reads block k of the schedule into it on request. */
export class BlockReader {
  readonly chunk: Float32Array; // [n, width ≤ maxWidth] f32 row-major
  private readonly bf16: Bf16Decoder | undefined;
  private readonly direct: DirectRowReader;
  private readonly pending = new Map<number, Promise<RawBlock>>();

  constructor(
    private readonly ckpt: Checkpoint,
    readonly schedule: MatchSchedule,
  ) {
    const { n, maxWidth } = schedule;
    // BF16/F16 row runs are widened by WebAssembly SIMD straight into a chunk in its memory, where
    // the squares of every dtype are summed by SIMD too.
    this.bf16 = createBf16Decoder(n * maxWidth, maxWidth * 2);
    this.chunk = this.bf16?.chunk ?? new Float32Array(n * maxWidth);
    this.direct = new DirectRowReader(ckpt.source, this.chunk, this.bf16, maxWidth);
  }

  /** Bytes read by synchronous reads (async reads are counted by the tensor source). */
  get directBytes(): number {
    return this.direct.bytes;
  }

  /** Starts reading block k ahead when it needs async reads (no-op otherwise). */
  prefetch(k: number): void {
    const b = this.schedule.blocks[k];
    if (!b || this.direct.fits(b.plan) || this.pending.has(k)) return;
    const p = readBlock(this.ckpt.source, b.plan, b.t0, b.t1);
    p.catch(() => undefined); // a failure is rethrown when awaited
    this.pending.set(k, p);
  }

  /** Reads block k into the chunk. */
  async read(k: number): Promise<ReadBlock> {
    const b = this.schedule.blocks[k]!;
    const norms = new Float64Array(this.schedule.n); // [n] f64
    if (this.direct.fits(b.plan)) return { width: this.direct.block(b.plan, b.t0, b.t1, norms), norms, waited: 0 };
    const t = performance.now();
    this.prefetch(k);
    const raw = await this.pending.get(k)!;
    this.pending.delete(k);
    const waited = (performance.now() - t) / 1000;
    return { width: decodeBlock(this.ckpt.source, raw, this.chunk, norms, this.bf16), norms, waited };
  }

  close(): void {
    this.direct.close();
  }
}
