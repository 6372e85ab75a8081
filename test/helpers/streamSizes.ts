/** The layer-streamed forward's sizes (src/core/eval/memoryBudget.ts StreamSizes) of known models, for the chooser's tests. */
import type { StreamSizes } from "../../src/core/eval/memoryBudget";

/** Llama-2-7B: one layer 202 M parameters (0.75 GiB as float32; the read arena holds the next layer in BF16, 0.38 GiB); 40 windows of 512. */
export const LLAMA2_7B_STREAM: StreamSizes = {
  layerWeightBytes: 4 * 202_383_360,
  readBufferBytes: 2 * 202_383_360,
  savedBytes: 0,
  rootSliceBytes: 0,
  hidden: 4096,
  heads: 32,
  ffn: 11008,
  vocab: 32000,
  models: 1,
  window: 512,
  totalTokens: 512 * 40,
  attentionChunk: 64,
  headRowBytes: 12 * 4096, // BF16 lm_head: two slots of 2 + 4 bytes per value
};
