/**
 * Hand-built ONNX models for the match kernel (float32, symbolic dims so one session serves every
 * block shape), serialized with `../onnx/serialize.ts`.
 *
 *   A [m, k] ─┐
 *             ├─ Gemm(transB=1) ─► C [m, n]        gemmTransBModel: C = A · Bᵀ
 *   B [n, k] ─┘
 *
 *   X [n, k] ── ReduceSumSquare(axes=[1], keepdims=0) ─► S [n]     sumSquaresModel: S_i = Σ_j X_ij²
 */
import type { IrGraph } from "../onnx/ir";
import { serializeModel } from "../onnx/serialize";

/** The serialized ModelProto of `C = A · Bᵀ`. */
export function gemmTransBModel(): Uint8Array {
  const graph: IrGraph = {
    name: "headshare_gram",
    opset: 17,
    inputs: [
      { name: "A", type: "float32", shape: ["m", "k"] },
      { name: "B", type: "float32", shape: ["n", "k"] },
    ],
    outputs: [{ name: "C", type: "float32", shape: ["m", "n"] }],
    initializers: [],
    nodes: [{ name: "/match/gram/Gemm", op: "Gemm", inputs: ["A", "B"], outputs: ["C"], attrs: { transB: { i: 1 } } }],
  };
  return serializeModel(graph, { producerName: "headshare" });
}

/** The serialized ModelProto of row sums of squares `S = Σ_j X[:, j]²` (opset 17: axes attribute). */
export function sumSquaresModel(): Uint8Array {
  const graph: IrGraph = {
    name: "headshare_norms",
    opset: 17,
    inputs: [{ name: "X", type: "float32", shape: ["n", "k"] }],
    outputs: [{ name: "S", type: "float32", shape: ["n"] }],
    initializers: [],
    nodes: [{ name: "/match/norms/ReduceSumSquare", op: "ReduceSumSquare", inputs: ["X"], outputs: ["S"], attrs: { axes: { ints: [1] }, keepdims: { i: 0 } } }],
  };
  return serializeModel(graph, { producerName: "headshare" });
}
