/** Declares checkpoint tensors as float32 graph inputs, once each, on first use. */
import type { GraphBuilder } from "../onnx/builder";
import type { ShapeOf, WeightInput } from "./types";

export class WeightInputs {
  readonly list: WeightInput[] = [];
  private readonly seen = new Map<string, string>();

  constructor(private readonly b: GraphBuilder, private readonly shapeOf: ShapeOf) {}

  /** The graph input holding `tensor` (named like the tensor), declared on first use. */
  get(tensor: string): string {
    const hit = this.seen.get(tensor);
    if (hit) return hit;
    const shape = [...this.shapeOf(tensor)];
    this.b.input(tensor, "float32", shape);
    this.list.push({ input: tensor, tensor, shape });
    this.seen.set(tensor, tensor);
    return tensor;
  }

  shape(tensor: string): readonly number[] {
    return this.shapeOf(tensor);
  }
}
