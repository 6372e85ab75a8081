/**
 * The match kernel: the Gram matrix of n unit vectors restricted to strictly-lower-layer pairs,
 * accumulated in float64 over column chunks of the vectors, each chunk's products computed by
 * onnxruntime (float32 Gemm, A·Bᵀ) — method.md §2. Squared norms are summed by the decoder
 * (bf16wasm.ts) and only added up here, so no block needs a diagonal.
 *
 * Units are rows ordered by (layer, unit): row r = layer·U + unit. Sources are taken in strips
 * of whole layers (≈ 64 units, B); each strip is multiplied by every unit from the strip's second
 * layer down (A, tall). Every target layer above the strip is covered; the only extra products
 * are the strip's own upper-right triangle of layer blocks ([x], one 32×32 block per 2-layer
 * strip: 3.2 % on Llama-2-7B, against 9.7 % when the strip's first layer and its diagonal were
 * included):
 *
 *     targets ↓ / sources →  S0      S1      S2
 *                     l0    .  .
 *                     l1    #  x
 *                     l2    #  #    .  .
 *                     l3    #  #    #  x
 *                     l4    #  #    #  #    .  .
 *                     l5    #  #    #  #    #  x     one strip = one column of layer blocks
 *
 * A tall A and a narrow B keep onnxruntime's Gemm near its peak rate (B is packed once per call
 * and reused by every row of A); 64-unit strips measured faster than 32, 96 or 128 (docs/directshare.md).
 */
import { createSession, Tensor, type ProviderName } from "../runtime/ort";
import { adapterLabel } from "../runtime/types";
import { gpuLimitError, providerLimits, type GpuLimits } from "../runtime/gpuLimits";
import { gemmTransBModel } from "../runtime/gemmModel";
import { MatchError } from "./errors";

/** One Gemm: target rows [aRow, aRow+aRows) × source rows [bRow, bRow+bRows). */
export interface GramBlock {
  readonly aRow: number;
  readonly aRows: number;
  readonly bRow: number;
  readonly bRows: number;
}

/**
 * Blocks covering every (target layer l, source layer l' < l) pair exactly once: source strips
 * of ≈ `stripRows` units (whole layers), each against every unit from its second layer down.
 */
export function gramBlocks(layers: number, unitsPerLayer: number, stripRows = 64): GramBlock[] {
  const U = unitsPerLayer;
  const strip = Math.max(1, Math.round(stripRows / U)); // layers per strip
  const out: GramBlock[] = [];
  for (let s0 = 0; s0 + 1 < layers; s0 += strip) {
    const s1 = Math.min(layers, s0 + strip);
    out.push({ aRow: (s0 + 1) * U, aRows: (layers - s0 - 1) * U, bRow: s0 * U, bRows: (s1 - s0) * U });
  }
  return out;
}

/**
 * The float64 sums over the chunks: every block's products (one [aRows, bRows] array per block) and
 * every unit's squared norm. Chunks are added in order by whoever computed them (this thread or
 * match threads), so the sums are the same bit for bit.
 */
export class GramSums {
  readonly blocks: readonly GramBlock[];
  private readonly sums: Float64Array[];
  /** Squared norm of every unit vector. */
  readonly norms2: Float64Array; // [n] f64
  private added = 0; // chunks added
  constructor(
    layers: number,
    private readonly unitsPerLayer: number,
  ) {
    this.blocks = gramBlocks(layers, unitsPerLayer);
    this.sums = this.blocks.map((b) => new Float64Array(b.aRows * b.bRows)); // [aRows, bRows] f64 each
    this.norms2 = new Float64Array(layers * unitsPerLayer);
  }

  /** True until the first chunk is added. */
  isEmpty(): boolean {
    return this.added === 0;
  }

  /**
   * Adds one chunk's products (GramKernel.products) and its per-unit sums of squares, in chunk order
   * (the float64 sums depend on it).
   */
  add(products: readonly Float32Array[], norms: Float64Array /* [n] f64 */): void {
    if (products.length !== this.sums.length) throw new RangeError(`gram: ${products.length} products for ${this.sums.length} blocks`);
    if (norms.length !== this.norms2.length) throw new RangeError(`gram: ${norms.length} squared norms for ${this.norms2.length} units`);
    products.forEach((c, k) => {
      const sum = this.sums[k]!;
      if (c.length !== sum.length) throw new RangeError(`gram: block ${k} product holds ${c.length} values, expected ${sum.length}`);
      for (let j = 0; j < sum.length; j++) sum[j]! += c[j]!;
    });
    for (let i = 0; i < norms.length; i++) this.norms2[i]! += norms[i]!;
    this.added++;
  }

  /** out[j] = the dot product of unit i with unit j, for every j in a lower layer than i (j < layer(i)·U). */
  lowerDots(i: number, out: Float64Array /* [≥ layer(i)·U] f64 */): void {
    const lower = Math.floor(i / this.unitsPerLayer) * this.unitsPerLayer;
    this.blocks.forEach((b, k) => {
      if (i < b.aRow || i >= b.aRow + b.aRows || b.bRow >= lower) return;
      const end = Math.min(b.bRows, lower - b.bRow);
      out.set(this.sums[k]!.subarray((i - b.aRow) * b.bRows, (i - b.aRow) * b.bRows + end), b.bRow);
    });
  }
}

/** The ORT side: every block's float32 products of one chunk. */
export interface GramKernel {
  /** Execution provider actually used. */
  readonly provider: ProviderName;
  /** The GPU adapter it runs on, as text (absent on CPU). */
  readonly adapter?: string;
  readonly fallbackReason?: string;
  /** The buffer limits its tensors must keep to (WebGPU only; runtime/gpuLimits.ts). */
  readonly limits?: GpuLimits;
  /**
   * One [aRows, bRows] f32 product per block of gramBlocks(), for chunk rows = units in (layer, unit)
   * order. An aborted `signal` stops it between Gemms (MatchError "aborted").
   */
  products(chunk: Float32Array /* [n, width] f32 row-major */, width: number, signal?: AbortSignal): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export interface GramOptions {
  readonly providers?: readonly ProviderName[] | "auto";
  readonly intraOpThreads?: number;
}

/**
 * The first Gemm tensor of a chunk [n, width] that exceeds the GPU's limits, as the error to throw,
 * or null when all fit. Each block's A [aRows, width], B [bRows, width] and C [aRows, bRows] must
 * fit one storage binding (C is an output: onnxruntime does not split outputs over bindings).
 */
export function gramLimitError(layers: number, unitsPerLayer: number, width: number, limits: GpuLimits): Error | null {
  const B = limits.maxStorageBufferBindingSize;
  for (const b of gramBlocks(layers, unitsPerLayer)) {
    for (const [what, shape] of [
      ["the match Gemm's input A (target units × columns of their vectors)", [b.aRows, width]],
      ["the match Gemm's input B (source units × columns)", [b.bRows, width]],
      ["the match Gemm's output C (target × source units)", [b.aRows, b.bRows]],
    ] as const) {
      const bytes = 4 * shape[0] * shape[1];
      if (bytes > B) return gpuLimitError(what, shape, bytes, "maxStorageBufferBindingSize", limits, "run the match with --providers cpu");
    }
  }
  return null;
}

export async function createGramKernel(layers: number, unitsPerLayer: number, opts: GramOptions = {}): Promise<GramKernel> {
  const n = layers * unitsPerLayer;
  const blocks = gramBlocks(layers, unitsPerLayer);
  const sessionOpts = { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}) };
  // JS reads and decodes between Gemm calls: idle ORT threads must not spin on the cores meanwhile.
  const gemm = await createSession(gemmTransBModel(), { ...sessionOpts, allowSpinning: false, label: "match Gemm" });
  const limits = providerLimits(gemm.provider, gemm.adapter);
  return {
    provider: gemm.provider,
    ...(gemm.adapter ? { adapter: adapterLabel(gemm.adapter) } : {}),
    ...(gemm.fallbackReason ? { fallbackReason: gemm.fallbackReason } : {}),
    ...(limits ? { limits } : {}),
    async products(chunk: Float32Array, width: number, signal?: AbortSignal): Promise<Float32Array[]> {
      if (chunk.length < n * width) throw new RangeError(`gram chunk holds ${chunk.length} floats, expected ${n}×${width}`);
      const tooBig = limits && gramLimitError(layers, unitsPerLayer, width, limits);
      if (tooBig) throw tooBig;
      const out: Float32Array[] = [];
      for (const b of blocks) {
        if (signal?.aborted) throw new MatchError("aborted", "matching was cancelled");
        const A = new Tensor("float32", chunk.subarray(b.aRow * width, (b.aRow + b.aRows) * width), [b.aRows, width]);
        const B = new Tensor("float32", chunk.subarray(b.bRow * width, (b.bRow + b.bRows) * width), [b.bRows, width]);
        const r = await gemm.session.run({ A, B });
        out.push(r.C!.data as Float32Array); // [aRows, bRows] f32
      }
      return out;
    },
    async dispose(): Promise<void> {
      await gemm.session.release();
    },
  };
}
