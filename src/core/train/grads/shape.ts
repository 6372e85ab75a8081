/**
 * Gradients of ops that move data without arithmetic.
 *
 *   Reshape/Flatten/Squeeze/Unsqueeze   dx = reshape(dy, shape(x))
 *   Transpose(perm)                     dx = transpose(dy, perm⁻¹)
 *   Trilu                               dx = Trilu(dy) (same k, upper)
 *   Expand                              dx = dy summed back to shape(x)
 *   Concat(axis)                        dx_i = split(dy, [size_i(axis)...])[i]
 *   Split(axis)                         dx = concat(dy_i, zeros where an output has no gradient)
 *   Slice                               dx = scatter dy into zeros at the positions Slice picked:
 *       pos [..x] = range(size(x)) reshaped like x; picked = Slice(pos, same starts/ends/axes/steps)
 *       dx = reshape(ScatterND(zeros[size(x)], picked[.., 1], dy), shape(x))
 */
import type { IrNode } from "../../onnx/ir";
import type { GradContext, GradRule } from "./context";

function attrInt(n: IrNode, key: string, dflt: number): number {
  const a = n.attrs?.[key];
  return a && "i" in a ? a.i : dflt;
}

const reshapeBack: GradRule = (n, [dy], ctx) => [ctx.op("Reshape", [dy!, ctx.shape(n.inputs[0]!)]), ...n.inputs.slice(1).map(() => undefined)];

/** int64 positions 0..size(x)-1 shaped like x. */
export function positionsLike(ctx: GradContext, x: string): string {
  const size = ctx.op("Size", [x]);
  const range = ctx.op("Range", [ctx.int(0), size, ctx.int(1)]);
  return ctx.op("Reshape", [range, ctx.shape(x)]);
}

/** zeros[size(x)] with dy's values added at the flat positions `picked` (shaped like dy), reshaped like x. */
export function scatterAddFlat(ctx: GradContext, x: string, picked: string, dy: string, unique: boolean): string {
  const zeros = ctx.op("ConstantOfShape", [ctx.op("Reshape", [ctx.op("Size", [x]), ctx.ints([1])])], {
    value: {
      t: {
        name: "value",
        type: ctx.floatType,
        dims: [1],
        data: ctx.floatType === "float64" ? new Float64Array(1) : ctx.floatType === "float32" ? new Float32Array(1) : new Uint16Array(1),
      },
    },
  });
  const idx = ctx.op("Reshape", [picked, ctx.ints([-1, 1])]);
  const upd = ctx.op("Reshape", [dy, ctx.ints([-1])]);
  const flat = ctx.op("ScatterND", [zeros, idx, upd], unique ? undefined : { reduction: { s: "add" } });
  return ctx.op("Reshape", [flat, ctx.shape(x)]);
}

export const shapeRules: Record<string, GradRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: (n, [dy], ctx) => {
    const p = n.attrs?.["perm"];
    if (!p || !("ints" in p)) return [ctx.op("Transpose", [dy!])];
    const inv = new Array<number>(p.ints.length);
    p.ints.forEach((ax, i) => {
      inv[ax] = i;
    });
    return [ctx.op("Transpose", [dy!], { perm: { ints: inv } })];
  },
  Trilu: (n, [dy], ctx) => [ctx.op("Trilu", [dy!, ...n.inputs.slice(1)], n.attrs ? { ...n.attrs } : undefined), undefined],
  Expand: (n, [dy], ctx) => [ctx.unbroadcast(dy!, n.inputs[0]!), undefined],
  Concat: (n, [dy], ctx, needs) => {
    const axis = attrInt(n, "axis", 0);
    const sizes = n.inputs.map((x) => ctx.op("Gather", [ctx.shape(x), ctx.ints([axis])]));
    const split = ctx.op("Concat", sizes, { axis: { i: 0 } });
    const parts = ctx.nodeN("Split", [dy!, split], n.inputs.length, { axis: { i: axis } });
    return parts.map((p, i) => (needs[i] ? p : undefined));
  },
  Split: (n, dys, ctx) => {
    const axis = attrInt(n, "axis", 0);
    const parts = n.outputs.map((o, i) => dys[i] ?? ctx.zerosLike(o));
    return [ctx.op("Concat", parts, { axis: { i: axis } }), undefined];
  },
  Slice: (n, [dy], ctx) => {
    const x = n.inputs[0]!;
    const picked = ctx.op("Slice", [positionsLike(ctx, x), ...n.inputs.slice(1)]);
    return [scatterAddFlat(ctx, x, picked, dy!, true), undefined, undefined, undefined, undefined];
  },
};
