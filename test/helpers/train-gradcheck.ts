/**
 * Gradient checking for the training engine's tests: the analytic gradient of a float64 graph
 * (autodiff + onnxruntime CPU) against central finite differences of the same loss.
 *
 *   loss = Σ y ⊙ r    (r: fixed random weights shaped like y, so every output element matters)
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../../src/core/onnx/builder";
import type { ElemType, IrGraph } from "../../src/core/onnx/ir";
import { serializeModel } from "../../src/core/onnx/serialize";
import { createSession, Tensor, type OrtTensor } from "../../src/core/runtime/ort";
import { buildGradientGraph } from "../../src/core/train/autodiff";

/** mulberry32: a small seeded RNG (the project's one, src/core/model/rng.ts). */
import { mulberry32 as rng } from "../../src/core/model/rng";
export { rng };

export interface CheckInput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type?: ElemType; // default float64
  /** Values (default: uniform in [lo, hi)). */
  readonly data?: readonly number[];
  readonly lo?: number;
  readonly hi?: number;
  /** Take the gradient w.r.t. this input (default: true for float64). */
  readonly trainable?: boolean;
}

export interface CheckResult {
  readonly maxAbsErr: number;
  readonly maxRelErr: number;
  readonly checked: number;
  readonly backwardNodes: number;
}

function makeTensor(type: ElemType, dims: readonly number[], data: readonly number[]): OrtTensor {
  switch (type) {
    case "float64":
      return new Tensor("float64", Float64Array.from(data), [...dims]);
    case "float32":
      return new Tensor("float32", Float32Array.from(data), [...dims]);
    case "int64":
      return new Tensor("int64", BigInt64Array.from(data.map((v) => BigInt(Math.round(v)))), [...dims]);
    case "bool":
      return new Tensor("bool", Uint8Array.from(data), [...dims]);
    default:
      throw new Error(`test helper: unsupported input type ${type}`);
  }
}

/**
 * Builds `y = build(b, inputs)` as float64, adds loss = Σ y·r, differentiates w.r.t. the
 * trainable inputs and compares with central differences (step h) at up to `maxPerInput`
 * elements per input. Asserts |analytic − numeric| ≤ tol·(1 + |numeric|).
 */
export async function gradCheck(
  label: string,
  inputs: readonly CheckInput[],
  build: (b: GraphBuilder, names: readonly string[]) => string,
  opts: { seed?: number; h?: number; tol?: number; maxPerInput?: number; opset?: number } = {},
): Promise<CheckResult> {
  const rand = rng(opts.seed ?? 1);
  const values = inputs.map((inp) => {
    const n = inp.dims.reduce((a, b) => a * b, 1);
    return inp.data ? [...inp.data] : Array.from({ length: n }, () => (inp.lo ?? -1) + ((inp.hi ?? 1) - (inp.lo ?? -1)) * rand());
  });
  const types = inputs.map((inp) => inp.type ?? "float64");
  const trainable = inputs.map((inp, i) => inp.trainable ?? types[i] === "float64");

  const graphWith = (r: { dims: number[]; data: Float64Array } | undefined): IrGraph => {
    const b = new GraphBuilder(label, opts.opset ?? 17);
    const names = inputs.map((inp, i) => b.input(inp.name, types[i]!, inp.dims));
    const y = build(b, names);
    if (!r) {
      b.output(b.op("Shape", [y], "/probe/Shape"), "int64", ["rank"]);
      return b.build();
    }
    const rName = b.initializer("r", "float64", r.dims, r.data);
    const loss = b.op("ReduceSum", [b.op("Mul", [y, rName], "/loss/Mul")], "/loss/ReduceSum", { keepdims: 0 });
    b.output(loss, "float64", []);
    return b.build();
  };
  const feedsOf = (vals: readonly (readonly number[])[]): Record<string, OrtTensor> =>
    Object.fromEntries(inputs.map((inp, i) => [inp.name, makeTensor(types[i]!, inp.dims, vals[i]!)]));

  // 1. Shape of y.
  const probe = await createSession(serializeModel(graphWith(undefined)), { providers: ["cpu"], intraOpThreads: 1 });
  const probeOut = await probe.session.run(feedsOf(values));
  const yDims = Array.from(probeOut[probe.session.outputNames[0]!]!.data as BigInt64Array, Number);
  const r = Float64Array.from({ length: yDims.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1);
  await probe.session.release();

  // 2. Loss + gradients.
  const fwd = graphWith({ dims: yDims, data: r });
  const loss = fwd.outputs[0]!.name;
  const wrt = inputs.filter((_, i) => trainable[i]).map((inp) => inp.name);
  const { graph, gradOutputs, backwardNodes } = buildGradientGraph(fwd, { loss, wrt });
  const { session } = await createSession(serializeModel(graph), { providers: ["cpu"], intraOpThreads: 1 });
  const lossAt = async (vals: readonly (readonly number[])[]): Promise<number> => {
    const out = await session.run(feedsOf(vals), [loss]);
    return Number((out[loss]!.data as Float64Array)[0]);
  };
  const out = await session.run(feedsOf(values));

  const h = opts.h ?? 1e-6,
    tol = opts.tol ?? 1e-6,
    maxPer = opts.maxPerInput ?? 64;
  let maxAbsErr = 0,
    maxRelErr = 0,
    checked = 0;
  for (let i = 0; i < inputs.length; i++) {
    if (!trainable[i]) continue;
    const g = out[gradOutputs[inputs[i]!.name]!]!;
    assert.deepEqual([...g.dims], [...inputs[i]!.dims], `${label}: gradient of ${inputs[i]!.name} has the input's shape`);
    const ga = g.data as Float64Array;
    const n = values[i]!.length;
    const idx = n <= maxPer ? Array.from({ length: n }, (_, k) => k) : Array.from({ length: maxPer }, () => Math.floor(rand() * n));
    for (const k of idx) {
      const plus = values.map((v) => [...v]),
        minus = values.map((v) => [...v]);
      plus[i]![k] = values[i]![k]! + h;
      minus[i]![k] = values[i]![k]! - h;
      const numeric = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
      const analytic = ga[k]!;
      const abs = Math.abs(analytic - numeric);
      maxAbsErr = Math.max(maxAbsErr, abs);
      maxRelErr = Math.max(maxRelErr, abs / (1 + Math.abs(numeric)));
      checked++;
      assert.ok(
        abs <= tol * (1 + Math.abs(numeric)),
        `${label}: d loss / d ${inputs[i]!.name}[${k}] analytic ${analytic} vs central difference ${numeric} (|diff| ${abs.toExponential(2)})`,
      );
    }
  }
  await session.release();
  assert.ok(checked > 0, `${label}: nothing was checked`);
  return { maxAbsErr, maxRelErr, checked, backwardNodes };
}

export interface Feed {
  readonly type: ElemType;
  readonly dims: readonly number[];
  readonly data: readonly number[];
}

/**
 * Gradient check of a graph already differentiated (float64): for each input in `gradOutputs`,
 * `maxPerInput` random elements are compared with central differences of `loss`.
 */
export async function gradCheckGraph(
  label: string,
  graph: IrGraph,
  loss: string,
  gradOutputs: Readonly<Record<string, string>>,
  feeds: Readonly<Record<string, Feed>>,
  opts: { seed?: number; h?: number; tol?: number; maxPerInput?: number } = {},
): Promise<CheckResult> {
  const rand = rng(opts.seed ?? 3);
  const { session } = await createSession(serializeModel(graph), { providers: ["cpu"], intraOpThreads: 1 });
  const toOrt = (vals: Readonly<Record<string, readonly number[]>>): Record<string, OrtTensor> =>
    Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, makeTensor(f.type, f.dims, vals[k] ?? f.data)]));
  const base = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, f.data]));
  const out = await session.run(toOrt(base));
  const lossAt = async (name: string, k: number, delta: number): Promise<number> => {
    const v = [...feeds[name]!.data];
    v[k] = v[k]! + delta;
    const o = await session.run(toOrt({ ...base, [name]: v }), [loss]);
    return Number((o[loss]!.data as Float64Array)[0]);
  };
  const h = opts.h ?? 1e-6,
    tol = opts.tol ?? 1e-6,
    maxPer = opts.maxPerInput ?? 8;
  let maxAbsErr = 0,
    maxRelErr = 0,
    checked = 0;
  for (const [name, gname] of Object.entries(gradOutputs)) {
    const g = out[gname]!;
    assert.deepEqual([...g.dims], [...feeds[name]!.dims], `${label}: gradient of ${name} has the input's shape`);
    const ga = g.data as Float64Array;
    const n = feeds[name]!.data.length;
    for (let j = 0; j < Math.min(maxPer, n); j++) {
      const k = Math.floor(rand() * n);
      const numeric = ((await lossAt(name, k, h)) - (await lossAt(name, k, -h))) / (2 * h);
      const abs = Math.abs(ga[k]! - numeric);
      maxAbsErr = Math.max(maxAbsErr, abs);
      maxRelErr = Math.max(maxRelErr, abs / (1 + Math.abs(numeric)));
      checked++;
      assert.ok(
        abs <= tol * (1 + Math.abs(numeric)),
        `${label}: d loss / d ${name}[${k}] analytic ${ga[k]} vs central difference ${numeric} (|diff| ${abs.toExponential(2)})`,
      );
    }
  }
  await session.release();
  return { maxAbsErr, maxRelErr, checked, backwardNodes: 0 };
}
