// ONNX IR → ModelProto: tiny graphs serialize and run on onnxruntime-node, with results checked
// against closed forms computed here.
import test from "node:test";
import assert from "node:assert/strict";
import { createSession, Tensor, type OrtTensor } from "../src/core/runtime/ort";
import { GraphBuilder } from "../src/core/onnx/builder";
import { serializeModel, validateGraph } from "../src/core/onnx/serialize";
import { OnnxError } from "../src/core/onnx/errors";

async function run(bytes: Uint8Array, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
  const { session } = await createSession(bytes, { providers: ["cpu"], intraOpThreads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

test("onnx: Z = relu(X·W + b) * 2 with symbolic batch runs and matches a closed form", async () => {
  const b = new GraphBuilder("tiny");
  const x = b.input("X", "float32", ["batch", 3]);
  const w = b.initializer("W", "float32", [3, 2], Float32Array.from([1, -1, 2, 0.5, -3, 1]));
  const bias = b.initializer("B", "float32", [2], Float32Array.from([0.25, -0.5]));
  const mm = b.op("MatMul", [x, w], "/model/lin/MatMul");
  const add = b.op("Add", [mm, bias], "/model/lin/Add");
  const relu = b.op("Relu", [add], "/model/act/Relu");
  const two = b.f32(2);
  assert.equal(two, "/model/constants/FLOAT/2");
  assert.equal(b.f32(2), two, "constants are deduplicated");
  const z = b.op("Mul", [relu, two], "/model/out/Mul");
  b.output(z, "float32", ["batch", 2]);
  const g = b.build();
  assert.equal(z, "/model/out/Mul/output_0");
  const bytes = serializeModel(g);
  const X = Float32Array.from([1, 2, 3, -1, 0.5, 2]);
  const out = await run(bytes, { X: new Tensor("float32", X, [2, 3]) });
  const got = out[z]!.data as Float32Array;
  const W = [
      [1, -1],
      [2, 0.5],
      [-3, 1],
    ],
    Bv = [0.25, -0.5];
  for (let r = 0; r < 2; r++)
    for (let c = 0; c < 2; c++) {
      let s = Bv[c]!;
      for (let k = 0; k < 3; k++) s += X[r * 3 + k]! * W[k]![c]!;
      assert.ok(Math.abs(got[r * 2 + c]! - 2 * Math.max(0, s)) < 1e-6);
    }
});

test("onnx: attributes of every kind and int64 constants survive encoding", async () => {
  const b = new GraphBuilder("attrs");
  const x = b.input("X", "float32", [2, 3, 4]);
  const t = b.op("Transpose", [x], "/t/Transpose", { perm: [2, 0, 1] }); // ints
  const r = b.op("Reshape", [t, b.i64s([4, -1])], "/t/Reshape"); // negative int64
  const s = b.op("Softmax", [r], "/t/Softmax", { axis: -1 }); // negative int
  const e = b.op("Elu", [s], "/t/Elu", { alpha: 1 }, { floatAttrs: ["alpha"] }); // float forced
  const sum = b.op("ReduceSum", [e, b.i64s([1])], "/t/ReduceSum", { keepdims: 0 });
  b.output(sum, "float32", [4]);
  b.output(r, "float32", [4, 6]);
  const out = await run(serializeModel(b.build()), {
    X: new Tensor(
      "float32",
      new Float32Array(24).map((_, i) => i * 0.1),
      [2, 3, 4],
    ),
  });
  // softmax rows sum to 1, Elu of values in (0,1) is identity
  const got = out[sum]!.data as Float32Array;
  for (const v of got) assert.ok(Math.abs(v - 1) < 1e-5);
  // reshape after transpose [4, 2, 3]: row j holds X[:, :, j]
  const rr = out[r]!.data as Float32Array;
  for (let j = 0; j < 4; j++)
    for (let a = 0; a < 2; a++)
      for (let c = 0; c < 3; c++) {
        assert.ok(Math.abs(rr[j * 6 + a * 3 + c]! - (a * 12 + c * 4 + j) * 0.1) < 1e-6);
      }
});

test("onnx: bad graphs are rejected with OnnxError naming the problem", () => {
  const b = new GraphBuilder("bad");
  const x = b.input("X", "float32", [1]);
  assert.throws(
    () => b.op("Relu", ["nope"], "/a/Relu"),
    (e: unknown) => e instanceof OnnxError && e.code === "bad-graph" && /nope/.test(e.message),
  );
  b.op("Relu", [x], "/a/Relu");
  assert.throws(() => b.op("Relu", [x], "/a/Relu"), /used twice/);
  assert.throws(() => b.output("missing", "float32", [1]), /not an edge/);
  assert.throws(() => b.constant("float32", [1, 2], [3]), /needs 3 values/);
  assert.throws(
    () => new GraphBuilder("x", 7),
    (e: unknown) => e instanceof OnnxError && e.code === "bad-option",
  );
  const g = b.build();
  const broken = { ...g, initializers: [{ name: "W", type: "float32" as const, dims: [2], data: new Float32Array(3) }] };
  assert.throws(() => serializeModel(broken), /holds 12 bytes, expected 8/);
  assert.throws(() => validateGraph({ ...g, outputs: [{ name: "ghost", type: "float32", shape: [1] }] }), /ghost/);
});

test("onnx: alias gives an edge its public name; symbolic dims and int64 inputs run; names are path-style", async () => {
  const b = new GraphBuilder("alias");
  const ids = b.input("ids", "int64", ["batch", "seq"]);
  const table = b.initializer("table", "float32", [4, 2], Float32Array.from([0, 1, 10, 11, 20, 21, 30, 31]));
  const g = b.op("Gather", [table, ids], "/model/embed/Gather"); // [batch, seq, 2]
  const s = b.op("ReduceSum", [g, b.i64s([-1])], "/model/embed/ReduceSum", { keepdims: 0 });
  assert.equal(b.alias(s, "sums"), "sums");
  assert.throws(() => b.alias(s, "sums"), /aliased twice/);
  b.output("sums", "float32", ["batch", "seq"]);
  const graph = b.build();
  assert.ok(graph.nodes.every((n) => n.name.startsWith("/")));
  const out = await run(serializeModel(graph), { ids: new Tensor("int64", BigInt64Array.from([3n, 0n, 2n, 1n, 1n, 3n]), [2, 3]) });
  assert.deepEqual(Array.from(out.sums!.data as Float32Array), [61, 1, 41, 21, 21, 61]);
  assert.deepEqual(out.sums!.dims, [2, 3]);
});
