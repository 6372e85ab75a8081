/**
 * Declares checkpoint tensors as float32 graph inputs, once each, on first use: named like the
 * tensor, or by `inputName(tensor)` (a block graph names a layer's weights by role, so one graph
 * serves every layer).
 */
import type { GraphBuilder } from "../onnx/builder";
import type { ShapeOf, WeightInput } from "./types";

export class WeightInputs {
  readonly list: WeightInput[] = [];
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly b: GraphBuilder,
    private readonly shapeOf: ShapeOf,
    private readonly inputName: (tensor: string) => string = (t) => t,
  ) {}

  /** The graph input holding `tensor` (named like the tensor), declared on first use. */
  get(tensor: string): string {
    const hit = this.seen.get(tensor);
    if (hit) return hit;
    const shape = [...this.shapeOf(tensor)];
    const input = this.inputName(tensor);
    this.b.input(input, "float32", shape);
    this.list.push({ input, tensor, shape });
    this.seen.set(tensor, input);
    return input;
  }

  shape(tensor: string): readonly number[] {
    return this.shapeOf(tensor);
  }
}
