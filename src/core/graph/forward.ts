/**
 * `buildForward(ckpt, opts)`: the forward graph of an open checkpoint (dispatch on the family),
 * and `loadWeightFeeds`: the float32 arrays to feed its weight inputs, optionally with a sharing
 * plan applied in memory (each target's slices replaced by its root's, for sweeps).
 */
import type { Checkpoint } from "../model/checkpoint";
import { OnnxError } from "../onnx/errors";
import type { SharingPlan } from "../share/types";
import { parseSharingPlan } from "../share/planJson";
import { PlanError } from "../share/errors";
import { buildGpt2Graph } from "./gpt2";
import { buildLlamaGraph } from "./llama";
import { buildNeoxGraph } from "./neox";
import type { ForwardGraph, ForwardOptions } from "./types";

/** The checkpoint's compact plan, validated (structure, ranges, roots stored in lower layers). */
export function compactPlanOf(ckpt: Checkpoint): SharingPlan | undefined {
  if (!ckpt.compact) return undefined;
  try {
    return parseSharingPlan(ckpt.compact.plan, `${ckpt.weightsPath} (headshare.plan metadata)`);
  } catch (e) {
    if (e instanceof PlanError) throw new OnnxError("bad-graph", `${e.message}; re-create the compact checkpoint with headshare share`);
    throw e;
  }
}

export function buildForward(ckpt: Checkpoint, opts: ForwardOptions = {}): ForwardGraph {
  if (opts.kvCache && (opts.nll || opts.logprobs || opts.hiddenStates || opts.attentions || opts.attentionGram || opts.logits === false)) {
    throw new OnnxError(
      "bad-option",
      `${ckpt.weightsPath}: the KV-cache decoder outputs logits and present.* only; build the scoring graph for nll, logprobs, hidden states or attentions`,
    );
  }
  const compactPlan = opts.compactPlan ?? compactPlanOf(ckpt);
  const o: ForwardOptions = { ...opts, ...(compactPlan ? { compactPlan } : {}) };
  const stored = (t: string): readonly number[] => ckpt.source.info(t).shape;
  const shapes = { stored, dense: (t: string): readonly number[] => ckpt.compact?.originalShapes[t] ?? stored(t) };
  const file = ckpt.weightsPath;
  switch (ckpt.spec.family) {
    case "llama":
      return buildLlamaGraph(ckpt.spec, ckpt.source, shapes, o, file);
    case "gpt2":
      return buildGpt2Graph(ckpt.spec, ckpt.source, shapes, o, file);
    case "gpt-neox":
      return buildNeoxGraph(ckpt.spec, ckpt.source, shapes, o, file);
    default:
      throw new OnnxError(
        "unsupported",
        `${file}: forward graphs exist for the llama, gpt2 and gpt-neox families; ${ckpt.spec.architecture} (${ckpt.spec.family}) cannot be evaluated`,
      );
  }
}
