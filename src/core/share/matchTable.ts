/**
 * Reading and writing match tables. Two accepted inputs:
 *  - ours: `{ format: "headshare.match", version: 1, ... }` (types.ts `MatchTable`);
 *  - the paper's released table (`../shared/fixtures/llama2-7b-match-qk.json`): keys
 *    description/model/layers/heads/strategy/targets with rows
 *    `[layer, head, source_layer, source_head, cosine]` (multi-head attention: unit = head).
 * Pure (no node imports): callers read the file and pass the parsed JSON and its name.
 */
import { MatchTableError } from "./errors";
import { STRATEGIES, type MatchEntry, type MatchTable, type Strategy } from "./types";
import { GRANULARITIES, type Granularity } from "../model/types";
/** Cosines may exceed ±1 by rounding only. */
const COS_SLACK = 1e-5;

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);

function posInt(file: string, o: Obj, key: string, min: number): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > 1_000_000) {
    throw new MatchTableError("bad-field", file, `"${key}" must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function nullableNumber(file: string, o: Obj, key: string): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new MatchTableError("bad-field", file, `"${key}" must be a non-negative integer or null, got ${JSON.stringify(v)}`);
  }
  return v;
}

function strategyOf(file: string, v: unknown): Strategy {
  if (typeof v !== "string" || !STRATEGIES.includes(v as Strategy)) {
    throw new MatchTableError("bad-field", file, `"strategy" must be one of ${STRATEGIES.join(", ")}, got ${JSON.stringify(v)}`);
  }
  return v as Strategy;
}

function checkCosine(file: string, what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > 1 + COS_SLACK) {
    throw new MatchTableError("bad-entry", file, `${what}: score must be a finite cosine in [-1, 1], got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Checks one entry's numbers and puts it in its slot ((layer−1)·U + unit); refuses duplicates,
 * layer-0 targets and sources that are not strictly lower.
 */
function place(file: string, slots: (MatchEntry | undefined)[], L: number, U: number, e: MatchEntry, what: string): void {
  const ints: [string, number, number][] = [
    ["layer", e.layer, L],
    ["unit", e.unit, U],
    ["sourceLayer", e.sourceLayer, L],
    ["sourceUnit", e.sourceUnit, U],
  ];
  for (const [k, v, lim] of ints) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= lim) {
      throw new MatchTableError("bad-entry", file, `${what}: ${k} must be an integer in 0..${lim - 1}, got ${JSON.stringify(v)}`);
    }
  }
  if (e.layer < 1) throw new MatchTableError("bad-entry", file, `${what}: layer 0 units are never targets`);
  if (e.sourceLayer >= e.layer) {
    throw new MatchTableError("bad-entry", file, `${what}: source layer ${e.sourceLayer} is not strictly below target layer ${e.layer}`);
  }
  const i = (e.layer - 1) * U + e.unit;
  if (slots[i]) throw new MatchTableError("bad-entry", file, `${what}: duplicate target (layer ${e.layer}, unit ${e.unit})`);
  slots[i] = e;
}

/**
 * Checks a table already in memory (typed, e.g. built by a caller): layers and units, and every
 * entry by the same rules as `parseMatchTable`, in slot order (entries[i] is target
 * (layer i/U + 1, unit i mod U)), which the planner reads by index. Throws MatchTableError naming `file`.
 */
export function checkMatchEntries(table: MatchTable, file: string): void {
  const { layers: L, unitsPerLayer: U, entries } = table ?? ({} as MatchTable);
  if (!Number.isInteger(L) || L < 1 || !Number.isInteger(U) || U < 1 || !Array.isArray(entries) || entries.length !== (L - 1) * U) {
    throw new MatchTableError("incomplete", file, "need integer layers ≥ 1, unitsPerLayer ≥ 1 and (layers-1)·units entries");
  }
  const slots: (MatchEntry | undefined)[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as MatchEntry | undefined,
      what = `entries[${i}]`;
    if (!e || !isObj(e)) throw new MatchTableError("bad-entry", file, `${what} must be an object`);
    checkCosine(file, what, e.score);
    place(file, slots, L, U, e, what);
    if (slots[i] !== e)
      throw new MatchTableError(
        "bad-entry",
        file,
        `${what} is (layer ${e.layer}, unit ${e.unit}), not (layer ${Math.floor(i / U) + 1}, unit ${i % U}): entries must be sorted by (layer, unit)`,
      );
  }
}

function complete(file: string, slots: (MatchEntry | undefined)[], L: number, U: number): MatchEntry[] {
  for (let i = 0; i < slots.length; i++) {
    if (!slots[i]) {
      throw new MatchTableError(
        "incomplete",
        file,
        `no entry for target (layer ${Math.floor(i / U) + 1}, unit ${i % U}): a table needs every unit of layers 1..${L - 1}`,
      );
    }
  }
  return slots as MatchEntry[];
}

function parseOurs(o: Obj, file: string): MatchTable {
  if (o.version !== 1)
    throw new MatchTableError(
      "bad-format",
      file,
      `unsupported match table version ${JSON.stringify(o.version)} (this build reads version 1); recompute it with "headshare match"`,
    );
  const strategy = strategyOf(file, o.strategy);
  if (typeof o.granularity !== "string" || !GRANULARITIES.includes(o.granularity as Granularity)) {
    throw new MatchTableError("bad-field", file, `"granularity" must be "group" or "query-head", got ${JSON.stringify(o.granularity)}`);
  }
  const granularity = o.granularity as Granularity;
  const L = posInt(file, o, "layers", 1);
  const U = posInt(file, o, "unitsPerLayer", 1);
  if ((L - 1) * U > 4_000_000) throw new MatchTableError("bad-field", file, `layers × unitsPerLayer = ${L * U} is implausibly large`);
  if (!Array.isArray(o.entries)) throw new MatchTableError("bad-field", file, `"entries" must be an array`);
  if (o.entries.length !== (L - 1) * U) {
    throw new MatchTableError(
      "incomplete",
      file,
      `"entries" has ${o.entries.length} rows, expected (layers-1)·units = ${(L - 1) * U} (layers ${L}, unitsPerLayer ${U})`,
    );
  }
  const slots: (MatchEntry | undefined)[] = new Array((L - 1) * U);
  o.entries.forEach((raw: unknown, i: number) => {
    const what = `entries[${i}]`;
    if (!isObj(raw)) throw new MatchTableError("bad-entry", file, `${what} must be an object`);
    const e: MatchEntry = {
      layer: raw.layer as number,
      unit: raw.unit as number,
      sourceLayer: raw.sourceLayer as number,
      sourceUnit: raw.sourceUnit as number,
      score: checkCosine(file, what, raw.score),
    };
    place(file, slots, L, U, e, what);
  });
  const entries = complete(file, slots, L, U);
  let lowerCosines: number[][] | undefined;
  if (o.lowerCosines !== undefined && o.lowerCosines !== null) {
    if (!Array.isArray(o.lowerCosines) || o.lowerCosines.length !== entries.length) {
      throw new MatchTableError("bad-field", file, `"lowerCosines" must be an array with one row per entry (${entries.length})`);
    }
    lowerCosines = entries.map((e, i) => {
      const row = (o.lowerCosines as unknown[])[i];
      if (!Array.isArray(row) || row.length !== e.layer * U) {
        throw new MatchTableError("bad-field", file, `lowerCosines[${i}] must hold layer·unitsPerLayer = ${e.layer * U} cosines`);
      }
      return row.map((v, j) => checkCosine(file, `lowerCosines[${i}][${j}]`, v));
    });
  }
  const table: MatchTable = {
    format: "headshare.match",
    version: 1,
    strategy,
    granularity,
    layers: L,
    unitsPerLayer: U,
    parametersPerUnit: nullableNumber(file, o, "parametersPerUnit"),
    bytesPerUnit: nullableNumber(file, o, "bytesPerUnit"),
    parameters: nullableNumber(file, o, "parameters"),
    entries,
    ...(lowerCosines ? { lowerCosines } : {}),
    ...(isObj(o.source) ? { source: sourceOf(o.source) } : {}),
  };
  return table;
}

function sourceOf(s: Obj): NonNullable<MatchTable["source"]> {
  const out: Record<string, string | number> = {};
  for (const k of ["model", "provider", "adapter"] as const) if (typeof s[k] === "string") out[k] = s[k] as string;
  for (const k of ["size", "mtimeMs", "seconds", "bytesRead", "threads"] as const) {
    if (typeof s[k] === "number" && Number.isFinite(s[k])) out[k] = s[k] as number;
  }
  return out as NonNullable<MatchTable["source"]>;
}

function parsePaper(o: Obj, file: string): MatchTable {
  const strategy = strategyOf(file, o.strategy);
  const L = posInt(file, o, "layers", 1);
  const H = posInt(file, o, "heads", 1);
  if ((L - 1) * H > 4_000_000) throw new MatchTableError("bad-field", file, `layers × heads = ${L * H} is implausibly large`);
  if (!Array.isArray(o.targets))
    throw new MatchTableError("bad-field", file, `"targets" must be an array of [layer, head, source_layer, source_head, cosine] rows`);
  const slots: (MatchEntry | undefined)[] = new Array((L - 1) * H);
  o.targets.forEach((row: unknown, i: number) => {
    const what = `targets[${i}]`;
    if (!Array.isArray(row) || row.length !== 5) {
      throw new MatchTableError("bad-entry", file, `${what} must be [layer, head, source_layer, source_head, cosine]`);
    }
    const [layer, unit, sourceLayer, sourceUnit, score] = row as number[];
    place(file, slots, L, H, { layer: layer!, unit: unit!, sourceLayer: sourceLayer!, sourceUnit: sourceUnit!, score: checkCosine(file, what, score) }, what);
  });
  const entries = complete(file, slots, L, H);
  return {
    format: "headshare.match",
    version: 1,
    strategy,
    granularity: "group",
    layers: L,
    unitsPerLayer: H,
    parametersPerUnit: null,
    bytesPerUnit: null,
    parameters: null,
    entries,
    ...(typeof o.model === "string" ? { source: { model: o.model } } : {}),
  };
}

/** Parses and fully validates a match table (ours or the paper's); throws MatchTableError naming `file`. */
export function parseMatchTable(json: unknown, file: string): MatchTable {
  if (typeof json === "string") {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new MatchTableError("bad-json", file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (!isObj(json)) throw new MatchTableError("bad-format", file, "a match table must be a JSON object");
  if (json.format === "headshare.match") return parseOurs(json, file);
  if ("targets" in json && "layers" in json && "heads" in json && "strategy" in json) return parsePaper(json, file);
  throw new MatchTableError(
    "bad-format",
    file,
    `not a match table: expected "format": "headshare.match" (from "headshare match") or the paper's released format (keys layers, heads, strategy, targets)`,
  );
}

/** Versioned JSON of a table (compact: one entry per line is not needed; numbers round-trip exactly). */
export function serializeMatchTable(table: MatchTable): string {
  const { format, version, strategy, granularity, layers, unitsPerLayer, parametersPerUnit, bytesPerUnit, parameters, source, entries, lowerCosines } = table;
  return JSON.stringify({
    format,
    version,
    strategy,
    granularity,
    layers,
    unitsPerLayer,
    parametersPerUnit,
    bytesPerUnit,
    parameters,
    ...(source ? { source } : {}),
    entries: entries.map(({ layer, unit, sourceLayer, sourceUnit, score }) => ({ layer, unit, sourceLayer, sourceUnit, score })),
    ...(lowerCosines ? { lowerCosines } : {}),
  });
}
