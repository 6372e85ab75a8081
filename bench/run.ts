/**
 * `npm run bench [-- --quick] [-- --only NAME]`: runs every benchmark in `BENCHES` in order.
 * Each benchmark prints its own table, with ratios against a baseline measured in the same run.
 * Benchmarks print results to stdout and progress to stderr.
 */
export interface BenchOptions {
  /** Small shapes that finish in about a minute. */
  readonly quick: boolean;
  /** Cache folder for generated inputs (outside the repo by default). */
  readonly cacheDir: string;
}
/**
 * What a benchmark measured, JSON-able: named results with units in their names or fields, e.g.
 * `{ forwardSeconds: { median, min, max, n }, peakRssGiB: 2.7, ratioToMatMul: 0.81 }`. `npm run bench`
 * records it with the machine it ran on (issue 16 defines the file and the README generator).
 */
export type BenchResult = Record<string, unknown>;
export interface Bench {
  readonly name: string;
  run(opts: BenchOptions): Promise<BenchResult | void>;
}

import os from "node:os";
import { evalBench } from "./eval.bench";
import { matchBench } from "./match.bench";
import { scaleBench, scaleChild } from "./scale.bench";
import { safetensorsBench } from "./safetensors.bench";
import { trainBench } from "./train.bench";
import path from "node:path";

const BENCHES: Bench[] = [
  // Each feature registers its benchmark here, e.g. `matchBench` from "./match.bench".
  matchBench,
  safetensorsBench,
  evalBench,
  trainBench,
  scaleBench, // not in CI: writes a 13.5 GB checkpoint to the cache folder (--quick: 1.3 GB)
];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--scale-child") return scaleChild(argv[1]!); // one measurement of the scale bench, in its own process
  const quick = argv.includes("--quick");
  const onlyIdx = argv.indexOf("--only");
  const only = onlyIdx >= 0 ? argv[onlyIdx + 1] : undefined;
  const cacheDir = process.env.HEADSHARE_BENCH_CACHE ?? path.join(os.homedir(), ".cache", "headshare-bench");
  for (const b of BENCHES) {
    if (only && b.name !== only) continue;
    if (!only && b.name === scaleBench.name) { console.log(`\n## ${b.name}: skipped (writes multi-GB checkpoints; run it with --only scale)`); continue; }
    console.log(`\n## ${b.name}${quick ? " (quick)" : ""}`);
    await b.run({ quick, cacheDir });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
