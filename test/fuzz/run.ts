/**
 * Runs every fuzz target: the bounded CI run (`test/fuzz.test.ts`) and the long mode
 * (`npm run test:fuzz -- --cases N | --seconds S [--seed S] [--only NAME]`) share this.
 */
import { ALL_TARGETS } from "./targets";
import { runTarget, Watchdog, type TargetReport } from "./harness";

export interface FuzzRunOptions {
  readonly seed: number;
  /** Total cases over all targets, split by weight. */
  readonly cases: number;
  /** Total seconds over all targets (split by weight); then `cases` is only an upper bound. */
  readonly seconds?: number;
  /** Run only targets whose name contains this. */
  readonly only?: string;
  /** Print a line per finished target. */
  readonly log?: (line: string) => void;
}

export async function runFuzz(opts: FuzzRunOptions): Promise<TargetReport[]> {
  const targets = ALL_TARGETS.filter((t) => !opts.only || t.name.includes(opts.only));
  if (!targets.length) throw new Error(`no fuzz target matches "${opts.only}"; targets: ${ALL_TARGETS.map((t) => t.name).join(", ")}`);
  const wsum = targets.reduce((s, t) => s + t.weight, 0);
  const dog = new Watchdog(Math.max(10_000, ...targets.map((t) => 5 * (t.timeLimitMs ?? 2000))));
  const reports: TargetReport[] = [];
  try {
    for (const [i, t] of targets.entries()) {
      const share = t.weight / wsum;
      const r = await runTarget(
        t,
        {
          seed: (opts.seed + i * 7919) | 0,
          cases: Math.max(1, Math.ceil(opts.cases * share)),
          ...(opts.seconds !== undefined ? { seconds: opts.seconds * share } : {}),
        },
        dog,
      );
      reports.push(r);
      opts.log?.(`  ${t.name}: ${r.cases} cases, ${r.crashes.length} crashes, ${r.seconds.toFixed(1)} s`);
    }
  } finally {
    await dog.stop();
  }
  return reports;
}
