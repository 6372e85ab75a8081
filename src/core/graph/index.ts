/**
 * Public API of the forward graphs (for eval, the training engine and the worker): build the
 * graph of a checkpoint, load its weight feeds, the input/output names.
 */
export { buildForward, compactPlanOf } from "./forward";
export { loadWeightFeeds, applyPlanInPlace, type WeightFeed, type LoadFeedsOptions } from "./feeds";
export { buildLlamaGraph, llamaInvFreq } from "./llama";
export { buildGpt2Graph } from "./gpt2";
export { buildNeoxGraph } from "./neox";
export { compactAssembler, compactBanks, checkPlan, sharedProjections, type CompactShapes } from "./compact";
export {
  INPUT_IDS,
  TARGETS,
  LOGITS,
  LOGPROBS,
  NLL,
  ATTENTION_GRAM,
  hiddenStateName,
  attentionName,
  chunking,
  type ForwardGraph,
  type ForwardOptions,
  type WeightInput,
  type ShapeOf,
} from "./types";
export { ATTENTION_MASK, POSITION_IDS, pastKeyName, pastValueName, presentKeyName, presentValueName, cacheHeads } from "./kvCache";
