/**
 * The gradient rules by op type, and which inputs of each op carry a gradient (shape, axes,
 * index and condition inputs never do).
 */
import type { GradRule } from "./context";
import { elementwiseRules } from "./elementwise";
import { gatherRules } from "./gather";
import { gemmRules, matmulRules } from "./matmul";
import { reduceRules } from "./reduce";
import { shapeRules } from "./shape";

export const GRAD_RULES: Readonly<Record<string, GradRule>> = {
  ...elementwiseRules,
  ...matmulRules,
  ...gemmRules,
  ...reduceRules,
  ...shapeRules,
  ...gatherRules,
};

/** Inputs through which gradient flows, per op; ops absent here: every input. */
const DIFFERENTIABLE_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Reshape: [0],
  Expand: [0],
  Squeeze: [0],
  Unsqueeze: [0],
  Slice: [0],
  Split: [0],
  Gather: [0],
  GatherElements: [0],
  Where: [1, 2],
  Pow: [0],
  Trilu: [0],
  ReduceSum: [0],
  ReduceMean: [0],
  ReduceSumSquare: [0],
  CastLike: [0],
};

export function differentiableInputs(op: string, arity: number): readonly number[] {
  return DIFFERENTIABLE_INPUTS[op] ?? Array.from({ length: arity }, (_, i) => i);
}

/** Ops whose outputs never carry a gradient (integer/boolean results, shapes). */
export const NON_DIFFERENTIABLE_OPS: ReadonlySet<string> = new Set([
  "Shape",
  "Size",
  "Equal",
  "Less",
  "LessOrEqual",
  "Greater",
  "GreaterOrEqual",
  "Not",
  "And",
  "Or",
  "Xor",
  "ArgMax",
  "ArgMin",
  "NonZero",
  "Range",
  "ConstantOfShape",
  "Constant",
  "IsNaN",
  "IsInf",
]);
