/**
 * Language-model training alone: every weight of a dense checkpoint trainable, the LM loss only
 * (λ_lm 1, λ_w 0, no pairs). What the demo model's training (scripts/train-demo-model.ts), the
 * train bench and the training loop's tests set up before they make a `Trainer`.
 *
 *   ckpt ─► trainingForward (nll, weights as inputs) ─► buildTrainGraph (loss = LM) ─► graph + gradOutputs
 *        └► each weight as float32 ─► params
 */
import type { WeightInput } from "../graph/types";
import type { Checkpoint } from "../model/checkpoint";
import { NLL, trainingForward } from "./forward";
import { loadParams } from "./postshare";
import { buildTrainGraph, type TrainGraph } from "./trainGraph";

export interface LmTraining {
  /** Forward, LM loss and backward, with every weight input trainable. */
  readonly train: TrainGraph;
  /** The forward graph's weight inputs and the checkpoint tensors they read. */
  readonly weights: readonly WeightInput[];
  /** The checkpoint's weights as float32, by graph input (the trainer updates them in place). */
  readonly params: Map<string, Float32Array>;
}

export async function lmTraining(ckpt: Checkpoint): Promise<LmTraining> {
  const fwd = trainingForward(ckpt);
  const train = buildTrainGraph(fwd.graph, {
    nll: NLL,
    trainable: fwd.weights.map((w) => w.input),
    lambdaLm: 1,
    lambdaW: 0,
    weightLoss: "l2",
    pairs: [],
    targets: 0,
  });
  return { train, weights: fwd.weights, params: await loadParams(ckpt, fwd.weights) };
}
