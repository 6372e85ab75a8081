/**
 * Compact checkpoints (DirectShare's output, method.md §4): every attention tensor keeps only the
 * slices of its layer's stored units; the slices of target units (storedFrom[l][u] ≠ [l, u]) are
 * dropped along the slice axis, the rest kept in order. The graph runs such a file as compact:
 * each layer's dense tensor is assembled by ONE Gather over a bank that concatenates the compact
 * tensors it reads from (its own and its roots' layers), with an index map computed here:
 *
 *   dense index i of tensor T (layer l) ─┬─ i in target unit u's slice of projection p
 *                                        │     → same offset in root (sl, su)'s slice of p, in T' = layout(sl, su)[p].tensor
 *                                        └─ otherwise → i in T itself
 *   then → compact index (i − dropped indices before i) + the offset of that tensor in the bank.
 *
 * Only stored weights are fed; the dense tensor is a per-layer temporary. The unit layout comes
 * from `unitLayout` (src/core/model/units.ts), so fused layouts (GPT-2 c_attn) work the same way.
 */
import type { GraphBuilder } from "../onnx/builder";
import { OnnxError } from "../onnx/errors";
import type { ModelSpec, SliceRef, UnitLayout } from "../model/types";
import { unitLayout } from "../model/units";
import type { SharingPlan } from "../share/types";
import type { ShapeOf } from "./types";
import type { WeightInputs } from "./weightInputs";

type SharedProj = "q" | "k" | "v" | "o" | "qBias" | "kBias" | "vBias";

/** Projections whose slices a unit owns (and a compact file drops for targets). */
export function sharedProjections(plan: SharingPlan): readonly SharedProj[] {
  return plan.granularity === "group" ? ["q", "k", "v", "o", "qBias", "kBias", "vBias"] : ["q", "o", "qBias"];
}

/** Checks the plan fits the model; throws OnnxError naming the file. */
export function checkPlan(spec: ModelSpec, plan: SharingPlan, file: string): void {
  const U = plan.granularity === "group" ? spec.kvHeads : spec.heads;
  if (plan.layers !== spec.layers || plan.unitsPerLayer !== U || !Array.isArray(plan.storedFrom) || plan.storedFrom.length !== spec.layers) {
    throw new OnnxError("bad-graph", `${file}: the sharing plan is for ${plan.layers} layers × ${plan.unitsPerLayer} units, the model has ${spec.layers} × ${U}; use the plan made for this model`);
  }
  plan.storedFrom.forEach((row, l) => {
    if (!Array.isArray(row) || row.length !== U) throw new OnnxError("bad-graph", `${file}: plan.storedFrom[${l}] must list ${U} units`);
    row.forEach((pair, u) => {
      const [sl, su] = Array.isArray(pair) ? pair : [NaN, NaN];
      const ok = Number.isInteger(sl) && Number.isInteger(su) && sl >= 0 && sl <= l && su >= 0 && su < U
        && (sl < l || su === u) && plan.storedFrom[sl]![su]![0] === sl && plan.storedFrom[sl]![su]![1] === su;
      if (!ok) throw new OnnxError("bad-graph", `${file}: plan.storedFrom[${l}][${u}] = ${JSON.stringify(pair)} is not a stored unit of the same or a lower layer`);
    });
  });
}

const isTarget = (plan: SharingPlan, l: number, u: number): boolean => {
  const [sl, su] = plan.storedFrom[l]![u]!;
  return sl !== l || su !== u;
};

export function flatIndices(r: SliceRef): number[] {
  return r.ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
}

/** Per tensor: its slice axis and the sorted dense indices dropped in the compact file. */
export interface DropMap {
  readonly axis: Map<string, 0 | 1>;
  readonly dropped: Map<string, Set<number>>;
}

export function dropMap(spec: ModelSpec, plan: SharingPlan): DropMap {
  const axis = new Map<string, 0 | 1>(), dropped = new Map<string, Set<number>>();
  const projs = sharedProjections(plan);
  for (let l = 0; l < spec.layers; l++) {
    for (let u = 0; u < plan.unitsPerLayer; u++) {
      const lay = unitLayout(spec, l, u, plan.granularity);
      for (const p of projs) {
        const r = lay[p];
        if (!r) continue;
        axis.set(r.tensor, r.axis);
        if (!dropped.has(r.tensor)) dropped.set(r.tensor, new Set());
        if (isTarget(plan, l, u)) for (const i of flatIndices(r)) dropped.get(r.tensor)!.add(i);
      }
    }
  }
  return { axis, dropped };
}

/** dense index → compact index of one tensor (−1 for dropped indices). */
export function compactIndexMap(denseSize: number, dropped: Set<number>): Int32Array {
  const m = new Int32Array(denseSize);
  let c = 0;
  for (let i = 0; i < denseSize; i++) m[i] = dropped.has(i) ? -1 : c++;
  return m;
}

export interface CompactShapes {
  readonly stored: ShapeOf;
  readonly dense: ShapeOf;
}

/**
 * Returns `edge(layer, tensor)`: the graph edge holding layer `layer`'s attention tensor in its dense
 * shape, assembled from the compact inputs (or the input itself when nothing of it is shared).
 */
export function compactAssembler(b: GraphBuilder, w: WeightInputs, spec: ModelSpec, plan: SharingPlan, shapes: CompactShapes, file: string): (layer: number, tensor: string) => string {
  checkPlan(spec, plan, file);
  const dm = dropMap(spec, plan);
  const projs = sharedProjections(plan);
  const layouts: UnitLayout[][] = Array.from({ length: spec.layers }, (_, l) => Array.from({ length: plan.unitsPerLayer }, (_, u) => unitLayout(spec, l, u, plan.granularity)));
  const cmaps = new Map<string, Int32Array>();
  const cmap = (t: string): Int32Array => {
    let m = cmaps.get(t);
    if (!m) {
      const ax = dm.axis.get(t)!;
      const dense = shapes.dense(t), stored = shapes.stored(t);
      m = compactIndexMap(dense[ax]!, dm.dropped.get(t)!);
      const kept = dense[ax]! - dm.dropped.get(t)!.size;
      const want = dense.map((d, i) => (i === ax ? kept : d));
      if (stored.length !== want.length || stored.some((d, i) => d !== want[i])) {
        throw new OnnxError("bad-graph", `${file}: compact tensor "${t}" has shape [${stored.join(", ")}], its headshare.plan expects [${want.join(", ")}]; the file and its metadata disagree, re-create it with headshare share`);
      }
      cmaps.set(t, m);
    }
    return m;
  };
  const cache = new Map<string, string>();
  return (l, t) => {
    const key = `${l}\u0000${t}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const ax = dm.axis.get(t);
    if (ax === undefined) return w.get(t); // not an attention tensor the plan touches
    const denseSize = shapes.dense(t)[ax]!;
    // source (tensor, dense index) for every dense index of t
    const srcTensor: string[] = new Array(denseSize).fill(t);
    const srcIndex = Int32Array.from({ length: denseSize }, (_, i) => i);
    for (let u = 0; u < plan.unitsPerLayer; u++) {
      if (!isTarget(plan, l, u)) continue;
      const [sl, su] = plan.storedFrom[l]![u]!;
      for (const p of projs) {
        const d = layouts[l]![u]![p], s = layouts[sl]![su]![p];
        if (!d || !s || d.tensor !== t) continue;
        const di = flatIndices(d), si = flatIndices(s);
        for (let k = 0; k < di.length; k++) { srcTensor[di[k]!] = s.tensor; srcIndex[di[k]!] = si[k]!; }
      }
    }
    const bankTensors = [...new Set(srcTensor)];
    let edge: string;
    const own = cmap(t);
    const identity = bankTensors.length === 1 && bankTensors[0] === t && own.every((c, i) => c === i);
    if (identity) edge = w.get(t);
    else {
      const offset = new Map<string, number>();
      let total = 0;
      for (const bt of bankTensors) { offset.set(bt, total); total += shapes.stored(bt)[ax]!; }
      const idx = new BigInt64Array(denseSize);
      for (let i = 0; i < denseSize; i++) {
        const c = cmap(srcTensor[i]!)[srcIndex[i]!]!;
        if (c < 0) throw new OnnxError("bad-graph", `${file}: layer ${l} "${t}" index ${i} reads a dropped slice of "${srcTensor[i]}"; the plan's roots must be stored units`);
        idx[i] = BigInt(offset.get(srcTensor[i]!)! + c);
      }
      const name = `/model/layers.${l}/attn/assemble/${t}`;
      const parts = bankTensors.map((bt) => w.get(bt));
      const bank = parts.length === 1 ? parts[0]! : b.op("Concat", parts, `${name}/Concat`, { axis: ax });
      const idxName = b.initializer(`${name}/index`, "int64", [denseSize], idx);                 // [dense size along axis]
      edge = b.op("Gather", [bank, idxName], `${name}/Gather`, { axis: ax });
    }
    cache.set(key, edge);
    return edge;
  };
}
