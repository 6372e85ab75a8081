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
export interface Bench {
  readonly name: string;
  run(opts: BenchOptions): Promise<void>;
}

import os from "node:os";
import { evalBench } from "./eval.bench";
import { matchBench } from "./match.bench";
import { safetensorsBench } from "./safetensors.bench";
import { trainBench } from "./train.bench";
import path from "node:path";

const BENCHES: Bench[] = [
  // Each feature registers its benchmark here, e.g. `matchBench` from "./match.bench".
  matchBench,
  safetensorsBench,
  evalBench,
  trainBench,
];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes("--quick");
  const onlyIdx = argv.indexOf("--only");
  const only = onlyIdx >= 0 ? argv[onlyIdx + 1] : undefined;
  const cacheDir = process.env.HEADSHARE_BENCH_CACHE ?? path.join(os.homedir(), ".cache", "headshare-bench");
  for (const b of BENCHES) {
    if (only && b.name !== only) continue;
    console.log(`\n## ${b.name}${quick ? " (quick)" : ""}`);
    await b.run({ quick, cacheDir });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
