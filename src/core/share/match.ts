/**
 * The match table (method.md §2): for every unit of layers 1..L−1, its most similar unit in a
 * strictly lower layer (cosine of the concatenated strategy slices), ties to the lowest
 * (layer, unit).
 *
 * Streaming: the unit vectors are never held whole. Each projection of the strategy is read in
 * blocks of rows of every unit's slice (matchRead.ts), decoded to float32 into a chunk [n, width]
 * with each unit's squares summed on the way (the squared norms), and the chunk's float32 products
 * (gram.ts, ORT) are added to float64 sums in block order. Large models on CPU run the blocks on
 * two match threads (matchParallel.ts), one decoding while the other multiplies; the sums are
 * added in the same order, so the table is the same bit for bit. Memory: one chunk
 * (≤ `chunkBytes`) per thread + the lower-layer Gram (≈ n²/2 float64).
 */
import fs from "node:fs/promises";
import type { Checkpoint } from "../model/checkpoint";
import { parametersPerUnit, unitsPerLayer, type Granularity } from "../model/types";
import { unitLayout } from "../model/units";
import { DTYPE_SIZE } from "../safetensors/dtype";
import type { ProviderName } from "../runtime/ort";
import { resolveProviders } from "../runtime/ort";
import { MatchError } from "./errors";
import { createGramKernel, gramLimitError, GramSums, type GramKernel } from "./gram";
import { activeParallelRuns, availableCores, matchThreadScript, runParallel, ThreadStartError } from "./matchParallel";
import { BlockReader, matchSchedule, readsDirectly, STRATEGY_PROJS, type MatchSchedule } from "./matchRead";
import type { MatchEntry, MatchTable, Strategy } from "./types";

export interface MatchProgress {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

export interface MatchOptions {
  readonly strategy: Strategy;
  readonly granularity: Granularity;
  readonly providers?: readonly ProviderName[] | "auto";
  /** Keep every lower-layer cosine (lets plans report the cosine to a chain's root). Default: L·U ≤ 4096. */
  readonly keepLowerCosines?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: MatchProgress) => void;
  /** Bytes of one float32 chunk per thread (default 256 MiB; tests use small values to exercise chunking). */
  readonly chunkBytes?: number;
  /** ORT intra-op threads per match thread (default: ORT's choice on one thread; cores ÷ threads on several). */
  readonly intraOpThreads?: number;
  /**
   * Match threads (1–16), each reading its own blocks while another multiplies (matchParallel.ts).
   * "auto" (default): 2 when the model is large (≥ 8 blocks, ≥ 2·10^10 multiply-adds), the session
   * runs on CPU, every slice is a row slice, there are ≥ 2 cores, no other match in this process is
   * running on threads, and the build has matchThread.js; else 1.
   */
  readonly threads?: number | "auto";
  /** The match-thread script (default: matchThread.js beside the running bundle). */
  readonly threadScript?: string;
  /** Filled with where the time went (for benchmarks). */
  readonly stats?: MatchStats;
}

/**
 * Where the time went: seconds waiting for async (column-slice) reads, reading+decoding to float32,
 * and in the Gemms (summed over threads when several ran), the block count, and the threads used.
 */
export interface MatchStats {
  readWait: number;
  decode: number;
  gram: number;
  blocks: number;
  threads?: number;
  threadFallback?: string;
}

/** Default bytes of one float32 chunk. */
export const DEFAULT_CHUNK_BYTES = 256 * 2 ** 20;

/** Multiply-adds below which threads are not worth their start-up (≈ 0.07 s; 2·10^10 is ≈ 0.2 s of Gemm on one core here). */
const PARALLEL_MIN_MACS = 2e10;

/** How many match threads to use, and the thread script when more than one. */
function matchThreads(ckpt: Checkpoint, opts: MatchOptions, schedule: MatchSchedule, provider: ProviderName): { count: number; script?: string } {
  const want = opts.threads ?? "auto";
  if (want === 1) return { count: 1 };
  const script = opts.threadScript ?? matchThreadScript();
  if (!script) return { count: 1 };
  if (want !== "auto") return { count: Math.min(want, schedule.blocks.length), script };
  const macs = ((schedule.n * schedule.n) / 2) * schedule.unitLength;
  const ok =
    provider === "cpu" &&
    availableCores() >= 2 &&
    activeParallelRuns() === 0 &&
    schedule.blocks.length >= 8 &&
    macs >= PARALLEL_MIN_MACS &&
    schedule.blocks.every((b) => readsDirectly(ckpt.source, b.plan));
  return ok ? { count: 2, script } : { count: 1 };
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
  if (opts.threads !== undefined && opts.threads !== "auto" && !(Number.isSafeInteger(opts.threads) && opts.threads >= 1 && opts.threads <= 16)) {
    throw new MatchError("bad-options", `threads must be "auto" or an integer 1..16, got ${JSON.stringify(opts.threads)}`);
  }
  if (opts.chunkBytes !== undefined && (!Number.isSafeInteger(opts.chunkBytes) || opts.chunkBytes < 4)) {
    throw new MatchError("bad-options", `chunkBytes must be a positive integer, got ${opts.chunkBytes}`);
  }
  if (ckpt.spec.layers < 2) {
    throw new MatchError(
      "unsupported",
      `${ckpt.source.path}: the model has ${ckpt.spec.layers} layer; sharing needs at least 2 (layer 0 units are never targets)`,
    );
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
  let params = 0,
    bytes = 0;
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
  const sums = new GramSums(L, U);
  const stats = opts.stats;

  aborted(opts.signal);
  const newKernel = (): Promise<GramKernel> =>
    createGramKernel(L, U, {
      ...(opts.providers ? { providers: opts.providers } : {}),
      ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}),
    });
  let kernel: GramKernel | undefined = await newKernel();
  let provider = kernel.provider;
  // On WebGPU a chunk [n, width] also keeps within one storage binding, so that every Gemm tensor fits (gram.ts).
  const gpu = kernel.limits;
  const chunkBytes = Math.min(opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, gpu ? gpu.maxStorageBufferBindingSize : Infinity);
  const schedule = matchSchedule(ckpt, opts.strategy, opts.granularity, chunkBytes);
  const total = schedule.blocks.length;
  const tooBig = gpu && gramLimitError(L, U, schedule.maxWidth, gpu);
  if (tooBig) {
    await kernel.dispose();
    throw tooBig;
  }
  const adapter = kernel.adapter,
    kernel0Provider = kernel.provider;
  const threads = matchThreads(ckpt, opts, schedule, provider);
  let bytesRead = 0;
  let threadsUsed = 1;
  try {
    opts.onProgress?.({ phase: "gram", done: 0, total });
    let threaded = false;
    if (threads.count > 1) {
      await kernel.dispose(); // each thread multiplies on its own session
      kernel = undefined;
      const cores = availableCores();
      try {
        const r = await runParallel(
          {
            weightsPath: ckpt.weightsPath,
            strategy: opts.strategy,
            granularity: opts.granularity,
            chunkBytes,
            units: n,
            blocks: total,
            threads: threads.count,
            intraOpThreads: opts.intraOpThreads ?? Math.max(1, Math.floor(cores / threads.count)),
            script: threads.script!,
            ...(opts.signal ? { signal: opts.signal } : {}),
            onMerged: (k) => opts.onProgress?.({ phase: "gram", done: k + 1, total }),
          },
          sums,
        );
        bytesRead = r.bytes;
        provider = r.provider;
        threaded = true;
        threadsUsed = threads.count;
        if (stats) {
          stats.readWait += r.readWait;
          stats.decode += r.decode;
          stats.gram += r.gram;
          stats.blocks += total;
          stats.threads = threads.count;
        }
      } catch (e) {
        if (!(e instanceof ThreadStartError) || !sums.isEmpty()) throw e;
        // threads cannot run here: the same work on this thread
        if (stats) stats.threadFallback = e.message;
        kernel = await newKernel();
        provider = kernel.provider;
      }
    }
    if (!threaded) {
      // One thread: read block k (row slices: synchronous reads; column slices: async, one block ahead), then multiply it.
      const reader = new BlockReader(ckpt, schedule);
      try {
        reader.prefetch(0);
        for (let k = 0; k < total; k++) {
          const t0 = performance.now();
          const blk = await reader.read(k);
          aborted(opts.signal);
          reader.prefetch(k + 1);
          const t1 = performance.now();
          sums.add(await kernel!.products(reader.chunk.subarray(0, n * blk.width), blk.width, opts.signal), blk.norms);
          const t2 = performance.now();
          if (stats) {
            stats.readWait += blk.waited;
            stats.decode += (t1 - t0) / 1000 - blk.waited;
            stats.gram += (t2 - t1) / 1000;
            stats.blocks++;
            stats.threads = 1;
          }
          opts.onProgress?.({ phase: "gram", done: k + 1, total });
        }
      } finally {
        reader.close();
        bytesRead = reader.directBytes + source.bytesRead - bytesBefore;
      }
    }
  } catch (e) {
    if (e instanceof MatchError) throw e;
    throw new MatchError("read-failed", `${source.path}: matching failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await kernel?.dispose();
  }

  // Best strictly-lower source per target, ties to the lowest (layer, unit) (strict >).
  const keep = opts.keepLowerCosines ?? n <= 4096;
  const { norms2 } = sums; // [n] f64
  const dots = new Float64Array(n); // [≤ n] f64: one target's lower-layer dot products
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(norms2[i]!)) {
      throw new MatchError(
        "bad-weights",
        `${source.path}: layer ${Math.floor(i / U)} unit ${i % U} has non-finite ${opts.strategy} weights (NaN or infinity); the checkpoint is damaged`,
      );
    }
  }
  const entries: MatchEntry[] = [];
  const lowerCosines: number[][] = [];
  for (let l = 1; l < L; l++) {
    for (let u = 0; u < U; u++) {
      const i = l * U + u;
      let best = -1,
        bestScore = -Infinity;
      const row: number[] | undefined = keep ? new Array(l * U) : undefined;
      sums.lowerDots(i, dots);
      for (let j = 0; j < l * U; j++) {
        const den = Math.sqrt(norms2[i]! * norms2[j]!);
        const c = den > 0 ? dots[j]! / den : 0; // a zero vector is similar to nothing
        if (row) row[j] = c;
        if (c > bestScore) {
          bestScore = c;
          best = j;
        }
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
  try {
    stat = await fs.stat(ckpt.weightsPath);
  } catch {
    stat = undefined;
  }
  const table: MatchTable = {
    format: "headshare.match",
    version: 1,
    strategy: opts.strategy,
    granularity: opts.granularity,
    layers: L,
    unitsPerLayer: U,
    parametersPerUnit: parametersPerUnit(spec, opts.granularity, hasBias),
    bytesPerUnit: cost.bytes,
    parameters,
    entries,
    ...(keep ? { lowerCosines } : {}),
    source: {
      model: ckpt.weightsPath,
      ...(stat ? { size: stat.size, mtimeMs: stat.mtimeMs } : {}),
      provider,
      ...(adapter && provider === kernel0Provider ? { adapter } : {}),
      seconds: (performance.now() - started) / 1000,
      bytesRead,
      threads: threadsUsed,
    },
  };
  return table;
}
