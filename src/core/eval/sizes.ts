/** Parameters and bytes a checkpoint stores (compact checkpoints: the stored, smaller tensors). */
import type { Checkpoint } from "../model/checkpoint";

export interface ModelSize {
  readonly parameters: number;
  readonly bytes: number;
}

export function modelSize(ckpt: Checkpoint): ModelSize {
  let parameters = 0,
    bytes = 0;
  for (const t of ckpt.source.tensors) {
    parameters += t.shape.reduce((a, b) => a * b, 1);
    bytes += t.dataOffsets[1] - t.dataOffsets[0];
  }
  return { parameters, bytes };
}
