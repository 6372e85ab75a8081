/**
 * Validation of a sharing plan read back from JSON (a compact checkpoint's `headshare.plan`
 * metadata, a `--plan` file): structure, ranges, and consistency (every target's root is
 * stored and in a strictly lower layer; storedFrom agrees with the targets). Pure.
 */
import { PlanError } from "./errors";
import { STRATEGIES, type PlanTarget, type SharingPlan } from "./types";
import { GRANULARITIES } from "../model/types";

/**
 * Decimal places of the scores (cosines in [−1, 1]) a compact checkpoint records in its plan. The
 * match table's float32 Gemms give scores that differ between providers (CPU, WebGPU, CUDA) and
 * thread counts in the last bits (~1e-7 on the test models; larger shapes not measured); on a 1e-4 grid,
 * the same plan gives the same bytes on every provider unless a score lies within that noise of a
 * rounding boundary (docs/gpu.md). Plans in memory, match tables and plan files keep full precision.
 */
export const RECORDED_SCORE_DECIMALS = 4;

const roundScore = (x: number): number => {
  const r = Math.round(x * 10 ** RECORDED_SCORE_DECIMALS) / 10 ** RECORDED_SCORE_DECIMALS;
  return r === 0 ? 0 : r; // no −0
};

/** The plan as a compact checkpoint records it: scores, root cosines and the cut-off on the RECORDED_SCORE_DECIMALS grid; everything else as is. */
export function recordedPlan(plan: SharingPlan): SharingPlan {
  return {
    ...plan,
    cutoffScore: plan.cutoffScore === null ? null : roundScore(plan.cutoffScore),
    targets: plan.targets.map((t) => ({ ...t, score: roundScore(t.score), rootCosine: t.rootCosine === null ? null : roundScore(t.rootCosine) })),
  };
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);
const isInt = (x: unknown, lo: number, hi: number): x is number => typeof x === "number" && Number.isInteger(x) && x >= lo && x <= hi;

/** Parses and checks a plan; throws PlanError("bad-plan") naming `where`. */
export function parseSharingPlan(json: unknown, where: string): SharingPlan {
  const bad = (msg: string): never => {
    throw new PlanError("bad-plan", `${where}: invalid sharing plan: ${msg}`);
  };
  if (typeof json === "string") {
    try {
      json = JSON.parse(json);
    } catch {
      bad("not valid JSON");
    }
  }
  if (!isObj(json)) return bad("not a JSON object");
  const o = json;
  if (o.format !== "headshare.plan" || o.version !== 1) bad(`expected "format": "headshare.plan", "version": 1`);
  if (!isInt(o.layers, 1, 100_000) || !isInt(o.unitsPerLayer, 1, 100_000)) return bad("layers and unitsPerLayer must be positive integers");
  const L = o.layers,
    U = o.unitsPerLayer;
  if (!(GRANULARITIES as readonly unknown[]).includes(o.granularity)) bad(`granularity must be "group" or "query-head"`);
  if (!(STRATEGIES as readonly unknown[]).includes(o.strategy)) bad("unknown strategy");
  if (typeof o.ratio !== "number" || !Number.isFinite(o.ratio) || o.ratio < 0 || o.ratio >= 1) bad("ratio must be in [0, 1)");
  if (!Array.isArray(o.targets) || o.targets.length > (L - 1) * U) return bad("targets must be an array of at most (L−1)·U entries");
  if (!Array.isArray(o.storedFrom) || o.storedFrom.length !== L) return bad(`storedFrom must have one row per layer (${L})`);
  const stored: [number, number][][] = (o.storedFrom as unknown[]).map((row, l) => {
    if (!Array.isArray(row) || row.length !== U) return bad(`storedFrom[${l}] must have ${U} entries`);
    return row.map((p: unknown, u) => {
      if (!Array.isArray(p) || p.length !== 2 || !isInt(p[0], 0, l) || !isInt(p[1], 0, U - 1))
        return bad(`storedFrom[${l}][${u}] must be [layer ≤ ${l}, unit < ${U}]`);
      return [p[0], p[1]] as [number, number];
    });
  });
  const seen = new Set<number>();
  const targets: PlanTarget[] = (o.targets as unknown[]).map((t, i) => {
    if (!isObj(t)) return bad(`targets[${i}] must be an object`);
    const { layer, unit, sourceLayer, sourceUnit, rootLayer, rootUnit, score, rootCosine } = t;
    if (!isInt(layer, 1, L - 1) || !isInt(unit, 0, U - 1)) return bad(`targets[${i}]: layer/unit out of range`);
    if (!isInt(sourceLayer, 0, layer - 1) || !isInt(sourceUnit, 0, U - 1)) return bad(`targets[${i}]: source must be in a strictly lower layer`);
    if (!isInt(rootLayer, 0, layer - 1) || !isInt(rootUnit, 0, U - 1)) return bad(`targets[${i}]: root must be in a strictly lower layer`);
    if (typeof score !== "number" || !Number.isFinite(score)) return bad(`targets[${i}]: score must be a finite number`);
    if (rootCosine !== null && (typeof rootCosine !== "number" || !Number.isFinite(rootCosine)))
      return bad(`targets[${i}]: rootCosine must be a number or null`);
    const key = layer * U + unit;
    if (seen.has(key)) bad(`targets[${i}]: (layer ${layer}, unit ${unit}) appears twice`);
    seen.add(key);
    const sf = stored[layer]![unit]!;
    if (sf[0] !== rootLayer || sf[1] !== rootUnit) bad(`storedFrom[${layer}][${unit}] does not name the target's root`);
    return { layer, unit, sourceLayer, sourceUnit, rootLayer, rootUnit, score, rootCosine: rootCosine as number | null };
  });
  for (const t of targets) {
    if (seen.has(t.rootLayer * U + t.rootUnit)) bad(`the root (${t.rootLayer}, ${t.rootUnit}) of (${t.layer}, ${t.unit}) is itself a target`);
  }
  for (let l = 0; l < L; l++) {
    for (let u = 0; u < U; u++) {
      const [sl, su] = stored[l]![u]!;
      if ((sl !== l || su !== u) && !seen.has(l * U + u)) bad(`storedFrom[${l}][${u}] points elsewhere but (${l}, ${u}) is not a target`);
    }
  }
  const num = (k: string): number | null => (typeof o[k] === "number" && Number.isFinite(o[k]) ? (o[k] as number) : null);
  return {
    format: "headshare.plan",
    version: 1,
    ratio: o.ratio as number,
    strategy: o.strategy as SharingPlan["strategy"],
    granularity: o.granularity as SharingPlan["granularity"],
    layers: L,
    unitsPerLayer: U,
    selected: targets.length,
    savedUnits: targets.length,
    chainedTargets: isInt(o.chainedTargets, 0, targets.length) ? o.chainedTargets : 0,
    cutoffScore: num("cutoffScore"),
    parametersBefore: num("parametersBefore"),
    parametersAfter: num("parametersAfter"),
    targets,
    storedFrom: stored,
  };
}
