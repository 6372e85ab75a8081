/**
 * The weight-similarity pairs of a sharing plan: for every selected target and each projection
 * in `projs`, the target's slice and its root's slice of the same projection (o: the columns of
 * the unit). PostShare passes its `regularize` list, q, k, v, o by default, since the final share
 * gives each target its root's o columns too; q, k, v alone is the paper's loss (docs/method.md).
 */
import type { ModelSpec } from "../model/types";
import { unitLayout } from "../model/units";
import type { SharingPlan } from "../share/types";
import type { WeightPair } from "./trainGraph";

export function pairsFromPlan(spec: ModelSpec, plan: SharingPlan, projs: readonly ("q" | "k" | "v" | "o")[] = ["q", "k", "v"]): WeightPair[] {
  const out: WeightPair[] = [];
  for (const t of plan.targets) {
    const target = unitLayout(spec, t.layer, t.unit, plan.granularity);
    const root = unitLayout(spec, t.rootLayer, t.rootUnit, plan.granularity);
    for (const p of projs) {
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

/** Writes `values` (in readSliceOf order) into a slice of a weight, in place. */
export function writeSliceOf(data: Float32Array, shape: readonly number[], ref: WeightPair["target"], values: Float32Array): void {
  const cols = shape.length === 2 ? shape[1]! : 1;
  let k = 0;
  if (ref.axis === 0) {
    for (const [b, e] of ref.ranges) for (let i = b * cols; i < e * cols; i++) data[i] = values[k++]!;
  } else {
    for (let r = 0; r < shape[0]!; r++) for (const [b, e] of ref.ranges) for (let c = b; c < e; c++) data[r * cols + c] = values[k++]!;
  }
}

/**
 * DirectShare in memory (dense): a copy of the weights in which every target's q/k/v rows, o
 * columns and q/k/v bias slices are its root's. Targets are independent because roots are never
 * targets. Tensors the plan does not touch are shared, not copied.
 */
export function applyPlanInMemory(
  spec: ModelSpec,
  plan: SharingPlan,
  params: ReadonlyMap<string, Float32Array>,
  shapeOf: (t: string) => readonly number[],
): Map<string, Float32Array> {
  const out = new Map(params);
  const copied = new Set<string>();
  for (const t of plan.targets) {
    const target = unitLayout(spec, t.layer, t.unit, plan.granularity);
    const root = unitLayout(spec, t.rootLayer, t.rootUnit, plan.granularity);
    for (const p of ["q", "k", "v", "o", "qBias", "kBias", "vBias"] as const) {
      const tr = target[p],
        rr = root[p];
      if (!tr || !rr) continue;
      if (!copied.has(tr.tensor)) {
        const src = out.get(tr.tensor);
        if (!src) throw new Error(`applyPlanInMemory: weight "${tr.tensor}" is not loaded`);
        out.set(tr.tensor, Float32Array.from(src));
        copied.add(tr.tensor);
      }
      const vals = readSliceOf(out.get(rr.tensor)!, shapeOf(rr.tensor), rr);
      writeSliceOf(out.get(tr.tensor)!, shapeOf(tr.tensor), tr, vals);
    }
  }
  return out;
}

/** Mean over pairs of ‖W(target) − W(root)‖_F / ‖W(root)‖_F. */
export function meanRelativeDistance(
  pairs: readonly WeightPair[],
  params: ReadonlyMap<string, Float32Array>,
  shapeOf: (t: string) => readonly number[],
): number {
  if (pairs.length === 0) return 0;
  let s = 0;
  for (const p of pairs) {
    const a = readSliceOf(params.get(p.target.tensor)!, shapeOf(p.target.tensor), p.target);
    const b = readSliceOf(params.get(p.root.tensor)!, shapeOf(p.root.tensor), p.root);
    let d = 0,
      n = 0;
    for (let i = 0; i < a.length; i++) {
      d += (a[i]! - b[i]!) ** 2;
      n += b[i]! ** 2;
    }
    s += Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30);
  }
  return s / pairs.length;
}
