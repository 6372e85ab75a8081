/**
 * The match table (method.md §2): for every unit of layers 1..L−1, its most similar unit in a
 * strictly lower layer (cosine of the concatenated strategy slices), ties to the lowest
 * (layer, unit).
 *
 * Streaming: the unit vectors are never held whole. Each projection of the strategy is read in
 * blocks of rows of every unit's slice (contiguous row runs; for column slices, the tensor's rows
 * once per layer), decoded to float32 into one chunk [n, width] (each unit's squares summed on
 * the way: the squared norms), and the chunk's products are added to a float64 Gram matrix on
 * ORT (gram.ts). The next block's bytes are read while the
 * current one is multiplied. Memory: about 3 chunks (≤ `chunkBytes` each) + the n×n Gram.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import type { Checkpoint } from "../model/checkpoint";
import { parametersPerUnit, unitsPerLayer, type Granularity, type SliceRef } from "../model/types";
import { unitLayout } from "../model/units";
import { DTYPE_SIZE } from "../safetensors/dtype";
import type { TensorSource } from "../safetensors/types";
import type { ProviderName } from "../runtime/ort";
import { resolveProviders } from "../runtime/ort";
import { createBf16Decoder, type Bf16Decoder } from "./bf16wasm";
import { decodeInto, DECODABLE } from "./decode";
import { MatchError } from "./errors";
import { createGramAccumulator } from "./gram";
import type { MatchEntry, MatchTable, Strategy } from "./types";

export interface MatchProgress { readonly phase: string; readonly done: number; readonly total: number }

export interface MatchOptions {
  readonly strategy: Strategy;
  readonly granularity: Granularity;
  readonly providers?: readonly ProviderName[] | "auto";
  /** Keep every lower-layer cosine (lets plans report the cosine to a chain's root). Default: L·U ≤ 4096. */
  readonly keepLowerCosines?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: MatchProgress) => void;
  /** Bytes of one float32 chunk (default 256 MiB; tests use small values to exercise chunking). */
  readonly chunkBytes?: number;
  readonly intraOpThreads?: number;
  /** Filled with where the time went (for benchmarks). */
  readonly stats?: MatchStats;
}

/** Seconds spent waiting for async (column-slice) reads, reading+decoding row slices to float32, and in the Gram kernel (ORT + f64 adds). */
export interface MatchStats { readWait: number; decode: number; gram: number; blocks: number }

const STRATEGY_PROJS: Readonly<Record<Strategy, readonly ("q" | "k" | "v")[]>> = {
  q: ["q"], k: ["k"], v: ["v"], qk: ["q", "k"], qkv: ["q", "k", "v"],
};

/** One projection's slices of all n units, read in blocks of `rowsPerUnit` rows of `width` floats. */
interface ProjPlan {
  readonly proj: "q" | "k" | "v";
  readonly refs: readonly SliceRef[]; // per unit, (layer, unit) order
  readonly rowsPerUnit: number;
  readonly width: number; // floats per row of a unit's slice
}

function planProjection(ckpt: Checkpoint, proj: "q" | "k" | "v", granularity: Granularity, U: number): ProjPlan {
  const { spec, source } = ckpt;
  const refs: SliceRef[] = [];
  let rowsPerUnit = -1, width = -1;
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
      if (rowsPerUnit < 0) { rowsPerUnit = rows; width = w; }
      if (rows !== rowsPerUnit || w !== width) {
        throw new MatchError("unsupported", `${source.path}: unit (layer ${l}, unit ${u}) has a ${proj} slice of ${rows}×${w}, others ${rowsPerUnit}×${width}; matching needs equally sized units`);
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
    const lo = Math.max(t0, t), hi = Math.min(t1, t + (e - b));
    if (lo < hi) runs.push([b + (lo - t), b + (hi - t)]);
    t += e - b;
  }
  return runs;
}

async function readBlock(source: TensorSource, plan: ProjPlan, t0: number, t1: number): Promise<RawBlock> {
  const byTensorRows = new Map<string, Promise<Uint8Array>>(); // column slices share a tensor's rows
  const parts = await Promise.all(plan.refs.map(async (ref) => {
    const info = source.info(ref.tensor);
    const rowBytes = info.shape[1]! * DTYPE_SIZE[info.dtype];
    if (ref.axis === 1) {
      let p = byTensorRows.get(ref.tensor);
      if (!p) { p = source.readBytes(ref.tensor, t0 * rowBytes, t1 * rowBytes); byTensorRows.set(ref.tensor, p); }
      return [await p];
    }
    return Promise.all(rowRuns(ref, t0, t1).map(([b, e]) => source.readBytes(ref.tensor, b * rowBytes, e * rowBytes)));
  }));
  return { plan, t0, t1, parts };
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
    private readonly norms2: Float64Array, // [n] f64: squared norms, summed as rows are decoded
    maxWidth: number,
  ) {
    this.staging = bf16?.staging ?? new Uint8Array(maxWidth * 2);
  }

  /** True when every slice of `plan` is a row slice of a dtype this reader handles. */
  fits(plan: ProjPlan): boolean {
    return plan.refs.every((r) => {
      const d = this.source.info(r.tensor).dtype;
      return r.axis === 0 && (d === "F32" || d === "F16" || (d === "BF16" && !!this.bf16));
    });
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
  block(plan: ProjPlan, t0: number, t1: number): number {
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
          this.norms2[i]! += sumSquares(this.chunk, this.bf16, at, count);
        } else {
          this.readExact(fd, this.staging, len, pos, info.file, ref.tensor);
          if (info.dtype === "BF16") this.norms2[i]! += this.bf16!.widenStaged(count, at);
          else if (this.bf16) this.norms2[i]! += this.bf16.widenStagedF16(count, at);
          else {
            decodeInto(this.staging, 0, info.dtype, count, this.chunk, at);
            this.norms2[i]! += sumSquares(this.chunk, undefined, at, count);
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

function validate(ckpt: Checkpoint, opts: MatchOptions): void {
  if (!ckpt || !ckpt.spec || !ckpt.source) throw new MatchError("bad-options", "computeMatchTable needs an open checkpoint (openCheckpoint)");
  if (ckpt.compact) {
    throw new MatchError("unsupported", `${ckpt.source.path} is a compact headshare checkpoint: match the original model (or run headshare expand first)`);
  }
  if (!opts || !(opts.strategy in STRATEGY_PROJS)) {
    throw new MatchError("bad-options", `strategy must be one of ${Object.keys(STRATEGY_PROJS).join(", ")}, got ${JSON.stringify(opts?.strategy)}`);
  }
  if (opts.granularity !== "group" && opts.granularity !== "query-head") {
    throw new MatchError("bad-options", `granularity must be "group" or "query-head", got ${JSON.stringify(opts.granularity)}`);
  }
  if (opts.chunkBytes !== undefined && (!Number.isSafeInteger(opts.chunkBytes) || opts.chunkBytes < 4)) {
    throw new MatchError("bad-options", `chunkBytes must be a positive integer, got ${opts.chunkBytes}`);
  }
  if (ckpt.spec.layers < 2) {
    throw new MatchError("unsupported", `${ckpt.source.path}: the model has ${ckpt.spec.layers} layer; sharing needs at least 2 (layer 0 units are never targets)`);
  }
  try {
    resolveProviders(opts.providers);
  } catch (e) {
    throw new MatchError("bad-options", e instanceof Error ? e.message : String(e));
  }
}

function aborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new MatchError("aborted", "matching was cancelled");
}

/** Parameters and stored bytes of one unit (q, k, v, o and q/k/v bias slices), from its layout. */
export function unitCost(ckpt: Checkpoint, granularity: Granularity): { params: number; bytes: number } {
  const layout = unitLayout(ckpt.spec, 0, 0, granularity);
  let params = 0, bytes = 0;
  for (const p of ["q", "k", "v", "o", "qBias", "kBias", "vBias"] as const) {
    const ref = layout[p];
    if (!ref || (granularity === "query-head" && (p === "k" || p === "v" || p === "kBias" || p === "vBias"))) continue;
    const info = ckpt.source.info(ref.tensor);
    const span = ref.ranges.reduce((s, [b, e]) => s + (e - b), 0);
    const perIndex = info.shape.length === 1 ? 1 : ref.axis === 0 ? info.shape[1]! : info.shape[0]!;
    params += span * perIndex;
    bytes += span * perIndex * DTYPE_SIZE[info.dtype];
  }
  return { params, bytes };
}

/** Computes the match table of a checkpoint (see the file comment). */
export async function computeMatchTable(ckpt: Checkpoint, opts: MatchOptions): Promise<MatchTable> {
  validate(ckpt, opts);
  const started = performance.now();
  const { spec, source } = ckpt;
  const L = spec.layers;
  const U = unitsPerLayer(spec, opts.granularity);
  const n = L * U;
  const bytesBefore = source.bytesRead;
  const plans = STRATEGY_PROJS[opts.strategy].map((p) => planProjection(ckpt, p, opts.granularity, U));
  const chunkFloats = Math.max(1, Math.floor((opts.chunkBytes ?? 256 * 2 ** 20) / 4));

  // The schedule: (projection, rows [t0, t1)) blocks, each ≤ chunkFloats floats over all units.
  const blocks: { plan: ProjPlan; t0: number; t1: number }[] = [];
  for (const plan of plans) {
    const rowsPerBlock = Math.max(1, Math.min(plan.rowsPerUnit, Math.floor(chunkFloats / (n * plan.width))));
    for (let t0 = 0; t0 < plan.rowsPerUnit; t0 += rowsPerBlock) blocks.push({ plan, t0, t1: Math.min(plan.rowsPerUnit, t0 + rowsPerBlock) });
  }
  const maxW = Math.max(...blocks.map((b) => (b.t1 - b.t0) * b.plan.width));
  // BF16/F16 row runs are widened by WebAssembly SIMD straight into a chunk in its memory, where
  // the squares of every dtype are summed by SIMD too.
  const bf16 = createBf16Decoder(n * maxW, maxW * 2);
  const chunk = bf16?.chunk ?? new Float32Array(n * maxW); // [n, width ≤ maxW] f32 row-major
  const norms2 = new Float64Array(n); // [n] f64 squared norms

  aborted(opts.signal);
  const direct = new DirectRowReader(source, chunk, bf16, norms2, maxW);
  const gram = await createGramAccumulator(L, U, {
    ...(opts.providers ? { providers: opts.providers } : {}),
    ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}),
  });
  try {
    opts.onProgress?.({ phase: "gram", done: 0, total: blocks.length });
    // Row slices: direct synchronous reads; column slices (GPT-2 c_attn): async reads, one block ahead.
    const start = (k: number): Promise<RawBlock> | undefined => {
      const b = blocks[k];
      if (!b || direct.fits(b.plan)) return undefined;
      const p = readBlock(source, b.plan, b.t0, b.t1);
      p.catch(() => undefined); // a failure is rethrown when awaited
      return p;
    };
    let next = start(0);
    for (let k = 0; k < blocks.length; k++) {
      const t = performance.now();
      const blk = blocks[k]!;
      const raw = next ? await next : undefined;
      aborted(opts.signal);
      next = start(k + 1);
      const t1 = performance.now();
      const width = raw ? decodeBlock(source, raw, chunk, norms2, bf16) : direct.block(blk.plan, blk.t0, blk.t1);
      const t2 = performance.now();
      await gram.add(chunk.subarray(0, n * width), width);
      const t3 = performance.now();
      if (opts.stats) {
        opts.stats.readWait += (t1 - t) / 1000; opts.stats.decode += (t2 - t1) / 1000; opts.stats.gram += (t3 - t2) / 1000; opts.stats.blocks++;
      }
      opts.onProgress?.({ phase: "gram", done: k + 1, total: blocks.length });
    }
  } catch (e) {
    if (e instanceof MatchError) throw e;
    throw new MatchError("read-failed", `${source.path}: matching failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    direct.close();
    await gram.dispose(); // releases the session; the float64 sums stay readable
  }

  // Best strictly-lower source per target, ties to the lowest (layer, unit) (strict >).
  const keep = opts.keepLowerCosines ?? n <= 4096;
  const dots = new Float64Array(n); // [≤ n] f64: one target's lower-layer dot products
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(norms2[i]!)) {
      throw new MatchError("bad-weights", `${source.path}: layer ${Math.floor(i / U)} unit ${i % U} has non-finite ${opts.strategy} weights (NaN or infinity); the checkpoint is damaged`);
    }
  }
  const entries: MatchEntry[] = [];
  const lowerCosines: number[][] = [];
  for (let l = 1; l < L; l++) {
    for (let u = 0; u < U; u++) {
      const i = l * U + u;
      let best = -1, bestScore = -Infinity;
      const row: number[] | undefined = keep ? new Array(l * U) : undefined;
      gram.lowerDots(i, dots);
      for (let j = 0; j < l * U; j++) {
        const den = Math.sqrt(norms2[i]! * norms2[j]!);
        const c = den > 0 ? dots[j]! / den : 0; // a zero vector is similar to nothing
        if (row) row[j] = c;
        if (c > bestScore) { bestScore = c; best = j; }
      }
      entries.push({ layer: l, unit: u, sourceLayer: Math.floor(best / U), sourceUnit: best % U, score: bestScore });
      if (row) lowerCosines.push(row);
    }
  }
  const cost = unitCost(ckpt, opts.granularity);
  const hasBias = !!unitLayout(spec, 0, 0, opts.granularity).qBias;
  let parameters = 0;
  for (const t of source.tensors) parameters += t.shape.reduce((a, b) => a * b, 1);
  let stat: { size: number; mtimeMs: number } | undefined;
  try { stat = await fs.stat(ckpt.weightsPath); } catch { stat = undefined; }
  const table: MatchTable = {
    format: "headshare.match", version: 1, strategy: opts.strategy, granularity: opts.granularity,
    layers: L, unitsPerLayer: U,
    parametersPerUnit: parametersPerUnit(spec, opts.granularity, hasBias),
    bytesPerUnit: cost.bytes,
    parameters,
    entries,
    ...(keep ? { lowerCosines } : {}),
    source: {
      model: ckpt.weightsPath,
      ...(stat ? { size: stat.size, mtimeMs: stat.mtimeMs } : {}),
      provider: gram.provider,
      seconds: (performance.now() - started) / 1000,
      bytesRead: source.bytesRead - bytesBefore + direct.bytes,
    },
  };
  return table;
}
