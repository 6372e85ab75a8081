/**
 * Gradients of reductions and normalisations (axes as an input, opset ≥ 13/18, or as an attribute).
 *
 *   ReduceSum        dx = expand(dy)                       (dy re-gets the reduced axes first when keepdims = 0)
 *   ReduceMean       dx = expand(dy) / (size(x) / size(y))
 *   ReduceSumSquare  dx = 2 · x · expand(dy)
 *   Softmax(axis)    dx = y · (dy − Σ_axis dy·y)
 *   LogSoftmax(axis) dx = dy − exp(y) · Σ_axis dy
 */
import type { IrNode } from "../../onnx/ir";
import type { GradContext, GradRule } from "./context";

function attrInt(n: IrNode, key: string, dflt: number): number {
  const a = n.attrs?.[key];
  return a && "i" in a ? a.i : dflt;
}

/** dy broadcast back to the shape of the reduced input. */
function expandBack(n: IrNode, dy: string, ctx: GradContext): string {
  const x = n.inputs[0]!;
  const keep = attrInt(n, "keepdims", 1);
  let axes: string | undefined = n.inputs[1] || undefined;
  const attrAxes = n.attrs?.["axes"];
  if (!axes && attrAxes && "ints" in attrAxes) axes = ctx.ints(attrAxes.ints);
  const constAxes = axes ? ctx.constInts(axes) : undefined;
  if (axes && constAxes && constAxes.length === 0 && attrInt(n, "noop_with_empty_axes", 0) === 1) return dy;
  let g = dy;
  if (!keep && axes) g = ctx.op("Unsqueeze", [dy, axes]);
  return ctx.op("Expand", [g, ctx.shape(x)]);
}

export const reduceRules: Record<string, GradRule> = {
  ReduceSum: (n, [dy], ctx) => [expandBack(n, dy!, ctx), undefined],
  ReduceMean: (n, [dy], ctx) => {
    const count = ctx.op("CastLike", [ctx.op("Div", [ctx.op("Size", [n.inputs[0]!]), ctx.op("Size", [n.outputs[0]!])]), dy!]);
    return [ctx.div(expandBack(n, dy!, ctx), count), undefined];
  },
  ReduceSumSquare: (n, [dy], ctx) => [ctx.mul(ctx.mul(n.inputs[0]!, ctx.scalar(2)), expandBack(n, dy!, ctx)), undefined],
  Softmax: (n, [dy], ctx) => {
    const y = n.outputs[0]!;
    const axis = ctx.ints([attrInt(n, "axis", -1)]);
    const s = ctx.op("ReduceSum", [ctx.mul(dy!, y), axis], { keepdims: { i: 1 } });
    return [ctx.mul(y, ctx.sub(dy!, s))];
  },
  LogSoftmax: (n, [dy], ctx) => {
    const y = n.outputs[0]!;
    const axis = ctx.ints([attrInt(n, "axis", -1)]);
    const s = ctx.op("ReduceSum", [dy!, axis], { keepdims: { i: 1 } });
    return [ctx.sub(dy!, ctx.mul(ctx.op("Exp", [y]), s))];
  },
};
