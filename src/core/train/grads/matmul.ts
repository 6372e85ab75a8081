/**
 * Gradient of MatMul (numpy semantics: batched, batch dims broadcast; both operands rank ≥ 2).
 *
 *   y [.., m, n] = a [.., m, k] @ b [.., k, n]
 *   da = dy @ bᵀ  [.., m, k]  summed over the batch dims a was broadcast along
 *   db = aᵀ @ dy  [.., k, n]  summed over the batch dims b was broadcast along
 *
 * ᵀ swaps the last two axes (a Transpose when the rank is static, else an Einsum with "...").
 * When b is 2-D and a is not (a linear layer on [B, S, k] activations) db is computed as one
 * 2-D product of the flattened rows, which avoids a batched product followed by a ReduceSum.
 */
import type { IrNode } from "../../onnx/ir";
import { TrainError } from "../errors";
import type { GradContext, GradRule } from "./context";

function swapLast(ctx: GradContext, x: string): string {
  const r = ctx.rankOrUndefined(x);
  if (r === undefined) return ctx.op("Einsum", [x], { equation: { s: "...ij->...ji" } });
  const perm = Array.from({ length: r }, (_, i) => i);
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return ctx.op("Transpose", [x], { perm: { ints: perm } });
}

export const matmulRules: Record<string, GradRule> = {
  MatMul: (n, [dy], ctx, needs) => {
    const [a, b] = [n.inputs[0]!, n.inputs[1]!];
    const ra = ctx.rankOrUndefined(a),
      rb = ctx.rankOrUndefined(b);
    if (ra === 1 || rb === 1) {
      throw new TrainError("no-gradient-rule", `autodiff: MatMul "${n.name}" has a 1-D operand; reshape it to 2-D in the forward graph`);
    }
    let da: string | undefined, db: string | undefined;
    if (needs[0]) {
      const full = ctx.op("MatMul", [dy!, swapLast(ctx, b)]);
      da = rb === 2 ? full : ctx.unbroadcast(full, a);
    }
    if (needs[1]) {
      if (rb === 2 && ra !== undefined && ra > 2) {
        // Flatten the batch rows: [N, k]ᵀ @ [N, n] = [k, n].
        const a2 = ctx.op("Reshape", [a, ctx.op("Concat", [ctx.ints([-1]), ctx.op("Shape", [a], { start: { i: -1 } })], { axis: { i: 0 } })]);
        const dy2 = ctx.op("Reshape", [dy!, ctx.op("Concat", [ctx.ints([-1]), ctx.op("Shape", [dy!], { start: { i: -1 } })], { axis: { i: 0 } })]);
        db = ctx.op("MatMul", [ctx.op("Transpose", [a2], { perm: { ints: [1, 0] } }), dy2]);
      } else {
        const full = ctx.op("MatMul", [swapLast(ctx, a), dy!]);
        db = ra === 2 ? full : ctx.unbroadcast(full, b);
      }
    }
    return [da, db];
  },
};

function attrNum(attrs: IrNode["attrs"], key: string, dflt: number): number {
  const a = attrs?.[key];
  return a && "i" in a ? a.i : a && "f" in a ? a.f : dflt;
}

/**
 * Gemm: y [M, N] = α · A' · B' + β · C, A' = transA ? Aᵀ : A, B' = transB ? Bᵀ : B, C broadcast.
 *
 *   dA = α · dy · B'ᵀ   (transA = 0)        dA = α · B' · dyᵀ  (transA = 1)
 *   dB = α · A'ᵀ · dy   (transB = 0)        dB = α · dyᵀ · A'  (transB = 1)
 *   dC = β · dy summed back to C's shape
 * each written as one Gemm with the right transpose flags (no transposed copies).
 */
export const gemmRules: Record<string, GradRule> = {
  Gemm: (n, [dy], ctx, needs) => {
    const [a, b, c] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2]];
    const alpha = attrNum(n.attrs, "alpha", 1),
      beta = attrNum(n.attrs, "beta", 1);
    const tA = attrNum(n.attrs, "transA", 0),
      tB = attrNum(n.attrs, "transB", 0);
    const al = { alpha: { f: alpha } };
    const da = !needs[0]
      ? undefined
      : tA === 0
        ? ctx.op("Gemm", [dy!, b], { ...al, transB: { i: 1 - tB } })
        : ctx.op("Gemm", [b, dy!], { ...al, transA: { i: tB }, transB: { i: 1 } });
    const db = !needs[1]
      ? undefined
      : tB === 0
        ? ctx.op("Gemm", [a, dy!], { ...al, transA: { i: 1 - tA } })
        : ctx.op("Gemm", [dy!, a], { ...al, transA: { i: 1 }, transB: { i: tA } });
    let dc: string | undefined;
    if (c && needs[2]) {
      const scaled = beta === 1 ? dy! : ctx.mul(dy!, ctx.scalar(beta));
      dc = ctx.unbroadcast(scaled, c);
    }
    return [da, db, dc];
  },
};
