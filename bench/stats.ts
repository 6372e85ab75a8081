/**
 * Timing statistics shared by the benchmarks: warm-up, then n samples; the median and the spread
 * (min, max, 10th and 90th percentiles) are what the benches print and record.
 */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly p10: number;
  readonly p90: number;
}

/** Linear-interpolated quantile of sorted values, q in [0, 1]. */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q,
    lo = Math.floor(pos),
    hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error("summarize: no samples");
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, median: quantile(s, 0.5), min: s[0]!, max: s[s.length - 1]!, p10: quantile(s, 0.1), p90: quantile(s, 0.9) };
}

/** Maps every statistic of a summary (e.g. seconds → tokens/s; min and max swap for decreasing f). */
export function mapSummary(s: Summary, f: (x: number) => number): Summary {
  const a = f(s.min),
    b = f(s.max),
    c = f(s.p10),
    d = f(s.p90);
  return { n: s.n, median: f(s.median), min: Math.min(a, b), max: Math.max(a, b), p10: Math.min(c, d), p90: Math.max(c, d) };
}

/** Wall and process-CPU seconds of one call. */
export interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

/** `warmup` untimed calls, then `n` timed calls: the wall and CPU seconds of each. */
export async function sample(n: number, warmup: number, f: () => Promise<void> | void): Promise<{ wall: Summary; cpu: Summary }> {
  for (let i = 0; i < warmup; i++) await f();
  const wall: number[] = [],
    cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now(),
      c0 = process.cpuUsage();
    await f();
    const c = process.cpuUsage(c0);
    wall.push((performance.now() - t) / 1000);
    cpu.push((c.user + c.system) / 1e6);
  }
  return { wall: summarize(wall), cpu: summarize(cpu) };
}

/** "1.23 (1.20–1.31, n = 5)": the median and the min–max range, with `digits` decimals. */
export function fmtSummary(s: Summary, digits = 2, unit = ""): string {
  const f = (x: number): string => x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return `${f(s.median)}${unit} (${f(s.min)}–${f(s.max)}, n = ${s.n})`;
}
