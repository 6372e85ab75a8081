/**
 * Merging the head graph's per-chunk statistics (`src/core/graph/headStats.ts`) into running
 * per-row values, in float64: the online log-sum-exp, the target's logit, the argmax, and the
 * KL(P_0 ‖ P_i) accumulator A = Σ_v exp(z_0 − m_0)(z_0 − z_i) on the reference's running max m_0,
 * so that KL = A / s_0 − lse_0 + lse_i.
 */

/** One chunk's statistics as the graph returns them: [rows, 1] each, a stream's rows from `at`. */
export interface ChunkStats {
  readonly max: Float32Array;
  readonly sumExp: Float32Array;
  readonly argmax: BigInt64Array;
  readonly target: Float32Array;
}

/** Running softmax statistics of one stream's predicted rows over the vocabulary chunks. */
export class RowStats {
  readonly m: Float64Array;
  readonly s: Float64Array;
  readonly zt: Float64Array;
  readonly best: Float64Array;
  readonly arg: Int32Array;
  /** exp(m_old − m_new) of the last chunk (rescales the KL accumulators). */
  readonly scale: Float64Array;
  constructor(rows: number) {
    this.m = new Float64Array(rows).fill(-Infinity);
    this.s = new Float64Array(rows);
    this.zt = new Float64Array(rows);
    this.best = new Float64Array(rows).fill(-Infinity);
    this.arg = new Int32Array(rows);
    this.scale = new Float64Array(rows);
  }

  /** Merges the chunk of vocabulary [v0, v0 + vc) from rows `at`.. of `c` (targets: vocabulary ids per row). */
  merge(c: ChunkStats, at: number, v0: number, vc: number, targets: Int32Array): void {
    for (let r = 0; r < this.m.length; r++) {
      const cm = c.max[at + r]!;
      // the first chunk with the largest logit wins, and ArgMax gives the first index in a chunk
      if (cm > this.best[r]!) {
        this.best[r] = cm;
        this.arg[r] = v0 + Number(c.argmax[at + r]!);
      }
      const t = targets[r]! - v0;
      if (t >= 0 && t < vc) this.zt[r] = c.target[at + r]!;
      const nm = Math.max(this.m[r]!, cm);
      const scale = this.m[r] === -Infinity ? 0 : Math.exp(this.m[r]! - nm);
      this.s[r] = this.s[r]! * scale + c.sumExp[at + r]! * Math.exp(cm - nm);
      this.m[r] = nm;
      this.scale[r] = scale;
    }
  }

  lse(r: number): number {
    return this.m[r]! + Math.log(this.s[r]!);
  }
}

/**
 * Adds one chunk's KL terms (Σ over the chunk of exp(z_0 − max_0,c)(z_0 − z_i), rows `at`.. of
 * `kl`) to `acc` on the reference's running max. Call after `ref.merge` of the same chunk;
 * `refMax` is the reference's chunk max [rows].
 */
export function mergeKl(acc: Float64Array, ref: RowStats, refMax: Float32Array, kl: Float32Array, at: number): void {
  for (let r = 0; r < acc.length; r++) acc[r] = acc[r]! * ref.scale[r]! + kl[at + r]! * Math.exp(refMax[r]! - ref.m[r]!);
}
