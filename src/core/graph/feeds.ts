/**
 * Weight feeds for a forward graph: each weight input's checkpoint tensor as float32 (exact for
 * F16/BF16). With `plan` (a dense checkpoint only), every selected target's q/k/v rows, o columns
 * and bias slices are overwritten in memory by its root's, which is what DirectShare's dense output
 * holds, without writing a file. The checkpoint is never modified.
 */
import type { Checkpoint } from "../model/checkpoint";
import { unitLayout } from "../model/units";
import type { SliceRef } from "../model/types";
import { OnnxError } from "../onnx/errors";
import type { SharingPlan } from "../share/types";
import { checkPlan, sharedProjections } from "./compact";
import type { WeightInput } from "./types";

export interface WeightFeed {
  readonly input: string;
  /** float32 row-major, shape `dims`. */
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface LoadFeedsOptions {
  readonly plan?: SharingPlan;
  readonly signal?: AbortSignal;
}

export async function loadWeightFeeds(ckpt: Checkpoint, weights: readonly WeightInput[], opts: LoadFeedsOptions = {}): Promise<WeightFeed[]> {
  const arrays = new Map<string, Float32Array>();
  for (const w of weights) {
    opts.signal?.throwIfAborted();
    if (!arrays.has(w.tensor)) arrays.set(w.tensor, await ckpt.source.readF32(w.tensor));
  }
  if (opts.plan && opts.plan.selected > 0) {
    if (ckpt.compact)
      throw new OnnxError("bad-option", `${ckpt.weightsPath}: is already a compact shared checkpoint; a plan can only be applied to a dense one`);
    applyPlanInPlace(ckpt, opts.plan, arrays);
  }
  return weights.map((w) => ({ input: w.input, data: arrays.get(w.tensor)!, dims: w.shape }));
}

/** Overwrites (in the given fresh arrays) each target's slices with its root's. */
export function applyPlanInPlace(ckpt: Checkpoint, plan: SharingPlan, arrays: Map<string, Float32Array>): void {
  const spec = ckpt.spec;
  checkPlan(spec, plan, ckpt.weightsPath);
  const projs = sharedProjections(plan);
  for (const t of plan.targets) {
    const dst = unitLayout(spec, t.layer, t.unit, plan.granularity);
    const src = unitLayout(spec, t.rootLayer, t.rootUnit, plan.granularity);
    for (const p of projs) {
      const d = dst[p],
        s = src[p];
      if (!d || !s) continue;
      const dArr = arrays.get(d.tensor),
        sArr = arrays.get(s.tensor);
      if (!dArr || !sArr) continue; // the graph does not read this tensor
      copySlice(sArr, ckpt.source.info(s.tensor).shape, s, dArr, ckpt.source.info(d.tensor).shape, d);
    }
  }
}

/** Copies the elements of ref `s` in `src` to ref `d` in `dst` (same element count, same axis). */
function copySlice(src: Float32Array, sShape: readonly number[], s: SliceRef, dst: Float32Array, dShape: readonly number[], d: SliceRef): void {
  const cols = (shape: readonly number[]): number => (shape.length === 2 ? shape[1]! : 1);
  const sc = cols(sShape),
    dc = cols(dShape);
  const flat = (r: SliceRef): number[] => r.ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
  const si = flat(s),
    di = flat(d);
  if (si.length !== di.length || s.axis !== d.axis)
    throw new OnnxError("bad-graph", `slices of ${s.tensor} and ${d.tensor} differ in size; the plan does not fit the model`);
  if (s.axis === 0) {
    for (let k = 0; k < si.length; k++) dst.set(src.subarray(si[k]! * sc, (si[k]! + 1) * sc), di[k]! * dc);
  } else {
    const rows = sShape[0]!;
    for (let r = 0; r < rows; r++) for (let k = 0; k < si.length; k++) dst[r * dc + di[k]!] = src[r * sc + si[k]!]!;
  }
}
