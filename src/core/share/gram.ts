/**
 * The match kernel: the Gram matrix of n unit vectors restricted to strictly-lower-layer pairs,
 * accumulated in float64 over column chunks of the vectors, each chunk's products computed by
 * onnxruntime (float32 Gemm, A·Bᵀ) — method.md §2.
 *
 * Units are rows ordered by (layer, unit): row r = layer·U + unit. The lower-layer pairs are
 * covered by column strips: for each group S of source layers (`wideRows` units), one exact Gemm
 * of every unit above S (A, tall) against S (B); S's own square by narrower strips (≈ 64 units)
 * that include their diagonal blocks. The kernel uses one group of all n units, i.e. only narrow
 * strips (A = every unit from the strip down, B = the strip's ≈ 64 units): 16 Gemms per chunk on
 * 32×32 units instead of 19 with 256-unit groups, and the match ran 4 % faster that way
 * (interleaved A/B on 2 cores; docs/directshare.md):
 *
 *     targets ↓ / sources →  S0  S1  S2  S3
 *                     S0    [d]
 *                     S1    [ ] [d]
 *                     S2    [ ] [ ] [d]
 *                     S3    [ ] [ ] [ ] [d]         one strip = one column of blocks
 *
 * A tall A and a narrow B keep onnxruntime's Gemm near its peak rate (B is packed once per call
 * and reused by every row of A); the only extra work is the diagonal block [d] of each strip,
 * whose diagonal gives the squared norms for free.
 */
import { createSession, Tensor, type InferenceSession, type ProviderName } from "../runtime/ort";
import { gemmTransBModel } from "../runtime/gemmModel";

/** One Gemm: target rows [aRow, aRow+aRows) × source rows [bRow, bRow+bRows). */
export interface GramBlock {
  readonly aRow: number; readonly aRows: number;
  readonly bRow: number; readonly bRows: number;
}

/**
 * Blocks covering every (target layer l, source layer l' < l) pair exactly once, and every
 * unit's diagonal cell (i, i) exactly once. Source layers are taken in wide groups (≈ `wideRows`
 * units): all layers above a group form one exact tall block against it; the group's own square
 * is covered by narrow strips (≈ `narrowRows` units) that include their diagonal blocks.
 */
export function gramBlocks(layers: number, unitsPerLayer: number, wideRows = 256, narrowRows = 64): GramBlock[] {
  const U = unitsPerLayer;
  const wide = Math.max(1, Math.round(wideRows / U));
  const narrow = Math.max(1, Math.min(wide, Math.round(narrowRows / U)));
  const out: GramBlock[] = [];
  for (let s0 = 0; s0 < layers; s0 += wide) {
    const s1 = Math.min(layers, s0 + wide);
    if (s1 < layers) out.push({ aRow: s1 * U, aRows: (layers - s1) * U, bRow: s0 * U, bRows: (s1 - s0) * U });
    for (let t0 = s0; t0 < s1; t0 += narrow) {
      const t1 = Math.min(s1, t0 + narrow);
      out.push({ aRow: t0 * U, aRows: (s1 - t0) * U, bRow: t0 * U, bRows: (t1 - t0) * U });
    }
  }
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
  const blocks = gramBlocks(layers, unitsPerLayer, n); // one group: narrow strips only, every A tall
  const sessionOpts = { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}) };
  // JS reads and decodes between Gemm calls: idle ORT threads must not spin on the cores meanwhile.
  const gemm = await createSession(gemmTransBModel(), { ...sessionOpts, allowSpinning: false });
  const dots = new Float64Array(n * n); // [n, n] f64 row-major: lower-layer pair sums
  const norms2 = new Float64Array(n); // [n] f64 squared norms
  const macsPerColumn = blocks.reduce((s, b) => s + b.aRows * b.bRows, 0);
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
      for (const b of blocks) {
        const A = new Tensor("float32", chunk.subarray(b.aRow * width, (b.aRow + b.aRows) * width), [b.aRows, width]);
        const B = new Tensor("float32", chunk.subarray(b.bRow * width, (b.bRow + b.bRows) * width), [b.bRows, width]);
        const c = await run(gemm.session, { A, B }, "C"); // [aRows, bRows]
        for (let i = 0; i < b.aRows; i++) {
          const row = (b.aRow + i) * n + b.bRow;
          const src = i * b.bRows;
          for (let j = 0; j < b.bRows; j++) dots[row + j]! += c[src + j]!;
        }
        if (b.aRow === b.bRow) for (let j = 0; j < b.bRows; j++) norms2[b.bRow + j]! += c[j * b.bRows + j]!; // its diagonal block comes first
      }
    },
    async dispose(): Promise<void> {
      await gemm.session.release();
    },
  };
}
