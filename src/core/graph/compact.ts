/**
 * Compact checkpoints (DirectShare's output, method.md §4): each attention projection keeps only
 * its layer's stored units (the units u with storedFrom[l][u] = [l, u]), in unit order. A layer's
 * full projection is assembled in the graph by gathering, for every unit, the slice of the unit it
 * reads from (same or lower layer), from a bank that concatenates the source layers' compact
 * tensors. Only stored weights are fed; the assembled projection is a per-layer temporary.
 */
import type { GraphBuilder } from "../onnx/builder";
import type { ModelSpec } from "../model/types";
import type { SharingPlan } from "../share/types";
import { OnnxError } from "../onnx/errors";
import type { WeightInputs } from "./weightInputs";

/** Per-unit sizes of each projection (rows of q/k/v and biases, columns of o). */
export interface UnitGeometry {
  readonly units: number;   // U
  readonly qRows: number;   // rows of q per unit (= o columns per unit)
  /** Rows of k and v per unit; 0 when k/v are not shared (query-head granularity). */
  readonly kvRows: number;
}

export function unitGeometry(spec: ModelSpec, plan: SharingPlan): UnitGeometry {
  if (plan.granularity === "group") {
    return { units: spec.kvHeads, qRows: (spec.heads / spec.kvHeads) * spec.headDim, kvRows: spec.headDim };
  }
  return { units: spec.heads, qRows: spec.headDim, kvRows: 0 };
}

/** Checks the plan fits the model; throws OnnxError naming the file. */
export function checkPlan(spec: ModelSpec, plan: SharingPlan, file: string): void {
  const U = plan.granularity === "group" ? spec.kvHeads : spec.heads;
  if (plan.layers !== spec.layers || plan.unitsPerLayer !== U || plan.storedFrom.length !== spec.layers) {
    throw new OnnxError("bad-graph", `${file}: the sharing plan is for ${plan.layers} layers × ${plan.unitsPerLayer} units, the model has ${spec.layers} × ${U}; use the plan made for this model`);
  }
  plan.storedFrom.forEach((row, l) => {
    if (row.length !== U) throw new OnnxError("bad-graph", `${file}: plan.storedFrom[${l}] has ${row.length} entries, expected ${U}`);
    row.forEach(([sl, su], u) => {
      const ok = Number.isInteger(sl) && Number.isInteger(su) && sl >= 0 && sl <= l && su >= 0 && su < U
        && (sl < l || su === u) && plan.storedFrom[sl]![su]![0] === sl && plan.storedFrom[sl]![su]![1] === su;
      if (!ok) throw new OnnxError("bad-graph", `${file}: plan.storedFrom[${l}][${u}] = [${sl}, ${su}] is not a stored unit of the same or a lower layer`);
    });
  });
}

/** Per layer: the stored units (storedFrom[l][u] = [l, u]) in order. */
export function storedUnits(plan: SharingPlan): number[][] {
  return plan.storedFrom.map((row, l) => row.flatMap(([sl, su], u) => (sl === l && su === u ? [u] : [])));
}

/** True when layer l reads only its own units (its compact tensor is already dense). */
export function isIdentityLayer(plan: SharingPlan, l: number): boolean {
  return plan.storedFrom[l]!.every(([sl, su], u) => sl === l && su === u);
}

export type Proj = "q" | "k" | "v" | "o" | "qBias" | "kBias" | "vBias";

//   for each source layer s of layer l:  W_s (compact) ─► Reshape [n_s, r, in] ─┐
//                                                      ... ─► Concat(axis 0) ─► bank [Σn, r, in] ─► Gather(idx [U]) ─► Reshape [U·r, in]
//   (o is column-blocked: [d, n_s·r] ─► Reshape [d, n_s, r] ─► Concat(axis 1) ─► Gather(axis 1) ─► Reshape [d, U·r])
/** The dense-shaped projection of layer l assembled from the stored units' slices. */
export function assembleProjection(
  b: GraphBuilder, w: WeightInputs, plan: SharingPlan, stored: readonly number[][], l: number,
  tensorOf: (layer: number) => string, perUnit: number, proj: Proj, name: string, file: string,
): string {
  const columns = proj === "o";
  const bias = proj.endsWith("Bias");
  const shapeOfLayer = (s: number): readonly number[] => w.shape(tensorOf(s));
  const expectShape = (s: number): number[] => {
    const n = stored[s]!.length * perUnit;
    const full = shapeOfLayer(s);
    if (bias) return [n];
    return columns ? [full[0]!, n] : [n, full[1]!];
  };
  const check = (s: number): void => {
    const got = shapeOfLayer(s), want = expectShape(s);
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
      throw new OnnxError("bad-graph", `${file}: compact tensor "${tensorOf(s)}" has shape [${got.join(", ")}], the plan expects [${want.join(", ")}] (${stored[s]!.length} stored units); the file and its headshare.plan metadata disagree`);
    }
  };
  check(l);
  if (isIdentityLayer(plan, l)) return w.get(tensorOf(l));
  const sources = [...new Set(plan.storedFrom[l]!.map(([s]) => s))].sort((a, c) => a - c);
  const offset = new Map<number, number>();
  let total = 0;
  const parts = sources.map((s) => {
    check(s);
    offset.set(s, total);
    const n = stored[s]!.length;
    total += n;
    const full = shapeOfLayer(s);
    const dims = bias ? [n, perUnit] : columns ? [full[0]!, n, perUnit] : [n, perUnit, full[1]!];
    return b.op("Reshape", [w.get(tensorOf(s)), b.i64s(dims)], `${name}/bank.${s}/Reshape`);
  });
  const axis = columns ? 1 : 0;
  const bank = parts.length === 1 ? parts[0]! : b.op("Concat", parts, `${name}/bank/Concat`, { axis });
  const idx = plan.storedFrom[l]!.map(([s, su]) => offset.get(s)! + stored[s]!.indexOf(su));
  const idxName = b.initializer(`${name}/units`, "int64", [idx.length], BigInt64Array.from(idx.map(BigInt)));
  const gathered = b.op("Gather", [bank, idxName], `${name}/Gather`, { axis });
  const U = idx.length;
  const full = shapeOfLayer(l);
  const dense = bias ? [U * perUnit] : columns ? [full[0]!, U * perUnit] : [U * perUnit, full[1]!];
  return b.op("Reshape", [gathered, b.i64s(dense)], `${name}/Reshape`);
}
