/**
 * Every crash the fuzzer found, kept as a plain regression test (the input, and the typed outcome
 * it must have now). Each names the fuzz target and the fix.
 */
import assert from "node:assert/strict";
import test from "node:test";
import { parseMatchTable } from "../src/core/share/matchTable";
import { planSharing } from "../src/core/share/plan";

const FILE = "/fuzz/tables/match-qk.json";

test("fuzz regression (share.parseMatchTable): a paper table claiming 10^6 × 10^6 heads is a typed error, not 'Invalid array length'", () => {
  for (const [layers, heads] of [[1_000_000, 1_000_000], [65536, 65536], [4_000_002, 1]]) {
    assert.throws(() => parseMatchTable({ layers, heads, strategy: "qk", targets: [[1, 0, 0, 0, 0.5]] }, FILE),
      (e: unknown) => e instanceof Error && e.name === "MatchTableError" && (e as { code?: string }).code === "bad-field" && e.message.includes(FILE), `${layers}×${heads}`);
  }
});

const tinyTable = parseMatchTable({ format: "headshare.match", version: 1, strategy: "qk", granularity: "group", layers: 2, unitsPerLayer: 1, entries: [{ layer: 1, unit: 0, sourceLayer: 0, sourceUnit: 0, score: 0.5 }] }, FILE);

test("fuzz regression (share.planSharing): a ratio that is an object without a prototype is a typed bad-ratio error", () => {
  for (const ratio of [Object.create(null), Symbol("r"), { toString: () => { throw new Error("no"); } }, 10n]) {
    assert.throws(() => planSharing(tinyTable, ratio as number), (e: unknown) => e instanceof Error && e.name === "PlanError" && (e as { code?: string }).code === "bad-ratio");
  }
});

test("fuzz regression (share.planSharing): ratio −0 selects +0 units (no '-0' in formatted plans)", () => {
  const p = planSharing(tinyTable, -0);
  assert.ok(Object.is(p.selected, 0), `selected is ${Object.is(p.selected, -0) ? "-0" : p.selected}`);
  assert.equal(p.targets.length, 0);
});
