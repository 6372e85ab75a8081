/**
 * What the measuring jobs return (evaluate, sweep, attention-map similarity): one zod schema per
 * result, the TypeScript types inferred from them. The cores build these; the worker protocol
 * (src/protocol/workerEval.ts) validates them on receipt with the same schemas (narrowing only
 * `provider` to the execution providers it knows). Pure: the extension host bundles this file.
 */
import * as z from "zod";
import { GRANULARITIES } from "../model/types";
import { STRATEGIES } from "../share/types";

const count = z.number().int().nonnegative();
const finite = z.number().refine(Number.isFinite, "a finite number");
const agreement = z.number().min(0).max(1);

/** The windowing actually used (stated with every result: method.md §6). */
export const protocolFactsSchema = z.object({
  kind: z.enum(["documents", "stream"]),
  window: count,
  stride: count.optional(),
  separator: z.string().optional(),
  bos: z.boolean(),
  windows: count,
  description: z.string(),
});
export type ProtocolFacts = z.infer<typeof protocolFactsSchema>;

/** One head's best strictly-lower-layer head by attention-map similarity. */
export const attentionMatchSchema = z.object({ layer: count, head: count, sourceLayer: count, sourceHead: count, score: finite });
export type AttentionMatch = z.infer<typeof attentionMatchSchema>;

/** The layer × head attention-map similarity table (paper Fig. 1). */
export const attentionSimilaritySchema = z.object({
  format: z.literal("headshare.attention-similarity"),
  version: z.literal(1),
  measure: z.string(),
  layers: count,
  heads: count,
  /** Query positions averaged over. */
  positions: count,
  windows: count,
  /** Heads of layers 1..L−1, sorted by (layer, head). */
  entries: z.array(attentionMatchSchema),
  /** best[l][h]: the best lower-layer score of head (l, h); null for layer 0. */
  best: z.array(z.array(finite.nullable())),
  provider: z.string(),
});
export type AttentionSimilarity = z.infer<typeof attentionSimilaritySchema>;

/** The two forwards: one graph of the whole model (weights loaded once), or one layer at a time. */
export const forwardPathSchema = z.enum(["whole-model", "layer-streamed"]);
export type ForwardPath = z.infer<typeof forwardPathSchema>;

/** How the layer-streamed forward fits a memory budget (src/core/eval/memoryBudget.ts chooseMemory). */
export const memoryChoiceSchema = z.object({
  budgetBytes: z.number().nonnegative(),
  /** Padded tokens per pass (the windows scored together through every layer). */
  tokensPerPass: z.number().int().positive(),
  vocabChunk: z.number().int().positive(),
  estimatedPeakBytes: z.number().nonnegative(),
  /** The estimate's parts (bytes). */
  parts: z.object({
    layerWeights: z.number(),
    readBuffer: z.number(),
    planSaved: z.number(),
    rootSlices: z.number(),
    activations: z.number(),
    head: z.number(),
  }),
});
export type MemoryChoice = z.infer<typeof memoryChoiceSchema>;

/** The layer-streamed forward's memory choice and the passes it made (src/core/eval/streamed.ts). */
export const streamedMemorySchema = memoryChoiceSchema.extend({ passes: z.number().int().positive() });
export type StreamedMemory = z.infer<typeof streamedMemorySchema>;

const sizedScore = z.object({ nll: finite, ppl: finite, parameters: count, bytes: count });

/** Perplexity/NLL of a model on a text, optionally against a second model. */
export const evalResultSchema = z.object({
  tokens: count,
  nll: finite,
  ppl: finite,
  protocol: protocolFactsSchema,
  provider: z.string(),
  seconds: z.number().nonnegative(),
  parameters: count,
  bytes: count,
  kl: finite.optional(),
  /** States which way `kl` goes: "KL(P_model ‖ P_compare)". */
  klDirection: z.string().optional(),
  top1Agreement: agreement.optional(),
  /** One cosine per layer (when both models have the same shape). */
  hiddenCosine: z.array(finite).optional(),
  /** The compared model's own numbers. */
  compare: sizedScore.optional(),
  /** With the worker's `attention` option: the layer × head attention-map similarity table. */
  attention: attentionSimilaritySchema.optional(),
  /** Which forward ran, and the layer-streamed one's memory choice. */
  forward: forwardPathSchema,
  memory: streamedMemorySchema.optional(),
});
export type EvalResult = z.infer<typeof evalResultSchema>;

/** One ratio of a sweep. */
export const sweepRowSchema = z.object({
  ratio: z.number().min(0).max(1),
  selected: count,
  savedUnits: count,
  chainedTargets: count,
  /** Parameters and bytes of the compact checkpoint this plan writes. */
  parameters: count,
  bytes: count,
  nll: finite,
  ppl: finite,
  /** KL(P_original ‖ P_shared) per predicted token. */
  kl: finite,
  top1Agreement: agreement,
  hiddenCosine: z.array(finite),
});
export type SweepRow = z.infer<typeof sweepRowSchema>;

/** One match table, then the shared model's metrics at each ratio. */
export const sweepResultSchema = z.object({
  rows: z.array(sweepRowSchema),
  original: sizedScore,
  tokens: count,
  protocol: protocolFactsSchema,
  strategy: z.enum(STRATEGIES),
  granularity: z.enum(GRANULARITIES),
  /** "KL(P_original ‖ P_shared)" (method.md §6). */
  klDirection: z.string(),
  provider: z.string(),
  seconds: z.number().nonnegative(),
  /** Which forward ran; layer-streamed: every ratio in lockstep with the original, layers before a ratio's first changed layer computed once. */
  forward: forwardPathSchema,
  memory: streamedMemorySchema.optional(),
});
export type SweepResult = z.infer<typeof sweepResultSchema>;
