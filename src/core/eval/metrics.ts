/** Per-token metrics between two models' next-token distributions and hidden states (pure, float64 sums). */

/** KL(P ‖ Q) = Σ p (log p − log q) from log-probabilities (row of length V). */
export function klFromLogprobs(lp: Float32Array, lq: Float32Array, offset: number, V: number): number {
  let s = 0;
  for (let i = offset, e = offset + V; i < e; i++) {
    const a = lp[i]!;
    if (a === -Infinity) continue;
    s += Math.exp(a) * (a - lq[i]!);
  }
  return s;
}

/** Index of the largest entry of row [offset, offset + V) (first on ties). */
export function argmaxRow(x: Float32Array, offset: number, V: number): number {
  let best = 0,
    bv = x[offset]!;
  for (let i = 1; i < V; i++) {
    const v = x[offset + i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** Cosine of rows a[oa..oa+n) and b[ob..ob+n); 1 when both are zero, 0 when only one is. */
export function cosineRows(a: Float32Array, oa: number, b: Float32Array, ob: number, n: number): number {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[oa + i]!,
      y = b[ob + i]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  if (aa === 0 && bb === 0) return 1;
  if (aa === 0 || bb === 0) return 0;
  return ab / Math.sqrt(aa * bb);
}
