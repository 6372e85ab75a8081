/**
 * The forward graph the trainer differentiates, from a checkpoint: the runtime's builder for the
 * model's family (weights are graph inputs), with the per-token NLL output and no logits.
 */
import { buildLlamaGraph } from "../graph/llama";
import { NLL, type ForwardGraph } from "../graph/types";
import type { Checkpoint } from "../model/checkpoint";
import { TrainError } from "./errors";

export function trainingForward(ckpt: Checkpoint): ForwardGraph {
  if (ckpt.compact) {
    throw new TrainError("bad-checkpoint", "training needs a dense checkpoint, this one is compact; expand it first (headshare expand)", ckpt.weightsPath);
  }
  const shapeOf = (t: string): readonly number[] => ckpt.source.info(t).shape;
  switch (ckpt.spec.family) {
    case "llama":
      return buildLlamaGraph(ckpt.spec, ckpt.source, shapeOf, { logits: false, nll: true }, ckpt.weightsPath);
    default:
      throw new TrainError("bad-checkpoint", `training supports the llama family (Llama, Mistral, Qwen2) for now; this checkpoint is ${ckpt.spec.architecture}`, ckpt.weightsPath);
  }
}

export { NLL };
