/**
 * The bounded fuzz run of `npm test`: at least 100,000 cases over every reader, in well under two
 * minutes; prints the case count, the crashes (must be 0) and the distinct error kinds seen.
 * `npm run test:fuzz` is the long mode. HEADSHARE_FUZZ_SEED replays another seed.
 */
import assert from "node:assert/strict";
import test from "node:test";
import { formatReports } from "./fuzz/harness";
import { runFuzz } from "./fuzz/run";
import { sharedSeedNote } from "./fuzz/targets/sharedSeeds";

const SEED = Number(process.env.HEADSHARE_FUZZ_SEED ?? 20240217);
const CASES = Number(process.env.HEADSHARE_FUZZ_CASES ?? 100_000);

test("fuzz: every reader ends in success or a typed error (bounded run)", { timeout: 170_000 }, async () => {
  const reports = await runFuzz({ seed: SEED, cases: CASES });
  const summary = formatReports(reports, SEED);
  console.log(`${summary}\n  ${sharedSeedNote}`);
  const crashes = reports.flatMap((r) => r.crashes);
  assert.equal(crashes.length, 0, `fuzz crashes:\n${crashes.map((c) => `${c.target}: ${c.report}`).join("\n")}`);
  const total = reports.reduce((s, r) => s + r.cases, 0);
  assert.ok(total >= CASES, `ran ${total} cases, fewer than ${CASES}`);
  // Each target must reach both outcomes: a fuzzer that never succeeds (or never fails) tests nothing.
  for (const r of reports) {
    assert.ok(r.ok > 0, `${r.name}: no input succeeded; the generator produces nothing valid`);
    assert.ok(r.typed > 0 || r.okKinds.size >= 2, `${r.name}: no input was rejected; the mutations do not reach the validation`);
  }
});
