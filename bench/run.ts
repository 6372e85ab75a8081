/**
 * `npm run bench [-- --quick] [-- --only NAME]`: runs every benchmark in `BENCHES` in order.
 * Each benchmark prints its own table, with ratios against a baseline measured in the same run.
 * Benchmarks print results to stdout and progress to stderr. What a bench returns is written with
 * the machine, load average, commit and date to bench/results/NAME.json (NAME.quick.json with
 * --quick); `npm run bench:readme` (this file with --readme [--check]) renders README.md's and
 * docs' benchmark regions from those files (bench/readme.ts).
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
 * records it with the machine it ran on (bench/record.ts). By convention `ortThreads` (a number or
 * a phrase) says how many onnxruntime intra-op threads it used; the README line under its table shows it.
 */
export type BenchResult = Record<string, unknown>;
/**
 * Thrown by a bench that cannot run on this machine (the gpu bench without a WebGPU adapter): with
 * `--only NAME` the run fails with this message alone (exit 1, nothing recorded); in a run of
 * every bench it is skipped with the message.
 */
export class BenchUnavailable extends Error {
  override readonly name = "BenchUnavailable";
}
export interface Bench {
  readonly name: string;
  run(opts: BenchOptions): Promise<BenchResult | void>;
  /**
   * Markdown renderings of a recorded result for README/docs regions, by part name ("" is the
   * `<!-- bench:NAME -->` region, "x" is `<!-- bench:NAME:x -->`). Without it: a metric/value table.
   */
  readme?(result: BenchResult, record: BenchRecord): Record<string, string>;
}

import os from "node:os";
import { evalBench } from "./eval.bench";
import { gpuBench } from "./gpu.bench";
import { matchBench } from "./match.bench";
import { scaleBench, scaleChild } from "./scale.bench";
import { postshareBench } from "./postshare.bench";
import { safetensorsBench } from "./safetensors.bench";
import { trainBench } from "./train.bench";
import { generateBench } from "./generate.bench";
import { activationBench } from "./activation.bench";
import path from "node:path";
import { gitState, repoRoot } from "./machine";
import { generateReadme } from "./readme";
import { makeRecord, writeRecord, type BenchRecord } from "./record";

export const BENCHES: Bench[] = [
  // Each feature registers its benchmark here, e.g. `matchBench` from "./match.bench".
  matchBench,
  safetensorsBench,
  evalBench,
  trainBench,
  generateBench,
  postshareBench,
  scaleBench, // not in CI: writes a 13.5 GB checkpoint to the cache folder (--quick: 1.3 GB)
  gpuBench,
  activationBench, // needs the real-VS-Code runtime (scripts/setup-vscode-runtime.sh); records nothing without it
];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--scale-child") return scaleChild(argv[1]!); // one measurement of the scale bench, in its own process
  const quick = argv.includes("--quick");
  const onlyIdx = argv.indexOf("--only");
  const only = onlyIdx >= 0 ? argv[onlyIdx + 1] : undefined;
  const root = repoRoot();
  if (argv.includes("--readme")) {
    const check = argv.includes("--check");
    const changed = generateReadme(root, BENCHES, check);
    if (check && changed.length)
      throw new Error(`benchmark regions out of date with bench/results/*.json: ${changed.join(", ")}; run \`npm run bench:readme\``);
    console.log(changed.length ? `${check ? "differ" : "rewrote"}: ${changed.join(", ")}` : "benchmark regions up to date");
    return;
  }
  if (only && !BENCHES.some((b) => b.name === only)) throw new Error(`--only ${only}: no such bench (benches: ${BENCHES.map((b) => b.name).join(", ")})`);
  const cacheDir = process.env.HEADSHARE_BENCH_CACHE ?? path.join(os.homedir(), ".cache", "headshare-bench");
  for (const b of BENCHES) {
    if (only && b.name !== only) continue;
    if (!only && b.name === scaleBench.name) {
      console.log(`\n## ${b.name}: skipped (writes multi-GB checkpoints; run it with --only scale)`);
      continue;
    }
    if (!only && b.name === activationBench.name) {
      console.log(`\n## ${b.name}: skipped (starts a real VS Code three times; run it with --only ${b.name})`);
      continue;
    }
    console.log(`\n## ${b.name}${quick ? " (quick)" : ""}`);
    const loadBefore = os.loadavg(),
      git = gitState(root),
      t0 = performance.now();
    let result: BenchResult | void;
    try {
      result = await b.run({ quick, cacheDir });
    } catch (e) {
      if (only || !(e instanceof BenchUnavailable)) throw e;
      console.log(`skipped: ${e.message}`);
      continue;
    }
    if (result) {
      const file = writeRecord(root, makeRecord(root, b.name, quick ? "quick" : "full", loadBefore, (performance.now() - t0) / 1000, result, git));
      console.log(`\nrecorded: ${path.relative(root, file)}`);
    }
  }
}

// Only as the bench entry point (out/bench/run.js); the test bundle imports BENCHES from here.
if (/[\\/]bench[\\/]run\.js$/.test(process.argv[1] ?? "")) {
  main().catch((e: unknown) => {
    console.error(e instanceof BenchUnavailable ? `bench: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  });
}
