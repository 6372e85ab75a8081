/**
 * The long fuzz mode: `npm run test:fuzz -- [--cases N] [--seconds S] [--seed S] [--only NAME]`
 * (bundled by scripts/fuzz.mjs). Default: 1,000,000 cases. Exit 1 on any crash.
 */
import { formatReports } from "./harness";
import { runFuzz } from "./run";

function usage(msg: string): never {
  console.error(`headshare fuzz: ${msg}\nusage: npm run test:fuzz -- [--cases N] [--seconds S] [--seed S] [--only NAME]`);
  process.exit(2);
}

function num(argv: string[], flag: string): number | undefined {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0 || (flag !== "--seconds" && !Number.isInteger(v)))
    usage(`${flag} needs a positive ${flag === "--seconds" ? "number" : "integer"}, got ${JSON.stringify(argv[i + 1])}`);
  return v;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const known = new Set(["--cases", "--seconds", "--seed", "--only"]);
  for (let i = 0; i < argv.length; i += 2) if (!known.has(argv[i]!)) usage(`unknown argument ${JSON.stringify(argv[i])}`);
  const seconds = num(argv, "--seconds");
  const cases = num(argv, "--cases") ?? (seconds !== undefined ? Number.MAX_SAFE_INTEGER : 1_000_000);
  const seed = num(argv, "--seed") ?? Date.now() % 2 ** 31;
  const oi = argv.indexOf("--only");
  const only = oi >= 0 ? argv[oi + 1] : undefined;
  console.error(`fuzz: seed ${seed}, ${seconds !== undefined ? `${seconds} s` : `${cases} cases`}${only ? `, only ${only}` : ""}`);
  const reports = await runFuzz({ seed, cases, ...(seconds !== undefined ? { seconds } : {}), ...(only ? { only } : {}), log: (l) => console.error(l) });
  console.log(formatReports(reports, seed));
  process.exit(reports.some((r) => r.crashes.length) ? 1 : 0);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
