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
import { linear } from "./blocks";
import { OnnxError } from "../onnx/errors";
import type { ModelSpec, SliceRef, UnitLayout } from "../model/types";
import { unitLayout } from "../model/units";
import type { SharingPlan } from "../share/types";
import type { ForwardOptions, ShapeOf, WeightInput } from "./types";
import type { IrGraph } from "../onnx/ir";
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
    throw new OnnxError(
      "bad-graph",
      `${file}: the sharing plan is for ${plan.layers} layers × ${plan.unitsPerLayer} units, the model has ${spec.layers} × ${U}; use the plan made for this model`,
    );
  }
  plan.storedFrom.forEach((row, l) => {
    if (!Array.isArray(row) || row.length !== U) throw new OnnxError("bad-graph", `${file}: plan.storedFrom[${l}] must list ${U} units`);
    row.forEach((pair, u) => {
      const [sl, su] = Array.isArray(pair) ? pair : [NaN, NaN];
      const ok =
        Number.isInteger(sl) &&
        Number.isInteger(su) &&
        sl >= 0 &&
        sl <= l &&
        su >= 0 &&
        su < U &&
        (sl < l || su === u) &&
        plan.storedFrom[sl]![su]![0] === sl &&
        plan.storedFrom[sl]![su]![1] === su;
      if (!ok)
        throw new OnnxError("bad-graph", `${file}: plan.storedFrom[${l}][${u}] = ${JSON.stringify(pair)} is not a stored unit of the same or a lower layer`);
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
  const axis = new Map<string, 0 | 1>(),
    dropped = new Map<string, Set<number>>();
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
 * Where layer `l`'s dense tensor `t` comes from: the stored tensors it reads (`tensors`, in bank
 * order), their offsets along the slice `axis` in the bank = Concat(tensors, axis), and for every
 * dense index along that axis its bank index (`idx`). Undefined when `t` is read as stored (not an
 * attention tensor the plan touches, or nothing of it is shared and nothing was dropped).
 */
export interface Bank {
  readonly tensors: readonly string[];
  readonly offsets: readonly number[];
  readonly sizes: readonly number[];
  readonly axis: 0 | 1;
  /** [dense size along axis] int64: dense index → bank index. */
  readonly idx: BigInt64Array;
}

/** Layer l's bank of dense tensor t (undefined: t is read as stored); computed once per (l, t). */
export type Banks = (layer: number, tensor: string) => Bank | undefined;

export function compactBanks(spec: ModelSpec, plan: SharingPlan, shapes: CompactShapes, file: string): Banks {
  checkPlan(spec, plan, file);
  const dm = dropMap(spec, plan);
  const projs = sharedProjections(plan);
  const layouts: UnitLayout[][] = Array.from({ length: spec.layers }, (_, l) =>
    Array.from({ length: plan.unitsPerLayer }, (_, u) => unitLayout(spec, l, u, plan.granularity)),
  );
  const cmaps = new Map<string, Int32Array>();
  const cmap = (t: string): Int32Array => {
    let m = cmaps.get(t);
    if (!m) {
      const ax = dm.axis.get(t)!;
      const dense = shapes.dense(t),
        stored = shapes.stored(t);
      m = compactIndexMap(dense[ax]!, dm.dropped.get(t)!);
      const kept = dense[ax]! - dm.dropped.get(t)!.size;
      const want = dense.map((d, i) => (i === ax ? kept : d));
      if (stored.length !== want.length || stored.some((d, i) => d !== want[i])) {
        throw new OnnxError(
          "bad-graph",
          `${file}: compact tensor "${t}" has shape [${stored.join(", ")}], its headshare.plan expects [${want.join(", ")}]; the file and its metadata disagree, re-create it with headshare share`,
        );
      }
      cmaps.set(t, m);
    }
    return m;
  };
  const cache = new Map<string, Bank | undefined>();
  return (l, t) => {
    const key = `${l}\u0000${t}`;
    if (cache.has(key)) return cache.get(key);
    const ax = dm.axis.get(t);
    if (ax === undefined) {
      cache.set(key, undefined);
      return undefined;
    } // not an attention tensor the plan touches
    const denseSize = shapes.dense(t)[ax]!;
    // source (tensor, dense index) for every dense index of t
    const srcTensor: string[] = new Array(denseSize).fill(t);
    const srcIndex = Int32Array.from({ length: denseSize }, (_, i) => i);
    for (let u = 0; u < plan.unitsPerLayer; u++) {
      if (!isTarget(plan, l, u)) continue;
      const [sl, su] = plan.storedFrom[l]![u]!;
      for (const p of projs) {
        const d = layouts[l]![u]![p],
          s = layouts[sl]![su]![p];
        if (!d || !s || d.tensor !== t) continue;
        const di = flatIndices(d),
          si = flatIndices(s);
        for (let k = 0; k < di.length; k++) {
          srcTensor[di[k]!] = s.tensor;
          srcIndex[di[k]!] = si[k]!;
        }
      }
    }
    const tensors = [...new Set(srcTensor)];
    const own = cmap(t);
    if (tensors.length === 1 && tensors[0] === t && own.every((c, i) => c === i)) {
      cache.set(key, undefined);
      return undefined;
    }
    const offsets: number[] = [],
      sizes: number[] = [];
    let total = 0;
    for (const bt of tensors) {
      offsets.push(total);
      sizes.push(shapes.stored(bt)[ax]!);
      total += shapes.stored(bt)[ax]!;
    }
    const offset = new Map(tensors.map((bt, i) => [bt, offsets[i]!]));
    const idx = new BigInt64Array(denseSize);
    for (let i = 0; i < denseSize; i++) {
      const c = cmap(srcTensor[i]!)[srcIndex[i]!]!;
      if (c < 0)
        throw new OnnxError(
          "bad-graph",
          `${file}: layer ${l} "${t}" index ${i} reads a dropped slice of "${srcTensor[i]}"; the plan's roots must be stored units`,
        );
      idx[i] = BigInt(offset.get(srcTensor[i]!)! + c);
    }
    const bank: Bank = { tensors, offsets, sizes, axis: ax, idx };
    cache.set(key, bank);
    return bank;
  };
}

/** Node-name marker of everything that reads a shared layer's stored units (`decoder.ts` keeps those tensors unfolded). */
export const ASSEMBLE = "/attn/assemble/";

/**
 * The weights a compact layer's assembly or projection reads (nodes marked `ASSEMBLE`): kept as
 * overridable initializers (graph inputs too) when weights become initializers, so onnxruntime
 * neither folds their weight-only nodes into new tensors nor prepacks them once per reader.
 */
export function overridableWeights(graph: IrGraph, weights: readonly WeightInput[]): Set<string> {
  const names = new Set(weights.map((w) => w.input));
  const out = new Set<string>();
  for (const n of graph.nodes) {
    if (!n.name.includes(ASSEMBLE)) continue;
    for (const i of n.inputs) if (names.has(i)) out.add(i);
  }
  return out;
}

/**
 * Returns `edge(layer, tensor)`: the graph edge holding layer `layer`'s attention tensor in its dense
 * shape, assembled from the compact inputs (or the input itself when nothing of it is shared).
 */
export function compactAssembler(b: GraphBuilder, w: WeightInputs, banks: Banks): (layer: number, tensor: string) => string {
  const cache = new Map<string, string>();
  return (l, t) => {
    const key = `${l}\u0000${t}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const bank = banks(l, t);
    let edge: string;
    if (!bank) edge = w.get(t);
    else {
      const name = `/model/layers.${l}${ASSEMBLE}${t}`;
      const parts = bank.tensors.map((bt) => w.get(bt));
      const all = parts.length === 1 ? parts[0]! : b.op("Concat", parts, `${name}/Concat`, { axis: bank.axis });
      const idxName = b.initializer(`${name}/index`, "int64", [bank.idx.length], bank.idx); // [dense size along axis]
      edge = b.op("Gather", [all, idxName], `${name}/Gather`, { axis: bank.axis });
    }
    cache.set(key, edge);
    return edge;
  };
}

/**
 * Activation-side projections of a compact checkpoint (the exported decoder): no weight is ever
 * copied. `project(l, t, x, bias, name, layout)` is x · W_dense(l, t) (+ bias), or undefined when
 * `t` is read as stored (then the caller's plain `linear` applies). With T_i the bank's tensors:
 *
 *   slice axis = outputs:  x ─┬─► Gemm(T_0) [N, o_0] ─┐
 *                             └─► Gemm(T_1) [N, o_1] ─┴─► Concat(axis 1) ─► Gather(idx, axis 1) ─► [N, out] (+ bias)
 *   slice axis = inputs:   x [N, in] ─► ScatterElements-add into zeros [N, Σ i_k] at idx ─► Slice per T_k ─► Gemm(T_k) ─► Sum ─► [N, out] (+ bias)
 *
 * (nn.Linear [out, in]: rows are outputs; GPT-2's Conv1D [in, out]: columns are outputs.) A target's
 * slice thus multiplies its root's stored slice in place; the root tensors' other rows/columns are
 * computed too and dropped (or multiplied by zero), the price of not materialising the dense weight.
 *
 * `gatherParts` (the fp16 export, where every weight read becomes a float32 copy per run anyway):
 * each T_i's rows/columns the layer reads are gathered first, so each copy holds only what is read
 * and the FLOPs are the dense projection's:
 *
 *   slice axis = outputs:  x ─► Gemm(Gather(T_i, J_i)) [N, |J_i|] ─► Concat ─► Gather(perm, axis 1) ─► [N, out]
 *   slice axis = inputs:   x ─► Gather(x, J_i, axis 1) ─► Gemm(Gather(T_i, J_i)) [N, out] ─► Sum ─► [N, out]
 */
export type Projector = (l: number, t: string, x: string, bias: string | undefined, name: string, layout: "linear" | "conv1d") => string | undefined;

export function compactProjector(
  b: GraphBuilder,
  w: WeightInputs,
  banks: Banks,
  shapes: CompactShapes,
  gatherParts = false,
  chunkElements = CAST_CHUNK_ELEMENTS,
): Projector {
  return (l, t, x, bias, name, layout) => {
    const bank = banks(l, t);
    if (!bank) return undefined;
    const n = `/model/layers.${l}${ASSEMBLE}${t}/project`;
    const transB = layout === "linear" ? { transB: 1 } : undefined;
    const outAxis = layout === "linear" ? 0 : 1;
    if (gatherParts) return projectGathered(b, w, bank, shapes, chunkElements, x, bias, name, n, transB, bank.axis === outAxis);
    const idx = b.initializer(`${n}/index`, "int64", [bank.idx.length], bank.idx); // [dense size along the slice axis]
    let y: string;
    if (bank.axis === outAxis) {
      const parts = bank.tensors.map((bt, i) => b.op("Gemm", [x, w.get(bt)], `${n}/part.${i}/Gemm`, transB)); // [N, o_i]
      const all = parts.length === 1 ? parts[0]! : b.op("Concat", parts, `${n}/Concat`, { axis: 1 });
      y = b.op("Gather", [all, idx], `${n}/Gather`, { axis: 1 }); // [N, out]
    } else {
      const total = bank.sizes.reduce((a, c) => a + c, 0);
      const rows = b.op("Slice", [b.op("Shape", [x], `${n}/Shape`), b.i64s([0]), b.i64s([1])], `${n}/rows/Slice`);
      const zshape = b.op("Concat", [rows, b.i64s([total])], `${n}/zeros/Concat`, { axis: 0 });
      const zeros = b.node(
        "ConstantOfShape",
        [zshape],
        { value: { t: { name: "", type: "float32", dims: [1], data: new Float32Array([0]) } } },
        `${n}/zeros/ConstantOfShape`,
      )[0]!; // [N, Σ i_k]
      const idx2 = b.op("Unsqueeze", [idx, b.i64s([0])], `${n}/index/Unsqueeze`); // [1, in]
      const idxN = b.op("Expand", [idx2, b.op("Shape", [x], `${n}/x/Shape`)], `${n}/index/Expand`); // [N, in]
      const moved = b.op("ScatterElements", [zeros, idxN, x], `${n}/ScatterElements`, { axis: 1, reduction: "add" }); // [N, Σ i_k]
      const parts = bank.tensors.map((bt, i) => {
        const xi =
          bank.tensors.length === 1
            ? moved
            : b.op("Slice", [moved, b.i64s([bank.offsets[i]!]), b.i64s([bank.offsets[i]! + bank.sizes[i]!]), b.i64s([1])], `${n}/part.${i}/Slice`);
        return b.op("Gemm", [xi, w.get(bt)], `${n}/part.${i}/Gemm`, transB); // [N, out]
      });
      y = parts.length === 1 ? parts[0]! : b.op("Sum", parts, `${n}/Sum`);
    }
    return bias ? b.op("Add", [y, bias], `${name}/AddBias`) : y;
  };
}

/**
 * Elements of one float32 copy of a weight (or of a piece of it) that the fp16 decoder makes per
 * run: 4 Mi (16 MiB). Larger reads are cut into pieces of at most this many, so onnxruntime's arena
 * holds a few such pieces, not a whole layer's (or the LM head's) float32 weights.
 */
export const CAST_CHUNK_ELEMENTS = 4 * 2 ** 20;

/** `compactProjector` with `gatherParts`: per stored tensor, only the rows/columns read, in pieces of ≤ CAST_CHUNK_ELEMENTS (see there). */
function projectGathered(
  b: GraphBuilder,
  w: WeightInputs,
  bank: Bank,
  shapes: CompactShapes,
  chunkElements: number,
  x: string,
  bias: string | undefined,
  name: string,
  n: string,
  transB: { transB: number } | undefined,
  outputs: boolean,
): string {
  // dense positions J_i read from part i, and where each lands in part i
  const dense: number[][] = bank.tensors.map(() => []),
    local: number[][] = bank.tensors.map(() => []);
  bank.idx.forEach((v, j) => {
    const c = Number(v);
    let i = bank.offsets.length - 1;
    while (bank.offsets[i]! > c) i--;
    dense[i]!.push(j);
    local[i]!.push(c - bank.offsets[i]!);
  });
  const i64 = (vals: number[], what: string): string => b.initializer(`${n}/${what}`, "int64", [vals.length], BigInt64Array.from(vals, BigInt));
  const pieces: { i: number; dense: number[]; local: number[]; k: number }[] = [];
  bank.tensors.forEach((bt, i) => {
    const width = shapes.stored(bt)[1 - bank.axis]!; // elements per row/column read
    const per = Math.max(1, Math.floor(chunkElements / width));
    for (let a = 0, k = 0; a < dense[i]!.length; a += per, k++) pieces.push({ i, dense: dense[i]!.slice(a, a + per), local: local[i]!.slice(a, a + per), k });
  });
  const parts = pieces.map(({ i, dense: dj, local: lj, k }) => {
    const p = `${n}/part.${i}${k ? `.${k}` : ""}`;
    const wi = b.op("Gather", [w.get(bank.tensors[i]!), i64(lj, `${p.slice(n.length + 1)}/rows`)], `${p}/Gather`, { axis: bank.axis }); // T_i's read rows/columns
    const xi = outputs ? x : b.op("Gather", [x, i64(dj, `${p.slice(n.length + 1)}/inputs`)], `${p}/x/Gather`, { axis: 1 }); // [N, |J|]
    return b.op("Gemm", [xi, wi], `${p}/Gemm`, transB); // outputs: [N, |J|]; inputs: [N, out]
  });
  let y: string;
  if (!outputs) y = parts.length === 1 ? parts[0]! : b.op("Sum", parts, `${n}/Sum`);
  else {
    const order = pieces.flatMap((q) => q.dense); // concatenated position → dense output
    const perm = new Array<number>(order.length);
    order.forEach((j, k) => (perm[j] = k));
    const all = parts.length === 1 ? parts[0]! : b.op("Concat", parts, `${n}/Concat`, { axis: 1 }); // [N, out] in part order
    y = order.every((j, k) => j === k) ? all : b.op("Gather", [all, i64(perm, "perm")], `${n}/Gather`, { axis: 1 }); // [N, out]
  }
  return bias ? b.op("Add", [y, bias], `${name}/AddBias`) : y;
}

/**
 * x · W(layer, tensor) (+ bias) of an attention projection: on a compact checkpoint's stored units
 * when `project` is given (activation side, no weight copied), else one Gemm on `weight(l, t)` (the
 * tensor as stored, or assembled by `compactAssembler`).
 */
export type AttentionLinear = (l: number, t: string, x: string, bias: string | undefined, name: string, layout: "linear" | "conv1d") => string;

export function attentionLinear(b: GraphBuilder, weight: (l: number, t: string) => string, project: Projector | undefined): AttentionLinear {
  return (l, t, x, bias, name, layout) => project?.(l, t, x, bias, name, layout) ?? linear(b, x, weight(l, t), bias, name, layout);
}

/**
 * A decoder's attention weights (GPT-2, GPT-NeoX, Llama): `attn(l, t)`, the edge of layer l's
 * attention tensor t in its dense shape (assembled from the stored units on a compact checkpoint),
 * and `lin`, x · W on it, or on the stored units without assembling (`compactProjector`) when `opts`
 * ask for compact activations (default: with the KV cache).
 */
export function decoderAttention(
  b: GraphBuilder,
  w: WeightInputs,
  spec: ModelSpec,
  shapes: CompactShapes,
  opts: ForwardOptions,
  file: string,
): { readonly attn: (l: number, t: string) => string; readonly lin: AttentionLinear } {
  const banks = opts.compactPlan ? compactBanks(spec, opts.compactPlan, shapes, file) : undefined;
  const asm = banks ? compactAssembler(b, w, banks) : undefined;
  const attn = (l: number, t: string): string => (asm ? asm(l, t) : w.get(t));
  const project =
    banks && (opts.compactActivations ?? !!opts.kvCache) ? compactProjector(b, w, banks, shapes, !!opts.compactGatherParts, opts.castChunkElements) : undefined;
  return { attn, lin: attentionLinear(b, attn, project) };
}
