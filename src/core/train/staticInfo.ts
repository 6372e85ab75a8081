/**
 * Static facts about the values of an IrGraph that gradient rules need: the rank of each tensor
 * (when the graph determines it) and the value of small integer tensors (axes, perms, shapes built
 * from constants). Symbolic dims (batch, sequence) stay unknown; ranks are almost always known.
 */
import type { IrGraph, IrNode, IrTensor } from "../onnx/ir";

export interface ValueInfo {
  /** Rank, when known. */
  rank?: number;
  /** For small integer tensors: the flattened value when fully known. */
  ints?: number[];
  /** For 1-D tensors: their length when known (shape tensors: the rank they describe). */
  len?: number;
}

const SAME_AS_FIRST = new Set([
  "Neg",
  "Sqrt",
  "Exp",
  "Log",
  "Sigmoid",
  "Tanh",
  "Cast",
  "CastLike",
  "Identity",
  "Softmax",
  "LogSoftmax",
  "Relu",
  "Erf",
  "Abs",
  "Reciprocal",
  "Not",
  "Trilu",
  "IsNaN",
  "IsInf",
  "Sin",
  "Cos",
  "Floor",
  "Ceil",
  "Round",
  "ScatterND",
  "ScatterElements",
  "Dropout",
  "Softplus",
  "HardSigmoid",
  "LeakyRelu",
  "Gelu",
]);
const BROADCAST = new Set([
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Pow",
  "Where",
  "Equal",
  "Less",
  "LessOrEqual",
  "Greater",
  "GreaterOrEqual",
  "And",
  "Or",
  "Xor",
  "Max",
  "Min",
  "Sum",
  "Mod",
]);
const MAX_INTS = 64;

function tensorInts(t: IrTensor): number[] | undefined {
  if (t.type !== "int64" && t.type !== "int32") return undefined;
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (n > MAX_INTS) return undefined;
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

function attrInt(node: IrNode, key: string, dflt: number): number {
  const a = node.attrs?.[key];
  return a && "i" in a ? a.i : dflt;
}

function attrInts(node: IrNode, key: string): readonly number[] | undefined {
  const a = node.attrs?.[key];
  return a && "ints" in a ? a.ints : undefined;
}

/** Infers ranks and small integer values forward through the graph. */
export function inferStaticInfo(graph: IrGraph, extra: ReadonlyMap<string, ValueInfo> = new Map()): Map<string, ValueInfo> {
  const info = new Map<string, ValueInfo>(extra);
  for (const v of graph.inputs)
    info.set(v.name, { rank: v.shape.length, ...(v.shape.length === 1 && typeof v.shape[0] === "number" ? { len: v.shape[0] } : {}) });
  for (const t of graph.initializers) {
    const ints = tensorInts(t);
    info.set(t.name, { rank: t.dims.length, ...(ints ? { ints } : {}), ...(t.dims.length === 1 ? { len: t.dims[0]! } : {}) });
  }
  for (const node of graph.nodes) inferNode(node, info);
  return info;
}

/** Adds the facts about one node's outputs to `info` (used for emitted gradient nodes too). */
export function inferNode(node: IrNode, info: Map<string, ValueInfo>): void {
  const get = (i: number): ValueInfo => (node.inputs[i] ? (info.get(node.inputs[i]!) ?? {}) : {});
  const set = (v: ValueInfo, out = 0): void => {
    if (v.ints && v.rank === 1 && v.len === undefined) v.len = v.ints.length;
    if (v.len !== undefined && v.rank === undefined) v.rank = 1;
    if (node.outputs[out]) info.set(node.outputs[out]!, v);
  };
  const op = node.op;
  const a = get(0);
  if (op === "Constant") {
    const t = node.attrs?.["value"];
    if (t && "t" in t) {
      const ints = tensorInts(t.t);
      set({ rank: t.t.dims.length, ...(ints ? { ints } : {}), ...(t.t.dims.length === 1 ? { len: t.t.dims[0]! } : {}) });
    } else if (node.attrs?.["value_ints"]) {
      const ints = [...attrInts(node, "value_ints")!];
      set({ rank: 1, ints, len: ints.length });
    } else if (node.attrs?.["value_int"]) {
      set({ rank: 0, ints: [attrInt(node, "value_int", 0)] });
    } else {
      set(node.attrs?.["value_float"] ? { rank: 0 } : {});
    }
    return;
  }
  if (op === "Shape") {
    if (a.rank === undefined) return set({ rank: 1 });
    const start = attrInt(node, "start", 0),
      end = attrInt(node, "end", a.rank);
    const norm = (x: number): number => Math.min(Math.max(x < 0 ? x + a.rank! : x, 0), a.rank!);
    return set({ rank: 1, len: Math.max(0, norm(end) - norm(start)) });
  }
  if (op === "Size") return set({ rank: 0 });
  if (SAME_AS_FIRST.has(op)) {
    const v: ValueInfo = { ...(a.rank !== undefined ? { rank: a.rank } : {}) };
    if ((op === "Cast" || op === "Identity") && a.ints) v.ints = [...a.ints];
    if (a.len !== undefined) v.len = a.len;
    return set(v);
  }
  if (BROADCAST.has(op)) {
    const ranks = node.inputs.filter((x) => x).map((x) => info.get(x)?.rank);
    const rank = ranks.every((r) => r !== undefined) ? Math.max(...(ranks as number[])) : undefined;
    const v: ValueInfo = rank !== undefined ? { rank } : {};
    const b = get(1);
    if (a.ints && b.ints && ["Add", "Sub", "Mul", "Div"].includes(op)) {
      const n = Math.max(a.ints.length, b.ints.length);
      if ((a.ints.length === n || a.ints.length === 1) && (b.ints.length === n || b.ints.length === 1)) {
        v.ints = Array.from({ length: n }, (_, i) => {
          const x = a.ints![a.ints!.length === 1 ? 0 : i]!,
            y = b.ints![b.ints!.length === 1 ? 0 : i]!;
          return op === "Add" ? x + y : op === "Sub" ? x - y : op === "Mul" ? x * y : Math.trunc(x / y);
        });
      }
    }
    return set(v);
  }
  switch (op) {
    case "Gemm":
      return set({ rank: 2 });
    case "MatMul":
      return set(a.rank !== undefined && get(1).rank !== undefined ? { rank: Math.max(a.rank, get(1).rank!) } : {});
    case "Reshape":
      return set(get(1).len !== undefined ? { rank: get(1).len! } : {});
    case "Expand": {
      const l = get(1).len;
      return set(l !== undefined && a.rank !== undefined ? { rank: Math.max(l, a.rank) } : {});
    }
    case "ConstantOfShape":
      return set(a.len !== undefined ? { rank: a.len } : {});
    case "Transpose":
      return set(a.rank !== undefined ? { rank: a.rank } : {});
    case "Unsqueeze": {
      const axes = node.inputs[1] ? get(1).ints : attrInts(node, "axes");
      if (a.rank === undefined || !axes) return set({});
      const v: ValueInfo = { rank: a.rank + axes.length };
      if (a.ints && a.rank === 0 && axes.length === 1) v.ints = [...a.ints];
      if (a.ints && a.rank === 1) v.ints = [...a.ints];
      return set(v);
    }
    case "Squeeze": {
      const axes = node.inputs[1] ? get(1).ints : attrInts(node, "axes");
      if (a.rank === undefined || !axes) return set({});
      const v: ValueInfo = { rank: a.rank - axes.length };
      if (a.ints && a.ints.length === 1 && v.rank === 0) v.ints = [...a.ints];
      return set(v);
    }
    case "Flatten":
      return set({ rank: 2 });
    case "Concat": {
      const parts = node.inputs.map((x) => info.get(x) ?? {});
      const rank = parts[0]?.rank;
      const v: ValueInfo = rank !== undefined ? { rank } : {};
      if (rank === 1) {
        if (parts.every((p) => p.len !== undefined)) v.len = parts.reduce((s, p) => s + p.len!, 0);
        if (parts.every((p) => p.ints)) v.ints = parts.flatMap((p) => p.ints!);
      }
      return set(v);
    }
    case "Gather": {
      const idx = get(1);
      if (a.rank === undefined || idx.rank === undefined) return set({});
      const v: ValueInfo = { rank: a.rank - 1 + idx.rank };
      if (a.rank === 1 && idx.rank === 1 && idx.len !== undefined) v.len = idx.len;
      if (a.rank === 1 && a.ints && idx.ints) {
        const n = a.ints.length;
        v.ints = idx.ints.map((i) => a.ints![i < 0 ? i + n : i]!);
      }
      return set(v);
    }
    case "GatherElements":
      return set(get(1).rank !== undefined ? { rank: get(1).rank! } : {});
    case "Slice": {
      const v: ValueInfo = a.rank !== undefined ? { rank: a.rank } : {};
      const starts = get(1).ints,
        ends = get(2).ints,
        axes = node.inputs[3] ? get(3).ints : [0],
        steps = node.inputs[4] ? get(4).ints : [1];
      if (a.rank === 1 && a.len !== undefined && starts && ends && axes && steps && starts.length === 1 && steps[0] === 1) {
        const n = a.len;
        const clamp = (x: number): number => Math.min(Math.max(x < 0 ? x + n : x, 0), n);
        const s = clamp(starts[0]!),
          e = clamp(ends[0]!);
        v.len = Math.max(0, e - s);
        if (a.ints) v.ints = a.ints.slice(s, e);
      }
      return set(v);
    }
    case "Split": {
      for (let i = 0; i < node.outputs.length; i++) set(a.rank !== undefined ? { rank: a.rank } : {}, i);
      return;
    }
    case "ReduceSum":
    case "ReduceMean":
    case "ReduceSumSquare":
    case "ReduceMax":
    case "ReduceMin":
    case "ReduceProd":
    case "ReduceL2": {
      const keep = attrInt(node, "keepdims", 1);
      if (a.rank === undefined) return set({});
      if (keep) return set({ rank: a.rank });
      const axes = node.inputs[1] ? get(1).ints : attrInts(node, "axes");
      if (!node.inputs[1] && !attrInts(node, "axes")) return set({ rank: 0 });
      return set(axes ? { rank: a.rank - axes.length } : {});
    }
    case "ArgMax":
    case "ArgMin": {
      const keep = attrInt(node, "keepdims", 1);
      return set(a.rank !== undefined ? { rank: keep ? a.rank : a.rank - 1 } : {});
    }
    case "Range":
      return set({ rank: 1 });
    case "NonZero":
      return set({ rank: 2 });
    case "OneHot":
      return set(a.rank !== undefined ? { rank: a.rank + 1 } : {});
    case "Einsum":
      return set({});
    default:
      return set({});
  }
}
