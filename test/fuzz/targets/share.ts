/**
 * Fuzz targets of DirectShare's readers: `parseMatchTable` (ours and the paper's format, as
 * parsed JSON and as text) and `planSharing` on valid tables with arbitrary ratios, with the
 * invariants every accepted table and every plan must satisfy.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseMatchTable } from "../../../src/core/share/matchTable";
import { planSharing } from "../../../src/core/share/plan";
import type { MatchTable, SharingPlan } from "../../../src/core/share/types";
import type { FuzzTarget } from "../harness";
import { mutatedArb, weirdJsonArb, type JsonOp } from "../jsonMutate";

const TABLE_FILE = "/fuzz/tables/match-qk.json";

const cosArb = fc.double({ min: -1, max: 1, noNaN: true });

/** A valid table in our format (entries sorted by (layer, unit)), as plain JSON. */
export const oursTableArb = fc
  .record({
    L: fc.integer({ min: 1, max: 5 }),
    U: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer(),
    lower: fc.boolean(),
    extras: fc.boolean(),
    strategy: fc.constantFrom("q", "k", "v", "qk", "qkv"),
    granularity: fc.constantFrom("group", "query-head"),
  })
  .chain(({ L, U, lower, extras, strategy, granularity }) => {
    const n = (L - 1) * U;
    return fc
      .record({
        sources: fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: n, maxLength: n }),
        scores: fc.array(fc.oneof(cosArb, fc.constantFrom(0.5, 0.25)), { minLength: n, maxLength: n }),
        lowerSeed: fc.array(cosArb, { minLength: 1, maxLength: 8 }),
      })
      .map(({ sources, scores, lowerSeed }) => {
        const entries = [];
        for (let l = 1; l < L; l++)
          for (let u = 0; u < U; u++) {
            const i = (l - 1) * U + u;
            const [a, b] = sources[i]!;
            entries.push({ layer: l, unit: u, sourceLayer: a % l, sourceUnit: b % U, score: scores[i]! });
          }
        const table: Record<string, unknown> = {
          format: "headshare.match",
          version: 1,
          strategy,
          granularity,
          layers: L,
          unitsPerLayer: U,
          parametersPerUnit: extras ? 4096 : null,
          bytesPerUnit: extras ? 16384 : null,
          parameters: extras ? 1_000_000 : null,
          entries,
        };
        if (lower) table.lowerCosines = entries.map((e, i) => Array.from({ length: e.layer * U }, (_, j) => lowerSeed[(i + j) % lowerSeed.length]!));
        if (extras) table.source = { model: "/m/model.safetensors", size: 123, mtimeMs: 1.5, provider: "cpu", seconds: 0.1, bytesRead: 99 };
        return table;
      });
  });

/** A valid table in the paper's released format. */
const paperTableArb = fc.record({ L: fc.integer({ min: 1, max: 5 }), H: fc.integer({ min: 1, max: 4 }) }).chain(({ L, H }) => {
  const n = (L - 1) * H;
  return fc.tuple(fc.array(fc.tuple(fc.nat(), fc.nat(), cosArb), { minLength: n, maxLength: n }), fc.boolean()).map(([rows, shuffle]) => {
    const targets: unknown[] = [];
    for (let l = 1; l < L; l++)
      for (let h = 0; h < H; h++) {
        const [a, b, c] = rows[(l - 1) * H + h]!;
        targets.push([l, h, a % l, b % H, c]);
      }
    if (shuffle) targets.reverse();
    return { description: "fuzz", model: "llama-fuzz", layers: L, heads: H, strategy: "qk", targets };
  });
});

interface TableCase {
  readonly value: unknown;
  readonly ops: readonly JsonOp[];
  readonly asText: "no" | "yes" | "truncated";
  readonly cut: number;
}

const tableCaseArb: fc.Arbitrary<TableCase> = fc
  .record({
    m: fc.oneof(
      { weight: 3, arbitrary: mutatedArb(oursTableArb, 3) },
      { weight: 2, arbitrary: mutatedArb(paperTableArb, 3) },
      { weight: 1, arbitrary: fc.record({ value: weirdJsonArb, ops: fc.constant([] as JsonOp[]) }) },
      // Plausible headers claiming enormous sizes (the paper format has no entry-count check of its own).
      {
        weight: 1,
        arbitrary: fc.record({
          value: fc.record({
            layers: fc.constantFrom(2, 65536, 1_000_000),
            heads: fc.constantFrom(1, 65536, 1_000_000),
            strategy: fc.constant("qk"),
            targets: fc.constant([[1, 0, 0, 0, 0.5]]),
          }),
          ops: fc.constant([] as JsonOp[]),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          value: fc.record({
            format: fc.constant("headshare.match"),
            version: fc.constant(1),
            strategy: fc.constant("qk"),
            granularity: fc.constant("group"),
            layers: fc.constantFrom(2, 4_000_001, 1_000_000),
            unitsPerLayer: fc.constantFrom(1, 4, 1_000_000),
            entries: fc.constant([]),
          }),
          ops: fc.constant([] as JsonOp[]),
        }),
      },
    ),
    asText: fc.constantFrom("no", "no", "yes", "truncated"),
    cut: fc.nat(),
  })
  .map(({ m, asText, cut }) => ({ value: m.value, ops: m.ops, asText, cut }));

function tableInput(c: TableCase): unknown {
  if (c.asText === "no") return c.value;
  const s = JSON.stringify(c.value) ?? "undefined";
  return c.asText === "yes" ? s : s.slice(0, c.cut % (s.length + 1));
}

/** What every accepted table satisfies. */
export function assertTableInvariants(t: MatchTable): void {
  const { layers: L, unitsPerLayer: U } = t;
  assert.ok(Number.isInteger(L) && L >= 1 && Number.isInteger(U) && U >= 1, "layers/unitsPerLayer");
  assert.equal(t.entries.length, (L - 1) * U, "entry count");
  t.entries.forEach((e, i) => {
    // === (not Object.is): an index given as -0 is the index 0.
    assert.ok(e.layer === 1 + Math.floor(i / U), `entries[${i}].layer (sorted)`);
    assert.ok(e.unit === i % U, `entries[${i}].unit (sorted)`);
    assert.ok(Number.isInteger(e.sourceLayer) && e.sourceLayer >= 0 && e.sourceLayer < e.layer, `entries[${i}].sourceLayer`);
    assert.ok(Number.isInteger(e.sourceUnit) && e.sourceUnit >= 0 && e.sourceUnit < U, `entries[${i}].sourceUnit`);
    assert.ok(Number.isFinite(e.score) && Math.abs(e.score) <= 1 + 1e-5, `entries[${i}].score`);
  });
  if (t.lowerCosines) t.lowerCosines.forEach((row, i) => assert.equal(row.length, t.entries[i]!.layer * U, `lowerCosines[${i}]`));
}

const tableTarget: FuzzTarget<TableCase> = {
  name: "share.parseMatchTable",
  weight: 20,
  arb: tableCaseArb,
  run: (c) => parseMatchTable(tableInput(c), TABLE_FILE),
  check(c, r) {
    const t = r as MatchTable;
    assertTableInvariants(t);
    if (c.ops.length === 0 && c.asText !== "truncated") {
      const v = c.value as Record<string, unknown>;
      // As text, -0 is written "0": compare with the JSON round trip then.
      if (v.format === "headshare.match")
        assert.deepEqual(t.entries, c.asText === "yes" ? JSON.parse(JSON.stringify(v.entries)) : v.entries, "valid table: entries as written");
      else if (Array.isArray(v.targets)) assert.equal(t.entries.length, v.targets.length, "valid paper table: one entry per row");
    }
  },
  fileOf: () => TABLE_FILE,
  errorNames: ["MatchTableError"],
};

interface PlanCase {
  readonly table: MatchTable;
  readonly ratio: unknown;
}

const ratioArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 0.1, 0.25, 0.3, 0.5, 0.75, 0.8, 1 / 3, 2 / 3, 0.29, 0.57) },
  { weight: 2, arbitrary: weirdJsonArb },
);

const planTarget: FuzzTarget<PlanCase> = {
  name: "share.planSharing",
  weight: 15,
  arb: fc.record({ table: oursTableArb.map((v) => parseMatchTable(v, TABLE_FILE)), ratio: ratioArb }),
  run: (c) => planSharing(c.table, c.ratio as number),
  check(c, r) {
    const p = r as SharingPlan;
    const { layers: L, unitsPerLayer: U, entries } = c.table;
    const ratio = c.ratio as number;
    assert.ok(typeof ratio === "number" && ratio >= 0 && ratio <= (L - 1) / L + 1e-9, `accepted ratio ${String(ratio)} outside [0, (L-1)/L]`);
    assert.ok(
      Math.abs(p.selected - ratio * L * U) < 1 + 1e-6 && p.selected <= ratio * L * U + 1e-6 * Math.max(1, ratio * L * U),
      `selected ${p.selected} is not floor(${ratio}·${L}·${U})`,
    );
    assert.equal(p.targets.length, p.selected);
    assert.equal(p.savedUnits, p.selected);
    const sel = new Set(p.targets.map((t) => `${t.layer}/${t.unit}`));
    assert.equal(sel.size, p.targets.length, "targets are distinct");
    let minSel = Infinity,
      maxUnsel = -Infinity;
    for (const e of entries) {
      if (sel.has(`${e.layer}/${e.unit}`)) minSel = Math.min(minSel, e.score);
      else maxUnsel = Math.max(maxUnsel, e.score);
    }
    assert.ok(minSel >= maxUnsel, `a selected score ${minSel} is below an unselected ${maxUnsel}`);
    for (const t of p.targets) {
      const e = entries[(t.layer - 1) * U + t.unit]!;
      assert.deepEqual([t.sourceLayer, t.sourceUnit, t.score], [e.sourceLayer, e.sourceUnit, e.score], "target keeps its matched source");
      assert.ok(!sel.has(`${t.rootLayer}/${t.rootUnit}`) && t.rootLayer < t.layer, "root is an unselected lower unit");
      assert.deepEqual([...p.storedFrom[t.layer]![t.unit]!], [t.rootLayer, t.rootUnit], "storedFrom points at the root");
    }
    assert.equal(p.storedFrom.length, L);
    p.storedFrom.forEach((row, l) => {
      assert.equal(row.length, U);
      row.forEach(([sl, su], u) => {
        if (!sel.has(`${l}/${u}`)) assert.deepEqual([sl, su], [l, u], "unshared units map to themselves");
      });
    });
  },
  errorNames: ["PlanError"],
};

export const shareTargets = [tableTarget, planTarget];
