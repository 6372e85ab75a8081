/**
 * The training graph: a forward graph with a per-token `nll` output, plus the losses, plus the
 * backward pass (autodiff) — one graph, one ORT call per micro-batch.
 *
 *   nll [B, S] ─► ReduceMean ─► lm ─────────────────────────────► Mul(λ_lm) ─┐
 *   for each (target, root, p ∈ regularize):                                   ├─► Add ─► loss ─► backward ─► grad/<w>
 *     W_p[target rows] − W_p[root rows] ─► ReduceSumSquare ─► Add(ε) ─► Sqrt   │
 *     ... Sum ─► Div(N) ─► weight ──────────────────────────────► Mul(λ_w) ──┘
 *
 * `regularize` is PostShare's projection list (default q, k, v, o; the paper's loss is q, k, v: see
 * docs/method.md). With `weightLoss: "mse"` each pair term is the mean of the squared difference
 * instead of the Frobenius norm. Outputs: `loss`, `lm_loss`, `weight_loss` (float32 scalars) and the gradients.
 */
import type { IrGraph, IrNode, IrTensor } from "../onnx/ir";
import type { SliceRef } from "../model/types";
import { buildGradientGraph } from "./autodiff";
import { TrainError } from "./errors";

export const LOSS = "loss";
export const LM_LOSS = "lm_loss";
export const WEIGHT_LOSS = "weight_loss";

/** One regularised pair: the same projection's slices of a target unit and of its root. */
export interface WeightPair {
  readonly target: SliceRef;
  readonly root: SliceRef;
  /** For reports: the projection ("q" | "k" | "v" | "o") and the units. */
  readonly label: string;
}

export interface TrainGraphOptions {
  /** Name of the per-token NLL output of the forward graph ([B, S]). */
  readonly nll: string;
  /** Graph inputs to train. */
  readonly trainable: readonly string[];
  readonly lambdaLm: number;
  readonly lambdaW: number;
  readonly weightLoss: "l2" | "mse";
  readonly pairs: readonly WeightPair[];
  /** Number of targets N the weight loss is averaged over (pairs are N × the regularised projections). */
  readonly targets: number;
  /** ε inside the square root (defined gradient at W(target) = W(root)); default 1e-12. */
  readonly sqrtEps?: number;
}

export interface TrainGraph {
  readonly graph: IrGraph;
  readonly gradOutputs: Readonly<Record<string, string>>;
  readonly backwardNodes: number;
}

export function buildTrainGraph(forward: IrGraph, opts: TrainGraphOptions): TrainGraph {
  if (!forward.outputs.some((o) => o.name === opts.nll)) {
    throw new TrainError("bad-graph", `training graph: the forward graph has no "${opts.nll}" output; build it with the nll option`);
  }
  for (const [k, v] of [
    ["lambdaLm", opts.lambdaLm],
    ["lambdaW", opts.lambdaW],
  ] as const) {
    if (!Number.isFinite(v) || v < 0) throw new TrainError("bad-options", `training graph: ${k} must be a finite number ≥ 0, got ${v}`);
  }
  const type = forward.inputs.find((i) => i.name === opts.trainable[0])?.type ?? "float32";
  const nodes: IrNode[] = [];
  const inits: IrTensor[] = [];
  let k = 0;
  const consts = new Map<string, string>();
  const scalar = (v: number): string => {
    const key = String(v);
    const hit = consts.get(key);
    if (hit) return hit;
    const name = `/loss/constants/${type}/${consts.size}`;
    inits.push({ name, type, dims: [], data: type === "float64" ? Float64Array.of(v) : Float32Array.of(v) });
    consts.set(key, name);
    return name;
  };
  const ints = (v: readonly number[]): string => {
    const name = `/loss/constants/int64/${k++}`;
    inits.push({ name, type: "int64", dims: [v.length], data: BigInt64Array.from(v, (x) => BigInt(x)) });
    return name;
  };
  const op = (o: string, inputs: string[], name: string, attrs?: IrNode["attrs"]): string => {
    const out = `${name}/output_0`;
    nodes.push({ name, op: o, inputs, outputs: [out], ...(attrs ? { attrs } : {}) });
    return out;
  };
  const slice = (ref: SliceRef, name: string): string => {
    const parts = ref.ranges.map(([b, e], i) => op("Slice", [ref.tensor, ints([b]), ints([e]), ints([ref.axis])], `${name}/Slice_${i}`));
    return parts.length === 1 ? parts[0]! : op("Concat", parts, `${name}/Concat`, { axis: { i: ref.axis } });
  };

  const lm = op("ReduceMean", [opts.nll], "/loss/lm/ReduceMean", { keepdims: { i: 0 } });
  let weight: string;
  if (opts.pairs.length === 0 || opts.targets === 0) {
    weight = op("Identity", [scalar(0)], "/loss/weight/Zero");
  } else {
    const terms = opts.pairs.map((p, i) => {
      const base = `/loss/weight/pair_${i}`;
      const d = op("Sub", [slice(p.target, `${base}/target`), slice(p.root, `${base}/root`)], `${base}/Sub`);
      if (opts.weightLoss === "mse") return op("ReduceMean", [op("Mul", [d, d], `${base}/Square`)], `${base}/ReduceMean`, { keepdims: { i: 0 } });
      const ss = op("ReduceSumSquare", [d], `${base}/ReduceSumSquare`, { keepdims: { i: 0 } });
      return op("Sqrt", [op("Add", [ss, scalar(opts.sqrtEps ?? 1e-12)], `${base}/AddEps`)], `${base}/Sqrt`);
    });
    const sum = terms.length === 1 ? terms[0]! : op("Sum", terms, "/loss/weight/Sum");
    weight = op("Div", [sum, scalar(opts.targets)], "/loss/weight/Div");
  }
  const total = op(
    "Add",
    [op("Mul", [lm, scalar(opts.lambdaLm)], "/loss/lm/Scale"), op("Mul", [weight, scalar(opts.lambdaW)], "/loss/weight/Scale")],
    "/loss/Add",
  );
  nodes.push({ name: "/loss/out/loss", op: "Identity", inputs: [total], outputs: [LOSS] });
  nodes.push({ name: "/loss/out/lm", op: "Identity", inputs: [lm], outputs: [LM_LOSS] });
  nodes.push({ name: "/loss/out/weight", op: "Identity", inputs: [weight], outputs: [WEIGHT_LOSS] });

  const withLoss: IrGraph = {
    ...forward,
    name: `${forward.name}+loss`,
    nodes: [...forward.nodes, ...nodes],
    initializers: [...forward.initializers, ...inits],
    outputs: [LOSS, LM_LOSS, WEIGHT_LOSS].map((name) => ({ name, type, shape: [] })),
  };
  return buildGradientGraph(withLoss, { loss: LOSS, wrt: opts.trainable });
}
