/**
 * The weight-similarity pairs of a sharing plan: for every selected target and each of q, k, v,
 * the target's slice and its root's slice of the same projection (method.md §5; o is not
 * regularised).
 */
import type { ModelSpec } from "../model/types";
import { unitLayout } from "../model/units";
import type { SharingPlan } from "../share/types";
import type { WeightPair } from "./trainGraph";

export function pairsFromPlan(spec: ModelSpec, plan: SharingPlan): WeightPair[] {
  const out: WeightPair[] = [];
  for (const t of plan.targets) {
    const target = unitLayout(spec, t.layer, t.unit, plan.granularity);
    const root = unitLayout(spec, t.rootLayer, t.rootUnit, plan.granularity);
    for (const p of ["q", "k", "v"] as const) {
      out.push({ target: target[p], root: root[p], label: `${p} ${t.layer}.${t.unit}←${t.rootLayer}.${t.rootUnit}` });
    }
  }
  return out;
}

/** Reads a slice (row ranges along axis 0, or column ranges along axis 1 of a 2-D tensor) out of a weight. */
export function readSliceOf(data: Float32Array, shape: readonly number[], ref: WeightPair["target"]): Float32Array {
  const cols = shape.length === 2 ? shape[1]! : 1;
  const parts: number[] = [];
  if (ref.axis === 0) {
    for (const [b, e] of ref.ranges) for (let i = b * cols; i < e * cols; i++) parts.push(data[i]!);
  } else {
    for (let r = 0; r < shape[0]!; r++) for (const [b, e] of ref.ranges) for (let c = b; c < e; c++) parts.push(data[r * cols + c]!);
  }
  return Float32Array.from(parts);
}
