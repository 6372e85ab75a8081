/**
 * The sharing plan (../shared/docs/method.md §3): a PURE function of a match table and a ratio.
 * No node imports: the webview calls it on every slider move. O(n log n) the first time for a
 * table (the score order is cached per table object), O(n) afterwards.
 *
 *   N = floor(α·L·U) → top-N entries by score (ties: lower (layer, unit) first)
 *     → every selected target resolves transitively to its root (first unselected unit on
 *       its source chain) → exactly N units dropped.
 */
import { MatchTableError, PlanError } from "./errors";
import { checkMatchEntries } from "./matchTable";
import type { MatchTable, PlanTarget, SharingPlan } from "./types";

/** Entry indices sorted by descending score, ties to the lower (layer, unit) (= lower index). */
const orderCache = new WeakMap<MatchTable, Int32Array>();

function scoreOrder(table: MatchTable): Int32Array {
  const cached = orderCache.get(table);
  if (cached) return cached;
  const n = table.entries.length;
  const scores = new Float64Array(n); // [(L−1)·U] f64, entry order
  for (let i = 0; i < n; i++) scores[i] = table.entries[i]!.score;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  orderCache.set(table, order);
  return order;
}

/**
 * floor(α·L·U), robust to binary rounding (0.29·100 = 28.999999999999996 counts as 29): a product
 * within 1e-9 (relative) of an integer is that integer.
 */
export function selectedCount(ratio: number, layers: number, unitsPerLayer: number): number {
  const x = ratio * layers * unitsPerLayer;
  const r = Math.round(x);
  if (Math.abs(x - r) <= 1e-9 * Math.max(1, Math.abs(x))) return r === 0 ? 0 : r; // ratio −0 → 0, not −0
  return Math.floor(x);
}

/** The largest ratio a model with L layers accepts: (L−1)/L (layer 0 is never a target). */
export function maxRatio(layers: number): number {
  return (layers - 1) / layers;
}

function checkTable(table: MatchTable): void {
  if (orderCache.has(table)) return; // checked when its order was computed
  try {
    checkMatchEntries(table, "the match table");
  } catch (e) {
    if (e instanceof MatchTableError) throw new PlanError("bad-table", `${e.message}; load tables with parseMatchTable`);
    throw e;
  }
}

/** Plans DirectShare at ratio α from a match table (method.md §3). Throws PlanError. */
export function planSharing(table: MatchTable, ratio: number): SharingPlan {
  checkTable(table);
  const L = table.layers;
  const U = table.unitsPerLayer;
  if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 0) {
    throw new PlanError(
      "bad-ratio",
      `the sharing ratio must be a number ≥ 0 (a fraction of all ${L * U} units, e.g. 0.3), got ${typeof ratio === "number" ? String(ratio) : `a ${typeof ratio}`}`,
    );
  }
  const N = selectedCount(ratio, L, U);
  const maxN = (L - 1) * U;
  if (N > maxN || ratio > maxRatio(L) + 1e-12) {
    throw new PlanError(
      "ratio-too-high",
      `ratio ${ratio} is too high for ${L} layers: layer 0 is never shared, so the maximum is (L−1)/L = ${maxRatio(L)} (${maxN} of ${L * U} units)`,
    );
  }

  const entries = table.entries;
  const order = scoreOrder(table);
  // selected[i] for entry i = (layer−1)·U + unit
  const selected = new Uint8Array(entries.length); // [(L−1)·U] 0/1 per entry
  for (let k = 0; k < N; k++) selected[order[k]!] = 1;

  // Roots: entries are in ascending (layer, unit) order and sources lie in strictly lower layers,
  // so a selected source's root is known before its targets are visited.
  const rootOf = new Int32Array(entries.length).fill(-1); // flat unit index layer·U + unit of the root
  const isSourceOfSelected = new Uint8Array(L * U); // [L·U] 0/1 per unit
  const targets: PlanTarget[] = [];
  const storedFrom: [number, number][][] = [];
  for (let l = 0; l < L; l++) {
    const row: [number, number][] = [];
    for (let u = 0; u < U; u++) row.push([l, u]);
    storedFrom.push(row);
  }
  let cutoff: number | null = null;
  for (let i = 0; i < entries.length; i++) {
    if (!selected[i]) continue;
    const e = entries[i]!;
    const src = e.sourceLayer * U + e.sourceUnit;
    isSourceOfSelected[src] = 1;
    const srcEntry = e.sourceLayer >= 1 ? (e.sourceLayer - 1) * U + e.sourceUnit : -1;
    const root = srcEntry >= 0 && selected[srcEntry] ? rootOf[srcEntry]! : src;
    rootOf[i] = root;
    const rootLayer = Math.floor(root / U);
    const rootUnit = root % U;
    let rootCosine: number | null = null;
    const lower = table.lowerCosines?.[i];
    if (lower && lower.length === e.layer * U) rootCosine = lower[root]!;
    else if (root === src) rootCosine = e.score;
    targets.push({
      layer: e.layer,
      unit: e.unit,
      sourceLayer: e.sourceLayer,
      sourceUnit: e.sourceUnit,
      rootLayer,
      rootUnit,
      score: e.score,
      rootCosine,
    });
    storedFrom[e.layer]![e.unit] = [rootLayer, rootUnit];
    if (cutoff === null || e.score < cutoff) cutoff = e.score;
  }
  let chained = 0;
  for (const t of targets) if (isSourceOfSelected[t.layer * U + t.unit]) chained++;

  const before = table.parameters;
  const per = table.parametersPerUnit;
  return {
    format: "headshare.plan",
    version: 1,
    ratio,
    strategy: table.strategy,
    granularity: table.granularity,
    layers: L,
    unitsPerLayer: U,
    selected: N,
    savedUnits: targets.length,
    chainedTargets: chained,
    cutoffScore: cutoff,
    parametersBefore: before,
    parametersAfter: before !== null && per !== null ? before - N * per : null,
    targets,
    storedFrom,
  };
}
