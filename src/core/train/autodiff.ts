/**
 * Reverse-mode differentiation of an IrGraph. Given a forward graph, the name of its scalar loss
 * and the trainable graph inputs, appends the backward pass (rules in `./grads/`) and returns one
 * graph that onnxruntime runs in a single call: the forward outputs plus `grad/<input>` for each
 * trainable input, shaped like that input.
 *
 *   forward nodes ─► loss ─► seed d(loss) = 1 ─► rules in reverse topological order ─► grad/<w>
 *
 * Only nodes on a path from a trainable input to the loss get a rule; a value read by several
 * nodes sums its gradient contributions (Sum). Broadcasting is undone inside the rules.
 */
import type { ElemType, IrGraph, IrNode, IrValue } from "../onnx/ir";
import { TrainError } from "./errors";
import { FLOAT_TYPES, GradContext, type FloatType } from "./grads/context";
import { GRAD_RULES, NON_DIFFERENTIABLE_OPS, differentiableInputs } from "./grads/index";
import { inferStaticInfo } from "./staticInfo";

export interface AutodiffOptions {
  /** Name of the scalar float value to differentiate (a graph output or any intermediate value). */
  readonly loss: string;
  /** Graph inputs to differentiate with respect to (float tensors of the same type). */
  readonly wrt: readonly string[];
  /** Forward outputs to keep (default: all, plus the loss if it is not one). */
  readonly keepOutputs?: readonly string[];
  /** Prefix of the gradient outputs (default "grad/"). */
  readonly gradPrefix?: string;
}

export interface GradientGraph {
  readonly graph: IrGraph;
  /** Trainable input → name of its gradient output. */
  readonly gradOutputs: Readonly<Record<string, string>>;
  /** Nodes the backward pass added. */
  readonly backwardNodes: number;
}

const CAST_FLOAT = new Set([1, 10, 11, 16]); // FLOAT, FLOAT16, DOUBLE, BFLOAT16

/** Orders nodes so every input is produced before use; throws on a cycle. */
function topoSort(graph: IrGraph): IrNode[] {
  const available = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.map((t) => t.name), ""]);
  const producer = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  if (
    graph.nodes.every((n) => {
      const ok = n.inputs.every((x) => available.has(x));
      n.outputs.forEach((o) => available.add(o));
      return ok;
    })
  )
    return graph.nodes;
  const order: IrNode[] = [];
  const state = new Uint8Array(graph.nodes.length); // 0 new, 1 visiting, 2 done
  const visit = (i: number): void => {
    if (state[i] === 2) return;
    if (state[i] === 1) throw new TrainError("bad-graph", `autodiff: graph "${graph.name}" has a cycle at node "${graph.nodes[i]!.name}"`);
    state[i] = 1;
    for (const x of graph.nodes[i]!.inputs) {
      const p = producer.get(x);
      if (p !== undefined) visit(p);
    }
    state[i] = 2;
    order.push(graph.nodes[i]!);
  };
  graph.nodes.forEach((_, i) => visit(i));
  return order;
}

export function buildGradientGraph(forward: IrGraph, opts: AutodiffOptions): GradientGraph {
  const prefix = opts.gradPrefix ?? "grad/";
  if (forward.opset < 16)
    throw new TrainError(
      "bad-graph",
      `autodiff: graph "${forward.name}" uses opset ${forward.opset}; the gradient rules need opset ≥ 16 (ScatterND with reduction): build the graph with a newer opset`,
    );
  if (opts.wrt.length === 0) throw new TrainError("bad-options", "autodiff: no trainable inputs given; pass at least one graph input name in `wrt`");
  const inputs = new Map(forward.inputs.map((v) => [v.name, v]));
  let floatType: ElemType | undefined;
  for (const w of opts.wrt) {
    const v = inputs.get(w);
    if (!v)
      throw new TrainError(
        "bad-options",
        `autodiff: "${w}" is not an input of graph "${forward.name}"; trainable tensors must be graph inputs (inputs: ${forward.inputs
          .slice(0, 8)
          .map((x) => x.name)
          .join(", ")}...)`,
      );
    if (!FLOAT_TYPES.has(v.type)) throw new TrainError("bad-options", `autodiff: input "${w}" is ${v.type}; only float inputs can be trained`);
    if (floatType && floatType !== v.type) throw new TrainError("bad-options", `autodiff: trainable inputs mix ${floatType} and ${v.type}; use one float type`);
    floatType = v.type;
  }
  const nodes = topoSort(forward);
  const produced = new Set<string>([...forward.inputs.map((v) => v.name), ...forward.initializers.map((t) => t.name)]);
  nodes.forEach((n) => n.outputs.forEach((o) => produced.add(o)));
  if (!produced.has(opts.loss)) throw new TrainError("bad-options", `autodiff: loss "${opts.loss}" is not a value of graph "${forward.name}"`);

  // Values that depend on a trainable input through differentiable edges.
  const live = new Set<string>(opts.wrt);
  for (const n of nodes) {
    if (NON_DIFFERENTIABLE_OPS.has(n.op)) continue;
    if (n.op === "Cast") {
      const to = n.attrs?.["to"];
      if (!to || !("i" in to) || !CAST_FLOAT.has(to.i)) continue;
    }
    const diff = differentiableInputs(n.op, n.inputs.length);
    if (diff.some((i) => live.has(n.inputs[i] ?? ""))) n.outputs.forEach((o) => live.add(o));
  }
  if (!live.has(opts.loss)) throw new TrainError("bad-graph", `autodiff: loss "${opts.loss}" does not depend on any trainable input`);
  // Values the loss depends on.
  const toLoss = new Set<string>([opts.loss]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (n.outputs.some((o) => toLoss.has(o))) n.inputs.forEach((x) => x && toLoss.add(x));
  }
  const active = (v: string): boolean => live.has(v) && toLoss.has(v);

  const info = inferStaticInfo(forward);
  const ctx = new GradContext(floatType as FloatType, info);
  const contributions = new Map<string, string[]>();
  const addGrad = (v: string, g: string): void => {
    const list = contributions.get(v);
    if (list) list.push(g);
    else contributions.set(v, [g]);
  };
  const total = (v: string): string | undefined => {
    const list = contributions.get(v);
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    const s = ctx.op("Sum", list);
    contributions.set(v, [s]);
    return s;
  };

  ctx.current = "/seed";
  const lossRank = info.get(opts.loss)?.rank;
  addGrad(opts.loss, lossRank === 0 ? ctx.op("Identity", [ctx.scalar(1)]) : ctx.op("Expand", [ctx.scalar(1), ctx.shape(opts.loss)]));

  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.outputs.some(active)) continue;
    const dOut = n.outputs.map((o) => (active(o) ? total(o) : undefined));
    if (dOut.every((d) => d === undefined)) continue;
    const diff = new Set(differentiableInputs(n.op, n.inputs.length));
    const needs = n.inputs.map((x, k) => !!x && diff.has(k) && active(x));
    if (!needs.some((b) => b)) continue;
    const rule = GRAD_RULES[n.op];
    if (!rule) {
      throw new TrainError(
        "no-gradient-rule",
        `autodiff: no gradient rule for op ${n.op} (node "${n.name}"); supported: ${Object.keys(GRAD_RULES).sort().join(", ")}. Rewrite the forward graph with supported ops or add a rule in src/core/train/grads/`,
      );
    }
    ctx.current = n.name.startsWith("/") ? n.name : `/${n.name}`;
    const dIn = rule(n, dOut, ctx, needs);
    n.inputs.forEach((x, k) => {
      const g = dIn[k];
      if (needs[k] && g) addGrad(x, g);
    });
  }

  ctx.current = "/outputs";
  const gradOutputs: Record<string, string> = {};
  const outNodes: IrNode[] = [];
  const outValues: IrValue[] = [];
  for (const w of opts.wrt) {
    const name = `${prefix}${w}`;
    const g = total(w) ?? ctx.zerosLike(w);
    outNodes.push({ name: `/grad/outputs/${w}`, op: "Identity", inputs: [g], outputs: [name] });
    outValues.push({ name, type: floatType!, shape: [...inputs.get(w)!.shape] });
    gradOutputs[w] = name;
  }
  const keep = opts.keepOutputs ? new Set(opts.keepOutputs) : undefined;
  const fwdOutputs = forward.outputs.filter((o) => !keep || keep.has(o.name));
  if (!forward.outputs.some((o) => o.name === opts.loss) && (!keep || keep.has(opts.loss))) {
    fwdOutputs.push({ name: opts.loss, type: floatType!, shape: lossRank === 0 ? [] : Array.from({ length: lossRank ?? 1 }, (_, k) => `loss_${k}`) });
  }
  const graph: IrGraph = {
    name: `${forward.name}+grad`,
    nodes: [...nodes, ...ctx.nodes, ...outNodes],
    inputs: [...forward.inputs],
    outputs: [...fwdOutputs, ...outValues],
    initializers: [...forward.initializers, ...ctx.initializers],
    opset: forward.opset,
  };
  return { graph, gradOutputs, backwardNodes: ctx.nodes.length + outNodes.length };
}
