/**
 * Gradients of indexed reads. Indices may repeat (an embedding reads the same row for every
 * occurrence of a token), so the adjoint adds: ScatterND with reduction "add".
 *
 *   Gather(data [V, d], idx [B, S], axis 0) = data[idx]        [B, S, d]
 *     ddata = ScatterND_add(zeros [V, d], idx[.., 1], dy)
 *   Gather on another axis, GatherElements: the flat positions the op read,
 *     pos = Gather(range(size(data)) shaped like data, idx, axis), then a flat ScatterND_add.
 */
import type { IrNode } from "../../onnx/ir";
import type { GradRule } from "./context";
import { positionsLike, scatterAddFlat } from "./shape";

function attrInt(n: IrNode, key: string, dflt: number): number {
  const a = n.attrs?.[key];
  return a && "i" in a ? a.i : dflt;
}

export const gatherRules: Record<string, GradRule> = {
  Gather: (n, [dy], ctx) => {
    const [data, idx] = [n.inputs[0]!, n.inputs[1]!];
    const axis = attrInt(n, "axis", 0);
    if (axis === 0) {
      const zeros = ctx.zerosLike(data);
      const idx1 = ctx.op("Unsqueeze", [idx, ctx.ints([-1])]);
      return [ctx.op("ScatterND", [zeros, idx1, dy!], { reduction: { s: "add" } }), undefined];
    }
    const picked = ctx.op("Gather", [positionsLike(ctx, data), idx], { axis: { i: axis } });
    return [scatterAddFlat(ctx, data, picked, dy!, false), undefined];
  },
  GatherElements: (n, [dy], ctx) => {
    const [data, idx] = [n.inputs[0]!, n.inputs[1]!];
    const picked = ctx.op("GatherElements", [positionsLike(ctx, data), idx], { axis: { i: attrInt(n, "axis", 0) } });
    return [scatterAddFlat(ctx, data, picked, dy!, false), undefined];
  },
};
