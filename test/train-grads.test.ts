/**
 * One gradient check per autodiff rule: the analytic gradient (float64 graph on onnxruntime CPU)
 * against central finite differences of the same loss. Broadcasting, fan-out and non-default
 * attributes are exercised where the rule handles them.
 */
import test from "node:test";
import assert from "node:assert/strict";
import type { GraphBuilder } from "../src/core/onnx/builder";
import { buildGradientGraph } from "../src/core/train/autodiff";
import { TrainError } from "../src/core/train/errors";
import { GRAD_RULES } from "../src/core/train/grads/index";
import { gradCheck, type CheckInput } from "./helpers/train-gradcheck";

type Build = (b: GraphBuilder, n: readonly string[]) => string;
interface Case {
  readonly op: string;
  readonly label: string;
  readonly inputs: CheckInput[];
  readonly build: Build;
  readonly tol?: number;
  readonly h?: number;
}

const un =
  (op: string, attrs?: Record<string, number | readonly number[] | string>): Build =>
  (b, [x]) =>
    b.op(op, [x!], `/t/${op}`, attrs);
const bin =
  (op: string): Build =>
  (b, [x, y]) =>
    b.op(op, [x!, y!], `/t/${op}`);
const pos: Partial<CheckInput> = { lo: 0.5, hi: 2 };

const cases: Case[] = [
  {
    op: "Add",
    label: "Add, b broadcast over rows",
    inputs: [
      { name: "a", dims: [3, 4] },
      { name: "b", dims: [4] },
    ],
    build: bin("Add"),
  },
  {
    op: "Add",
    label: "Add, both broadcast",
    inputs: [
      { name: "a", dims: [3, 1] },
      { name: "b", dims: [1, 4] },
    ],
    build: bin("Add"),
  },
  {
    op: "Sum",
    label: "Sum of three, broadcast",
    inputs: [
      { name: "a", dims: [2, 3] },
      { name: "b", dims: [3] },
      { name: "c", dims: [2, 1] },
    ],
    build: (b, [x, y, z]) => b.op("Sum", [x!, y!, z!], "/t/Sum"),
  },
  {
    op: "Sub",
    label: "Sub, broadcast",
    inputs: [
      { name: "a", dims: [2, 3, 4] },
      { name: "b", dims: [3, 1] },
    ],
    build: bin("Sub"),
  },
  {
    op: "Mul",
    label: "Mul, broadcast",
    inputs: [
      { name: "a", dims: [2, 3, 4] },
      { name: "b", dims: [1, 3, 1] },
    ],
    build: bin("Mul"),
  },
  {
    op: "Mul",
    label: "Mul x·x (fan-out)",
    inputs: [{ name: "a", dims: [5] }],
    build: (b, [a]) => b.op("Add", [b.op("Mul", [a!, a!], "/t/Mul"), a!], "/t/Add"),
  },
  {
    op: "Div",
    label: "Div, broadcast",
    inputs: [
      { name: "a", dims: [3, 4] },
      { name: "b", dims: [3, 1], ...pos },
    ],
    build: bin("Div"),
  },
  {
    op: "Pow",
    label: "Pow, constant exponent 3",
    inputs: [{ name: "a", dims: [6] }],
    build: (b, [a]) => b.op("Pow", [a!, b.constant("float64", 3)], "/t/Pow"),
  },
  {
    op: "Pow",
    label: "Pow, exponent -0.5 (int-free)",
    inputs: [{ name: "a", dims: [6], ...pos }],
    build: (b, [a]) => b.op("Pow", [a!, b.constant("float64", -0.5)], "/t/Pow"),
  },
  { op: "Neg", label: "Neg", inputs: [{ name: "x", dims: [2, 3] }], build: un("Neg") },
  { op: "Identity", label: "Identity", inputs: [{ name: "x", dims: [2, 3] }], build: un("Identity") },
  { op: "Sqrt", label: "Sqrt", inputs: [{ name: "x", dims: [2, 3], ...pos }], build: un("Sqrt") },
  { op: "Exp", label: "Exp", inputs: [{ name: "x", dims: [2, 3] }], build: un("Exp") },
  { op: "Log", label: "Log", inputs: [{ name: "x", dims: [2, 3], ...pos }], build: un("Log") },
  { op: "Reciprocal", label: "Reciprocal", inputs: [{ name: "x", dims: [2, 3], ...pos }], build: un("Reciprocal") },
  { op: "Sigmoid", label: "Sigmoid", inputs: [{ name: "x", dims: [2, 3], lo: -3, hi: 3 }], build: un("Sigmoid") },
  { op: "Tanh", label: "Tanh", inputs: [{ name: "x", dims: [2, 3], lo: -2, hi: 2 }], build: un("Tanh") },
  { op: "Relu", label: "Relu (away from the kink)", inputs: [{ name: "x", dims: [6], data: [-1.5, -0.3, 0.2, 0.7, 1.1, -2] }], build: un("Relu") },
  {
    op: "Where",
    label: "Where, broadcast condition and branches",
    inputs: [
      { name: "c", dims: [3, 1], type: "bool", data: [1, 0, 1], trainable: false },
      { name: "a", dims: [3, 4] },
      { name: "b", dims: [4] },
    ],
    build: (b, [c, x, y]) => b.op("Where", [c!, x!, y!], "/t/Where"),
  },
  {
    op: "Cast",
    label: "Cast float64 → float32 → float64",
    inputs: [{ name: "x", dims: [5], lo: 0.5, hi: 1 }],
    build: (b, [x]) => b.op("Cast", [b.op("Cast", [x!], "/t/Cast32", { to: 1 })], "/t/Cast64", { to: 11 }),
    tol: 1e-3,
    h: 1e-3,
  },
  {
    op: "CastLike",
    label: "CastLike to float64",
    inputs: [{ name: "x", dims: [5] }],
    build: (b, [x]) => b.op("CastLike", [x!, b.constant("float64", 0)], "/t/CastLike"),
  },
  {
    op: "MatMul",
    label: "MatMul 2-D",
    inputs: [
      { name: "a", dims: [3, 4] },
      { name: "b", dims: [4, 2] },
    ],
    build: bin("MatMul"),
  },
  {
    op: "MatMul",
    label: "MatMul [B,S,k] @ [k,n] (linear layer)",
    inputs: [
      { name: "a", dims: [2, 3, 4] },
      { name: "b", dims: [4, 5] },
    ],
    build: bin("MatMul"),
  },
  {
    op: "MatMul",
    label: "MatMul batched with broadcast batch dims",
    inputs: [
      { name: "a", dims: [2, 1, 3, 4] },
      { name: "b", dims: [1, 2, 4, 3] },
    ],
    build: bin("MatMul"),
  },
  {
    op: "MatMul",
    label: "MatMul [k,m] @ [B,m,n]",
    inputs: [
      { name: "a", dims: [3, 4] },
      { name: "b", dims: [2, 4, 2] },
    ],
    build: bin("MatMul"),
  },
  {
    op: "Gemm",
    label: "Gemm transB=1 with bias [N] (nn.Linear)",
    inputs: [
      { name: "a", dims: [3, 4] },
      { name: "b", dims: [2, 4] },
      { name: "c", dims: [2] },
    ],
    build: (b, [x, w, c]) => b.op("Gemm", [x!, w!, c!], "/t/Gemm", { transB: 1 }),
  },
  {
    op: "Gemm",
    label: "Gemm no transposes, no bias",
    inputs: [
      { name: "a", dims: [3, 4] },
      { name: "b", dims: [4, 2] },
    ],
    build: (b, [x, w]) => b.op("Gemm", [x!, w!], "/t/Gemm"),
  },
  {
    op: "Gemm",
    label: "Gemm transA=1 transB=1 α=0.5 β=2, bias [M,1]",
    inputs: [
      { name: "a", dims: [4, 3] },
      { name: "b", dims: [2, 4] },
      { name: "c", dims: [3, 1] },
    ],
    build: (b, [x, w, c]) => b.op("Gemm", [x!, w!, c!], "/t/Gemm", { transA: 1, transB: 1, alpha: 0.5, beta: 2 }, { floatAttrs: ["alpha", "beta"] }),
  },
  {
    op: "Gemm",
    label: "Gemm transA=1 transB=0",
    inputs: [
      { name: "a", dims: [4, 3] },
      { name: "b", dims: [4, 2] },
    ],
    build: (b, [x, w]) => b.op("Gemm", [x!, w!], "/t/Gemm", { transA: 1 }),
  },
  {
    op: "ReduceSum",
    label: "ReduceSum axes [1], keepdims 0",
    inputs: [{ name: "x", dims: [2, 3, 4] }],
    build: (b, [x]) => b.op("ReduceSum", [x!, b.i64s([1])], "/t/ReduceSum", { keepdims: 0 }),
  },
  {
    op: "ReduceSum",
    label: "ReduceSum axes [-1, 0], keepdims 1",
    inputs: [{ name: "x", dims: [2, 3, 4] }],
    build: (b, [x]) => b.op("ReduceSum", [x!, b.i64s([-1, 0])], "/t/ReduceSum", { keepdims: 1 }),
  },
  {
    op: "ReduceSum",
    label: "ReduceSum all, keepdims 0",
    inputs: [{ name: "x", dims: [2, 3] }],
    build: (b, [x]) => b.op("ReduceSum", [x!], "/t/ReduceSum", { keepdims: 0 }),
  },
  {
    op: "ReduceMean",
    label: "ReduceMean axes [-1] (attribute, opset 17)",
    inputs: [{ name: "x", dims: [2, 3, 4] }],
    build: (b, [x]) => b.op("ReduceMean", [x!], "/t/ReduceMean", { axes: [-1], keepdims: 1 }),
  },
  {
    op: "ReduceMean",
    label: "ReduceMean axes [0, 2] keepdims 0",
    inputs: [{ name: "x", dims: [2, 3, 4] }],
    build: (b, [x]) => b.op("ReduceMean", [x!], "/t/ReduceMean", { axes: [0, 2], keepdims: 0 }),
  },
  {
    op: "ReduceSumSquare",
    label: "ReduceSumSquare axes [1]",
    inputs: [{ name: "x", dims: [3, 4] }],
    build: (b, [x]) => b.op("ReduceSumSquare", [x!], "/t/RSS", { axes: [1], keepdims: 0 }),
  },
  { op: "Softmax", label: "Softmax axis -1", inputs: [{ name: "x", dims: [2, 3, 4], lo: -2, hi: 2 }], build: un("Softmax", { axis: -1 }) },
  { op: "Softmax", label: "Softmax axis 1", inputs: [{ name: "x", dims: [2, 3, 4], lo: -2, hi: 2 }], build: un("Softmax", { axis: 1 }) },
  { op: "LogSoftmax", label: "LogSoftmax axis -1", inputs: [{ name: "x", dims: [3, 5], lo: -2, hi: 2 }], build: un("LogSoftmax", { axis: -1 }) },
  {
    op: "Reshape",
    label: "Reshape [2,6] → [3,-1]",
    inputs: [{ name: "x", dims: [2, 6] }],
    build: (b, [x]) => b.op("Reshape", [x!, b.i64s([3, -1])], "/t/Reshape"),
  },
  { op: "Flatten", label: "Flatten axis 1", inputs: [{ name: "x", dims: [2, 3, 2] }], build: un("Flatten", { axis: 1 }) },
  {
    op: "Unsqueeze",
    label: "Unsqueeze [0, -1]",
    inputs: [{ name: "x", dims: [2, 3] }],
    build: (b, [x]) => b.op("Unsqueeze", [x!, b.i64s([0, -1])], "/t/Unsqueeze"),
  },
  { op: "Squeeze", label: "Squeeze [1]", inputs: [{ name: "x", dims: [2, 1, 3] }], build: (b, [x]) => b.op("Squeeze", [x!, b.i64s([1])], "/t/Squeeze") },
  { op: "Transpose", label: "Transpose perm [2,0,1]", inputs: [{ name: "x", dims: [2, 3, 4] }], build: un("Transpose", { perm: [2, 0, 1] }) },
  { op: "Transpose", label: "Transpose default (reverse)", inputs: [{ name: "x", dims: [2, 3, 4] }], build: un("Transpose") },
  { op: "Trilu", label: "Trilu lower, k = 0", inputs: [{ name: "x", dims: [2, 3, 3] }], build: (b, [x]) => b.op("Trilu", [x!], "/t/Trilu", { upper: 0 }) },
  {
    op: "Expand",
    label: "Expand [3,1] → [2,3,4]",
    inputs: [{ name: "x", dims: [3, 1] }],
    build: (b, [x]) => b.op("Expand", [x!, b.i64s([2, 3, 4])], "/t/Expand"),
  },
  {
    op: "Concat",
    label: "Concat axis -1 of three",
    inputs: [
      { name: "a", dims: [2, 3] },
      { name: "b", dims: [2, 1] },
      { name: "c", dims: [2, 2] },
    ],
    build: (b, [x, y, z]) => b.op("Concat", [x!, y!, z!], "/t/Concat", { axis: -1 }),
  },
  {
    op: "Split",
    label: "Split axis 1 into [1,2,1], one output unused",
    inputs: [{ name: "x", dims: [2, 4] }],
    build: (b, [x]) => {
      const [p, q] = b.node("Split", [x!, b.i64s([1, 2, 1])], { axis: 1 }, "/t/Split", { outputs: 3 });
      return b.op("Concat", [p!, q!], "/t/Concat", { axis: 1 });
    },
  },
  {
    op: "Slice",
    label: "Slice two axes, negative start, step 2",
    inputs: [{ name: "x", dims: [3, 7] }],
    build: (b, [x]) => b.op("Slice", [x!, b.i64s([1, -6]), b.i64s([3, 7]), b.i64s([0, 1]), b.i64s([1, 2])], "/t/Slice"),
  },
  {
    op: "Slice",
    label: "Slice rotate-half style (last axis halves)",
    inputs: [{ name: "x", dims: [2, 2, 3, 4] }],
    build: (b, [x]) => {
      const lo = b.op("Slice", [x!, b.i64s([0]), b.i64s([2]), b.i64s([-1])], "/t/SliceLo");
      const hi = b.op("Slice", [x!, b.i64s([2]), b.i64s([4]), b.i64s([-1])], "/t/SliceHi");
      return b.op("Concat", [b.op("Neg", [hi], "/t/Neg"), lo], "/t/Concat", { axis: -1 });
    },
  },
  {
    op: "Gather",
    label: "Gather axis 0 (embedding, repeated ids)",
    inputs: [
      { name: "e", dims: [5, 3] },
      { name: "ids", dims: [2, 4], type: "int64", data: [0, 3, 3, 1, 4, 0, 3, 2], trainable: false },
    ],
    build: (b, [e, ids]) => b.op("Gather", [e!, ids!], "/t/Gather", { axis: 0 }),
  },
  {
    op: "Gather",
    label: "Gather axis 1, negative index",
    inputs: [
      { name: "x", dims: [2, 4, 3] },
      { name: "i", dims: [3], type: "int64", data: [1, -1, 1], trainable: false },
    ],
    build: (b, [x, i]) => b.op("Gather", [x!, i!], "/t/Gather", { axis: 1 }),
  },
  {
    op: "GatherElements",
    label: "GatherElements axis -1 (per-token NLL pick)",
    inputs: [
      { name: "x", dims: [2, 3, 5] },
      { name: "t", dims: [2, 3, 1], type: "int64", data: [4, 0, 2, 2, 1, 3], trainable: false },
    ],
    build: (b, [x, t]) => b.op("GatherElements", [x!, t!], "/t/GatherElements", { axis: -1 }),
  },
];

for (const c of cases) {
  test(`train-grads: ${c.op}: ${c.label}`, async () => {
    const res = await gradCheck(c.label, c.inputs, c.build, { ...(c.tol ? { tol: c.tol } : {}), ...(c.h ? { h: c.h } : {}), seed: 7 });
    assert.ok(res.maxRelErr < (c.tol ?? 1e-6));
  });
}

test("train-grads: every rule in the registry has a gradient check above", () => {
  const checked = new Set(cases.map((c) => c.op));
  const missing = Object.keys(GRAD_RULES).filter((op) => !checked.has(op));
  assert.deepEqual(missing, [], `rules without a gradient check: ${missing.join(", ")}`);
});

test("train-grads: an op without a rule is refused with a typed error naming it", () => {
  const graph = {
    name: "g",
    opset: 17,
    initializers: [],
    inputs: [{ name: "x", type: "float64" as const, shape: [3] }],
    outputs: [{ name: "y", type: "float64" as const, shape: [] }],
    nodes: [
      { name: "/a", op: "Sin", inputs: ["x"], outputs: ["s"] },
      { name: "/b", op: "ReduceSum", inputs: ["s"], outputs: ["y"], attrs: { keepdims: { i: 0 } } },
    ],
  };
  assert.throws(
    () => buildGradientGraph(graph, { loss: "y", wrt: ["x"] }),
    (e: unknown) => e instanceof TrainError && e.code === "no-gradient-rule" && /Sin/.test(e.message),
  );
  assert.throws(
    () => buildGradientGraph(graph, { loss: "y", wrt: ["nope"] }),
    (e: unknown) => e instanceof TrainError && e.code === "bad-options",
  );
  assert.throws(
    () => buildGradientGraph(graph, { loss: "zz", wrt: ["x"] }),
    (e: unknown) => e instanceof TrainError && e.code === "bad-options",
  );
});
