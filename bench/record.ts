/**
 * A benchmark's result as committed under bench/results/: `<name>.json` from a full run,
 * `<name>.quick.json` from `--quick`. Each file holds one run: what the bench measured (its
 * BenchResult), the machine, the load average before and after, the commit and the date.
 * `npm run bench:readme` renders README.md's and docs' benchmark tables from these files only.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BenchResult } from "./run";
import { describeMachine, gitState, type Machine } from "./machine";

export interface BenchRecord {
  readonly bench: string;
  readonly mode: "full" | "quick";
  /** ISO 8601, when the bench finished. */
  readonly date: string;
  /** The checkout when the bench started (the code that ran; later commits during a long run do not count). */
  readonly git: { readonly commit: string; readonly dirty: boolean };
  readonly machine: Machine;
  /** 1-, 5- and 15-minute load averages just before and just after the bench. */
  readonly load: { readonly before: readonly number[]; readonly after: readonly number[] };
  /** Wall seconds the whole bench took (generation of cached inputs included). */
  readonly wallSeconds: number;
  readonly result: BenchResult;
}

export const RESULTS_DIR = "bench/results";

export function recordPath(root: string, bench: string, mode: "full" | "quick"): string {
  return path.join(root, RESULTS_DIR, mode === "full" ? `${bench}.json` : `${bench}.quick.json`);
}

export function makeRecord(
  root: string,
  bench: string,
  mode: "full" | "quick",
  loadBefore: readonly number[],
  wallSeconds: number,
  result: BenchResult,
  git: { readonly commit: string; readonly dirty: boolean } = gitState(root),
): BenchRecord {
  return {
    bench,
    mode,
    date: new Date().toISOString(),
    git,
    machine: describeMachine(),
    load: { before: loadBefore.map(round2), after: os.loadavg().map(round2) },
    wallSeconds: round2(wallSeconds),
    result,
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Writes the record under a temporary name in bench/results/, then renames it over the old one. */
export function writeRecord(root: string, r: BenchRecord): string {
  const file = recordPath(root, r.bench, r.mode);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.headshare-tmp-${process.pid}-${path.basename(file)}`);
  fs.writeFileSync(tmp, JSON.stringify(r, null, 2) + "\n");
  fs.renameSync(tmp, file);
  return file;
}

/** The latest record of a bench: the full run's when there is one, else the quick run's. */
export function readRecord(root: string, bench: string): { record: BenchRecord; file: string } | undefined {
  for (const mode of ["full", "quick"] as const) {
    const file = recordPath(root, bench, mode);
    if (!fs.existsSync(file)) continue;
    let record: BenchRecord;
    try {
      record = JSON.parse(fs.readFileSync(file, "utf8")) as BenchRecord;
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message}); rerun \`npm run bench -- --only ${bench}\` to rewrite it`, { cause: e });
    }
    if (record.bench !== bench || !record.machine || !record.result)
      throw new Error(`${file}: not a bench record of "${bench}" (missing bench, machine or result); rerun \`npm run bench -- --only ${bench}\``);
    return { record, file };
  }
  return undefined;
}
