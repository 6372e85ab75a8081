/**
 * The match kernel: the Gram matrix of n unit vectors restricted to strictly-lower-layer pairs,
 * accumulated in float64 over column chunks of the vectors, each chunk's products computed by
 * onnxruntime (float32 Gemm, A·Bᵀ) — method.md §2.
 *
 * Units are rows ordered by (layer, unit): row r = layer·U + unit. The lower-layer region of the
 * L×L block triangle is covered exactly by rectangles (recursive halving), so no product is
 * wasted except inside the small triangles at the bottom of the recursion:
 *
 *     targets ↓ / sources →   layers 0 .. L-1
 *     ┌───┐
 *     │ t │                 t = small triangle: one Gemm of layers [a+1,b) × [a,b-1)
 *     ├───┼───┐
 *     │ R     │ t │          R = rectangle layers [mid,b) × [a,mid): one Gemm, all needed
 *     └───────┴───┘
 */
import { createSession, Tensor, type InferenceSession, type ProviderName } from "../runtime/ort";
import { gemmTransBModel, sumSquaresModel } from "../runtime/gemmModel";

/** One Gemm: target rows [aRow, aRow+aRows) × source rows [bRow, bRow+bRows). */
export interface GramBlock {
  readonly aRow: number; readonly aRows: number;
  readonly bRow: number; readonly bRows: number;
}

/**
 * Blocks covering every (target layer l, source layer l' < l) pair exactly once. A triangle of at
 * most `leafRows` rows is one Gemm (wasting its upper half); larger ones split at the middle layer.
 */
export function gramBlocks(layers: number, unitsPerLayer: number, leafRows = 128): GramBlock[] {
  const U = unitsPerLayer;
  const out: GramBlock[] = [];
  const tri = (a: number, b: number): void => { // layers [a, b)
    if (b - a < 2) return;
    if ((b - a) * U <= leafRows || b - a === 2) {
      out.push({ aRow: (a + 1) * U, aRows: (b - a - 1) * U, bRow: a * U, bRows: (b - a - 1) * U });
      return;
    }
    const mid = a + Math.floor((b - a) / 2);
    out.push({ aRow: mid * U, aRows: (b - mid) * U, bRow: a * U, bRows: (mid - a) * U });
    tri(a, mid);
    tri(mid, b);
  };
  tri(0, layers);
  return out;
}

export interface GramAccumulator {
  /** Execution provider actually used. */
  readonly provider: ProviderName;
  readonly fallbackReason?: string;
  /** Multiply-adds done per unit of chunk width (for benchmarks: × total width = MACs). */
  readonly macsPerColumn: number;
  /** Adds one chunk: rows = units in (layer, unit) order, `width` columns each. */
  add(chunk: Float32Array /* [n, width] f32 row-major */, width: number): Promise<void>;
  /** dots[i·n + j] for lower-layer pairs (i in a higher layer than j); other cells are unspecified. */
  readonly dots: Float64Array; // [n, n] f64 row-major
  /** Squared norms of every unit vector. */
  readonly norms2: Float64Array; // [n] f64
  dispose(): Promise<void>;
}

export async function createGramAccumulator(
  layers: number,
  unitsPerLayer: number,
  opts: { providers?: readonly ProviderName[] | "auto"; intraOpThreads?: number } = {},
): Promise<GramAccumulator> {
  const n = layers * unitsPerLayer;
  const blocks = gramBlocks(layers, unitsPerLayer);
  const sessionOpts = { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}) };
  const gemm = await createSession(gemmTransBModel(), sessionOpts);
  // The norms session runs on the provider the Gemm got (no second fallback chain).
  const norms = await createSession(sumSquaresModel(), { ...sessionOpts, providers: [gemm.provider] });
  const dots = new Float64Array(n * n);
  const norms2 = new Float64Array(n);
  const macsPerColumn = blocks.reduce((s, b) => s + b.aRows * b.bRows, 0) + n;
  const run = async (s: InferenceSession, feeds: Record<string, InstanceType<typeof Tensor>>, out: string): Promise<Float32Array> => {
    const r = await s.run(feeds);
    const t = r[out]!;
    const data = t.data as Float32Array;
    return data;
  };
  return {
    provider: gemm.provider,
    ...(gemm.fallbackReason ? { fallbackReason: gemm.fallbackReason } : {}),
    macsPerColumn,
    dots,
    norms2,
    async add(chunk: Float32Array, width: number): Promise<void> {
      if (chunk.length < n * width) throw new RangeError(`gram chunk holds ${chunk.length} floats, expected ${n}×${width}`);
      const s = await run(norms.session, { X: new Tensor("float32", chunk.subarray(0, n * width), [n, width]) }, "S");
      for (let i = 0; i < n; i++) norms2[i]! += s[i]!;
      for (const b of blocks) {
        const A = new Tensor("float32", chunk.subarray(b.aRow * width, (b.aRow + b.aRows) * width), [b.aRows, width]);
        const B = new Tensor("float32", chunk.subarray(b.bRow * width, (b.bRow + b.bRows) * width), [b.bRows, width]);
        const c = await run(gemm.session, { A, B }, "C"); // [aRows, bRows]
        for (let i = 0; i < b.aRows; i++) {
          const row = (b.aRow + i) * n + b.bRow;
          const src = i * b.bRows;
          for (let j = 0; j < b.bRows; j++) dots[row + j]! += c[src + j]!;
        }
      }
    },
    async dispose(): Promise<void> {
      await gemm.session.release();
      await norms.session.release();
    },
  };
}
