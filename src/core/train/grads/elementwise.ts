/**
 * Gradient rules of element-wise ops. Binary ops broadcast (numpy rules), so each input's
 * gradient is summed back to that input's shape (`ctx.unbroadcast`).
 *
 *   Add  y = a + b      da = dy              db = dy          (Sum: the same for n inputs)
 *   Sub  y = a - b      da = dy              db = -dy
 *   Mul  y = a * b      da = dy * b          db = dy * a
 *   Div  y = a / b      da = dy / b          db = -dy * y / b
 *   Pow  y = a ^ c      da = dy * c * a^(c-1)          (c: any tensor; no gradient to c)
 *   Neg/Sqrt/Exp/Log/Sigmoid/Tanh/Reciprocal/Relu, Where (no gradient to the condition),
 *   Cast (float→float: cast back; others carry no gradient), Identity.
 */
import type { GradContext, GradRule } from "./context";

const unb = (ctx: GradContext, g: string, like: string): string => ctx.unbroadcast(g, like);

export const elementwiseRules: Record<string, GradRule> = {
  Add: (n, [dy], ctx, needs) => [needs[0] ? unb(ctx, dy!, n.inputs[0]!) : undefined, needs[1] ? unb(ctx, dy!, n.inputs[1]!) : undefined],
  Sum: (n, [dy], ctx, needs) => n.inputs.map((x, i) => (needs[i] ? unb(ctx, dy!, x) : undefined)),
  Sub: (n, [dy], ctx, needs) => [needs[0] ? unb(ctx, dy!, n.inputs[0]!) : undefined, needs[1] ? unb(ctx, ctx.neg(dy!), n.inputs[1]!) : undefined],
  Mul: (n, [dy], ctx, needs) => [
    needs[0] ? unb(ctx, ctx.mul(dy!, n.inputs[1]!), n.inputs[0]!) : undefined,
    needs[1] ? unb(ctx, ctx.mul(dy!, n.inputs[0]!), n.inputs[1]!) : undefined,
  ],
  Div: (n, [dy], ctx, needs) => [
    needs[0] ? unb(ctx, ctx.div(dy!, n.inputs[1]!), n.inputs[0]!) : undefined,
    needs[1] ? unb(ctx, ctx.neg(ctx.div(ctx.mul(dy!, n.outputs[0]!), n.inputs[1]!)), n.inputs[1]!) : undefined,
  ],
  Pow: (n, [dy], ctx, needs) => {
    const [a, c] = [n.inputs[0]!, n.inputs[1]!];
    if (!needs[0]) return [undefined, undefined];
    // c may be an integer tensor: cast it like a.
    const cf = ctx.op("CastLike", [c, a]);
    const cm1 = ctx.sub(cf, ctx.scalar(1));
    return [unb(ctx, ctx.mul(dy!, ctx.mul(cf, ctx.op("Pow", [a, cm1]))), a), undefined];
  },
  Neg: (_n, [dy], ctx) => [ctx.neg(dy!)],
  Identity: (_n, [dy]) => [dy],
  Sqrt: (n, [dy], ctx) => [ctx.div(ctx.mul(dy!, ctx.scalar(0.5)), n.outputs[0]!)],
  Exp: (n, [dy], ctx) => [ctx.mul(dy!, n.outputs[0]!)],
  Log: (n, [dy], ctx) => [ctx.div(dy!, n.inputs[0]!)],
  Reciprocal: (n, [dy], ctx) => [ctx.neg(ctx.mul(dy!, ctx.mul(n.outputs[0]!, n.outputs[0]!)))],
  Sigmoid: (n, [dy], ctx) => {
    const y = n.outputs[0]!;
    return [ctx.mul(dy!, ctx.mul(y, ctx.sub(ctx.scalar(1), y)))];
  },
  Tanh: (n, [dy], ctx) => {
    const y = n.outputs[0]!;
    return [ctx.mul(dy!, ctx.sub(ctx.scalar(1), ctx.mul(y, y)))];
  },
  Where: (n, [dy], ctx, needs) => {
    const [cond, a, b] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2]!];
    const zero = ctx.scalar(0);
    return [
      undefined,
      needs[1] ? unb(ctx, ctx.op("Where", [cond, dy!, zero]), a) : undefined,
      needs[2] ? unb(ctx, ctx.op("Where", [cond, zero, dy!]), b) : undefined,
    ];
  },
  Relu: (n, [dy], ctx) => [ctx.op("Where", [ctx.op("Greater", [n.inputs[0]!, ctx.scalar(0)]), dy!, ctx.scalar(0)])],
  Cast: (n, [dy], ctx) => [ctx.op("CastLike", [dy!, n.inputs[0]!])],
  CastLike: (n, [dy], ctx, needs) => [needs[0] ? ctx.op("CastLike", [dy!, n.inputs[0]!]) : undefined, undefined],
};
