/**
 * The forward graph the trainer differentiates, from a checkpoint: the runtime's builder for the
 * model's family (`buildForward`; weights are graph inputs), with the per-token NLL output and no
 * logits.
 */
import { buildForward } from "../graph/forward";
import { NLL, type ForwardGraph } from "../graph/types";
import type { Checkpoint } from "../model/checkpoint";
import { TrainError } from "./errors";

export function trainingForward(ckpt: Checkpoint): ForwardGraph {
  if (ckpt.compact) {
    throw new TrainError("bad-checkpoint", "training needs a dense checkpoint, this one is compact; expand it first (headshare expand)", ckpt.weightsPath);
  }
  return buildForward(ckpt, { logits: false, nll: true });
}

export { NLL };
