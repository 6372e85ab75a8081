/**
 * Params and results of the measuring jobs (`headshare/eval`, `headshare/sweep`,
 * `headshare/postshare`), from the CLI flags and JSON keys of issues 4 and 5. Results are loose
 * objects: the keys below are guaranteed, the eval/PostShare cores may add more (e.g. per-layer
 * diagnostics) without a protocol change.
 */
import { z } from "zod";
import { absolutePath, computeSchema, finite, providersSchema, ratioSchema, usedProviderSchema as usedProvider } from "./common";
import { granularitySchema, matchTableSchema, sharingPlanSchema, strategySchema } from "./shareSchemas";

/** How a text is cut into scored windows (stated with every result). */
export const textProtocolOptions = {
  /** Score each document (separated by this string; trimmed; empty ones skipped) on its own as BOS + tokens truncated to the window. */
  documentsSeparator: z.string().min(1).max(200).optional(),
  /** Tokens per window, BOS counted. Default: the core's (the model's context, at most 512). */
  window: z.number().int().min(2).max(1 << 20).optional(),
  /** Stream mode: how far the window moves; every token is predicted once. Default: window − 1. */
  stride: z.number().int().min(1).max(1 << 20).optional(),
  /** Prepend BOS (`--no-bos` turns it off). */
  bos: z.boolean().default(true),
};

/** Forward path and memory budget of a job that runs a model (src/core/eval/evaluate.ts, memoryBudget.ts). */
export const runModelOptions = {
  /** GiB the evaluation may use (default: min(4 GiB, a quarter of the machine's memory)). */
  memoryBudgetGiB: z.number().positive().max(1 << 20).optional(),
  /** "auto" (default): the whole-model graph when the weights fit a quarter of the budget as float32, else layer-streamed. */
  forward: z.enum(["auto", "whole-model", "layer-streamed"]).optional(),
};

const forwardPath = z.enum(["whole-model", "layer-streamed"]);
/** The layer-streamed forward's memory choice (src/core/eval/memoryBudget.ts MemoryChoice + passes). */
export const streamedMemorySchema = z.object({
  budgetBytes: z.number().nonnegative(),
  tokensPerPass: z.number().int().positive(),
  vocabChunk: z.number().int().positive(),
  estimatedPeakBytes: z.number().nonnegative(),
  passes: z.number().int().positive(),
  parts: z.object({ layerWeights: z.number(), readBuffer: z.number(), planCopies: z.number(), activations: z.number(), head: z.number() }),
});

export const evalParamsSchema = z.object({
  model: absolutePath,
  /** A second model (e.g. the original) to compare against: KL, top-1 agreement, hidden-state cosine. */
  compare: absolutePath.optional(),
  text: absolutePath,
  ...textProtocolOptions,
  /** Also the attention-map similarity of heads on the text (paper Fig. 1): every head's best lower-layer head. */
  attention: z.boolean().default(false),
  /**
   * Quick eval: compare the model with itself shared at this ratio (plan applied in memory while
   * reading, nothing written); `compare` must then be absent. `strategy`/`granularity`/`table` as for share.
   */
  ratio: ratioSchema.optional(),
  strategy: strategySchema.default("qk"),
  granularity: granularitySchema.default("group"),
  table: matchTableSchema.optional(),
  ...runModelOptions,
  providers: providersSchema.optional(),
});

const count = z.number().int().nonnegative();

/** The windowing actually used (src/core/eval/evaluate.ts ProtocolFacts). */
export const protocolFactsSchema = z.object({
  kind: z.enum(["documents", "stream"]),
  window: count,
  stride: count.optional(),
  separator: z.string().optional(),
  bos: z.boolean(),
  windows: count,
  description: z.string(),
});

/** src/core/eval/attentionSimilarity.ts AttentionSimilarity. */
export const attentionSimilaritySchema = z.object({
  format: z.literal("headshare.attention-similarity"),
  version: z.literal(1),
  measure: z.string(),
  layers: count,
  heads: count,
  positions: count,
  windows: count,
  entries: z.array(z.object({ layer: count, head: count, sourceLayer: count, sourceHead: count, score: finite })),
  best: z.array(z.array(finite.nullable())),
  provider: z.string(),
});

/** src/core/eval/evaluate.ts EvalResult, with the provider checked. */
export const evalResultSchema = z.object({
  tokens: count,
  nll: finite,
  ppl: finite,
  protocol: protocolFactsSchema,
  provider: usedProvider,
  compute: computeSchema.optional(),
  seconds: z.number().nonnegative(),
  parameters: count,
  bytes: count,
  kl: finite.optional(),
  top1Agreement: z.number().min(0).max(1).optional(),
  /** One cosine per layer (when both models have the same shape). */
  hiddenCosine: z.array(finite).optional(),
  /** The `--compare` model's own numbers. */
  compare: z.object({ nll: finite, ppl: finite, parameters: count, bytes: count }).optional(),
  /** With `attention`: the layer × head attention-map similarity table. */
  attention: attentionSimilaritySchema.optional(),
  /** Which forward ran (the core always says; optional here so older results still parse), and the layer-streamed one's memory choice. */
  forward: forwardPath.optional(),
  memory: streamedMemorySchema.optional(),
  /** Quick eval (`ratio`): the model is the original, `compare` the original shared at `ratio` in memory. */
  ratio: ratioSchema.optional(),
  selected: count.optional(),
  klDirection: z.string().optional(),
});

export const sweepParamsSchema = z.object({
  model: absolutePath,
  ratios: z.array(ratioSchema).min(1).max(200),
  text: absolutePath,
  strategy: strategySchema.default("qk"),
  granularity: granularitySchema.default("group"),
  /** A match table already computed for this checkpoint (skips matching). */
  table: matchTableSchema.optional(),
  ...textProtocolOptions,
  ...runModelOptions,
  providers: providersSchema.optional(),
});

/** src/core/eval/sweep.ts SweepRow. */
export const sweepRowSchema = z.object({
  ratio: ratioSchema,
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
  top1Agreement: z.number().min(0).max(1),
  hiddenCosine: z.array(finite),
});
/** src/core/eval/sweep.ts SweepResult. */
export const sweepResultSchema = z.object({
  rows: z.array(sweepRowSchema),
  original: z.object({ nll: finite, ppl: finite, parameters: count, bytes: count }),
  tokens: count,
  protocol: protocolFactsSchema,
  strategy: strategySchema,
  granularity: granularitySchema,
  klDirection: z.string(),
  provider: usedProvider,
  compute: computeSchema.optional(),
  seconds: z.number().nonnegative(),
  forward: forwardPath.optional(),
  memory: streamedMemorySchema.optional(),
});

/** PostShare options (src/core/train/postshare.ts PostShareOptions); absent ones take the core's defaults. */
export const postShareParamsSchema = z.object({
  model: absolutePath,
  ratio: ratioSchema,
  /** Post-training text files. */
  text: z.array(absolutePath).min(1).max(1000),
  /** Held-out text files; otherwise a split of `text` that is never trained on. */
  heldout: z.array(absolutePath).min(1).max(1000).optional(),
  /** Where options left out come from: the core's defaults, or method.md §5 exactly ("paper"). */
  preset: z.enum(["default", "paper"]).optional(),
  steps: z.number().int().min(1).max(10_000_000).optional(),
  lr: z.number().positive().max(1).optional(),
  warmupSteps: z.number().int().nonnegative().optional(),
  /** AdamW and the schedule: final learning rate ÷ lr (cosine decay), β1, β2, ε, decoupled weight decay, gradient-norm clipping (0 = off). */
  minLrRatio: z.number().min(0).max(1).optional(),
  beta1: z.number().min(0).lt(1).optional(),
  beta2: z.number().min(0).lt(1).optional(),
  eps: z.number().positive().optional(),
  weightDecay: z.number().min(0).optional(),
  clipNorm: z.number().min(0).optional(),
  lambdaLm: z.number().min(0).optional(),
  lambdaW: z.number().min(0).optional(),
  weightLoss: z.enum(["l2", "mse"]).optional(),
  trainOn: z.enum(["text", "sampled", "both"]).optional(),
  trainable: z.enum(["all", "attention"]).optional(),
  /** Projections the weight loss pulls together (core default q, k, v, o; q, k, v is the paper's loss). */
  regularize: z.array(z.enum(["q", "k", "v", "o"])).min(1).max(4)
    .refine((r) => new Set(r).size === r.length, { message: "regularize lists a projection twice" }).optional(),
  /** Held-out: the last N documents of `text` (when `heldout` is absent). */
  heldoutDocs: z.number().int().min(1).max(10_000_000).optional(),
  /** Sequences sampled from the original model for post-training (trainOn sampled/both), their length and temperature. */
  sampleSequences: z.number().int().min(1).max(1_000_000).optional(),
  sampleLength: z.number().int().min(2).max(1 << 20).optional(),
  sampleTemperature: z.number().positive().max(100).optional(),
  /** Sequences per step and tokens per sequence (capped at the model's context). */
  batchSize: z.number().int().min(1).max(1 << 16).optional(),
  seqLen: z.number().int().min(2).max(1 << 20).optional(),
  /** Resumable training checkpoint written at the end (and every `checkpointEvery` steps); `resumeFrom` continues one. */
  checkpointFile: absolutePath.optional(),
  checkpointEvery: z.number().int().min(1).optional(),
  resumeFrom: absolutePath.optional(),
  seed: z.number().int().optional(),
  strategy: strategySchema.optional(),
  granularity: granularitySchema.optional(),
  /** Where the PostShare model is written; absent: metrics only. */
  out: absolutePath.optional(),
  format: z.enum(["compact", "dense"]).optional(),
  force: z.boolean().optional(),
  wait: z.union([z.boolean(), z.number().int().min(0)]).optional(),
  providers: providersSchema.optional(),
});

/**
 * PostShare's hyperparameters as the extension's `headshare.postshare` setting holds them (the same
 * keys and bounds as the job's params); absent keys take the preset's values.
 */
export const postShareHyperparametersSchema = postShareParamsSchema.pick({
  preset: true, steps: true, lr: true, warmupSteps: true, minLrRatio: true, beta1: true, beta2: true, eps: true,
  weightDecay: true, clipNorm: true, lambdaLm: true, lambdaW: true, weightLoss: true, regularize: true, trainOn: true,
  trainable: true, sampleSequences: true, sampleLength: true, sampleTemperature: true, batchSize: true, seqLen: true, seed: true,
}).strict();
export type PostShareHyperparameters = z.infer<typeof postShareHyperparametersSchema>;

const heldoutScore = z.object({ nll: finite, ppl: finite, tokens: count, documents: count });
const comparison = z.object({ kl: finite, top1Agreement: z.number().min(0).max(1) });
export const lossCurveRowSchema = z.object({
  step: count, lm: finite, weight: finite, lr: finite, loss: finite, gradNorm: finite, tokensPerSecond: z.number().nonnegative(),
});
/** src/core/train/postshare.ts PostShareScores (postshare and postshare-import). */
export const postShareScoresShape = {
  original: heldoutScore,
  directShare: heldoutScore,
  postTrained: heldoutScore,
  postShare: heldoutScore,
  meanRelativePairDistance: z.object({ before: finite, after: finite }),
  finalShare: comparison,
  directShareVsOriginal: comparison,
};

/** src/core/train/postshare.ts PostShareResult. */
export const postShareResultSchema = z.object({
  model: z.string(),
  ratio: ratioSchema,
  strategy: strategySchema,
  granularity: granularitySchema,
  selected: count,
  plan: sharingPlanSchema,
  ...postShareScoresShape,
  lossCurve: z.array(lossCurveRowSchema),
  steps: count,
  tokens: count,
  trainSeconds: z.number().nonnegative(),
  tokensPerSecond: z.number().nonnegative(),
  seconds: z.number().nonnegative(),
  provider: usedProvider,
  compute: computeSchema.optional(),
  heldoutDocuments: count,
  trainDocuments: count,
  options: z.record(z.string(), z.unknown()),
  outDir: z.string().optional(),
});
