/**
 * Params and results of the measuring jobs (`headshare/eval`, `headshare/sweep`,
 * `headshare/postshare`), from the CLI flags and JSON keys of issues 4 and 5. Results are loose
 * objects: the keys below are guaranteed, the eval/PostShare cores may add more (e.g. per-layer
 * diagnostics) without a protocol change.
 */
import * as z from "zod";
import { absolutePath, computeSchema, providersSchema, ratioSchema, usedProviderSchema as usedProvider, waitSchema } from "./common";
import { evalResultSchema as coreEvalResultSchema, forwardPathSchema, sweepResultSchema as coreSweepResultSchema } from "../core/eval/results";
import { PROJECTIONS } from "../core/model/types";
import { postShareResultSchema as corePostShareResultSchema } from "../core/train/results";
import { TrainError } from "../core/train/errors";
import { definedOnly } from "../core/defined";
import { OUTPUT_FORMATS, PRESETS, TRAIN_ON, TRAINABLE, WEIGHT_LOSSES, validatePostShareOptions } from "../core/train/postshareOptions";
import { granularitySchema, matchTableSchema, sharingPlanSchema, strategySchema } from "./shareSchemas";

/** How a text is cut into scored windows (stated with every result). */
export const textProtocolOptions = {
  /** Score each document (separated by this string; trimmed; empty ones skipped) on its own as BOS + tokens truncated to the window. */
  documentsSeparator: z.string().min(1).max(200).optional(),
  /** Tokens per window, BOS counted. Default: the core's (the model's context, at most 512). */
  window: z
    .number()
    .int()
    .min(2)
    .max(1 << 20)
    .optional(),
  /** Stream mode: how far the window moves; every token is predicted once. Default: window − 1. */
  stride: z
    .number()
    .int()
    .min(1)
    .max(1 << 20)
    .optional(),
  /** Prepend BOS (`--no-bos` turns it off). */
  bos: z.boolean().default(true),
};

/** Forward path and memory budget of a job that runs a model (src/core/eval/evaluate.ts, memoryBudget.ts). */
export const runModelOptions = {
  /** GiB the evaluation may use (default: min(4 GiB, a quarter of the machine's memory)). */
  memoryBudgetGiB: z
    .number()
    .positive()
    .max(1 << 20)
    .optional(),
  /** "auto" (default): the whole-model graph when the weights fit a quarter of the budget as float32, else layer-streamed. */
  forward: z.enum(["auto", "whole-model", "layer-streamed"]).optional(),
};

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

/** src/core/eval/results.ts EvalResult, with the provider checked; quick eval (`ratio`) adds the ratio and the units it shared. */
export const evalResultSchema = coreEvalResultSchema.extend({
  provider: usedProvider,
  /** The core always says; optional here so older results still parse. */
  forward: forwardPathSchema.optional(),
  compute: computeSchema.optional(),
  /** Quick eval (`ratio`): the model is the original, `compare` the original shared at `ratio` in memory. */
  ratio: ratioSchema.optional(),
  selected: z.number().int().nonnegative().optional(),
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

/** src/core/eval/results.ts SweepResult, with the provider checked. */
export const sweepResultSchema = coreSweepResultSchema.extend({
  provider: usedProvider,
  forward: forwardPathSchema.optional(),
  compute: computeSchema.optional(),
});

/**
 * PostShare options (src/core/train/postshareOptions.ts PostShareOptions); absent ones take the
 * core's defaults. Only the shapes are stated here: the ranges and rules are the core's own
 * `validatePostShareOptions`, run on the parsed params (one set of rules, the CLI's flag names in messages).
 */
export const postShareParamsShape = z.object({
  model: absolutePath,
  ratio: z.number(),
  /** Post-training text files. */
  text: z.array(absolutePath),
  /** Held-out text files; otherwise a split of `text` that is never trained on. */
  heldout: z.array(absolutePath).optional(),
  steps: z.number().optional(),
  /** Where options left out come from: the core's defaults, or method.md §5 exactly ("paper"). */
  preset: z.enum(PRESETS).optional(),
  lr: z.number().optional(),
  warmupSteps: z.number().optional(),
  /** AdamW and the schedule: final learning rate ÷ lr (cosine decay), β1, β2, ε, decoupled weight decay, gradient-norm clipping (0 = off). */
  minLrRatio: z.number().optional(),
  beta1: z.number().optional(),
  beta2: z.number().optional(),
  eps: z.number().optional(),
  weightDecay: z.number().optional(),
  clipNorm: z.number().optional(),
  lambdaLm: z.number().optional(),
  lambdaW: z.number().optional(),
  weightLoss: z.enum(WEIGHT_LOSSES).optional(),
  trainOn: z.enum(TRAIN_ON).optional(),
  trainable: z.enum(TRAINABLE).optional(),
  /** Projections the weight loss pulls together (core default q, k, v, o; q, k, v is the paper's loss). */
  regularize: z.array(z.enum(PROJECTIONS)).optional(),
  /** Held-out: the last N documents of `text` (when `heldout` is absent). */
  heldoutDocs: z.number().optional(),
  /** Sequences sampled from the original model for post-training (trainOn sampled/both), their length and temperature. */
  sampleSequences: z.number().optional(),
  sampleLength: z.number().optional(),
  sampleTemperature: z.number().optional(),
  /** Sequences per step and tokens per sequence (capped at the model's context). */
  batchSize: z.number().optional(),
  seqLen: z.number().optional(),
  /** Resumable training checkpoint written at the end (and every `checkpointEvery` steps); `resumeFrom` continues one. */
  checkpointFile: absolutePath.optional(),
  checkpointEvery: z.number().optional(),
  resumeFrom: absolutePath.optional(),
  seed: z.number().optional(),
  strategy: strategySchema.optional(),
  granularity: granularitySchema.optional(),
  /** Where the PostShare model is written; absent: metrics only. */
  out: absolutePath.optional(),
  format: z.enum(OUTPUT_FORMATS).optional(),
  force: z.boolean().optional(),
  wait: waitSchema.optional(),
  providers: providersSchema.optional(),
});
/** The core's `validatePostShareOptions` as a zod refinement (postshare and postshare-job params). */
export function postShareRules({ model: _model, out, providers: _providers, ...rest }: z.infer<typeof postShareParamsShape>, ctx: z.core.$RefinementCtx): void {
  try {
    validatePostShareOptions(definedOnly({ ...rest, outDir: out }));
  } catch (e) {
    if (!(e instanceof TrainError)) throw e;
    ctx.addIssue({ code: "custom", message: e.message });
  }
}
export const postShareParamsSchema = postShareParamsShape.superRefine(postShareRules);

/**
 * PostShare's hyperparameters as the extension's `headshare.postshare` setting holds them (the same
 * keys and bounds as the job's params); absent keys take the preset's values.
 */
export const postShareHyperparametersSchema = postShareParamsShape
  .pick({
    preset: true,
    steps: true,
    lr: true,
    warmupSteps: true,
    minLrRatio: true,
    beta1: true,
    beta2: true,
    eps: true,
    weightDecay: true,
    clipNorm: true,
    lambdaLm: true,
    lambdaW: true,
    weightLoss: true,
    regularize: true,
    trainOn: true,
    trainable: true,
    sampleSequences: true,
    sampleLength: true,
    sampleTemperature: true,
    batchSize: true,
    seqLen: true,
    seed: true,
  })
  .strict();
export type PostShareHyperparameters = z.infer<typeof postShareHyperparametersSchema>;

/** src/core/train/results.ts PostShareResult, with the plan and the provider checked. */
export const postShareResultSchema = corePostShareResultSchema.extend({ plan: sharingPlanSchema, provider: usedProvider, compute: computeSchema.optional() });
