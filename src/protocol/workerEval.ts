/**
 * Params and results of the measuring jobs (`headshare/eval`, `headshare/sweep`,
 * `headshare/postshare`), from the CLI flags and JSON keys of issues 4 and 5. Results are loose
 * objects: the keys below are guaranteed, the eval/PostShare cores may add more (e.g. per-layer
 * diagnostics) without a protocol change.
 */
import { z } from "zod";
import { absolutePath, finite, providersSchema, ratioSchema, usedProviderSchema as usedProvider } from "./common";
import { granularitySchema, strategySchema } from "./shareSchemas";

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

export const evalParamsSchema = z.object({
  model: absolutePath,
  /** A second model (e.g. the original) to compare against: KL, top-1 agreement, hidden-state cosine. */
  compare: absolutePath.optional(),
  text: absolutePath,
  ...textProtocolOptions,
  providers: providersSchema.optional(),
});

const nllPpl = z.looseObject({ nll: finite, ppl: finite });
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

/** src/core/eval/evaluate.ts EvalResult, with the provider checked. */
export const evalResultSchema = z.object({
  tokens: count,
  nll: finite,
  ppl: finite,
  protocol: protocolFactsSchema,
  provider: usedProvider,
  seconds: z.number().nonnegative(),
  parameters: count,
  bytes: count,
  kl: finite.optional(),
  top1Agreement: z.number().min(0).max(1).optional(),
  /** One cosine per layer (when both models have the same shape). */
  hiddenCosine: z.array(finite).optional(),
  /** The `--compare` model's own numbers. */
  compare: z.object({ nll: finite, ppl: finite, parameters: count, bytes: count }).optional(),
});

export const sweepParamsSchema = z.object({
  model: absolutePath,
  ratios: z.array(z.number().min(0).max(1)).min(1).max(200),
  text: absolutePath,
  strategy: strategySchema.default("qk"),
  granularity: granularitySchema.default("group"),
  ...textProtocolOptions,
  providers: providersSchema.optional(),
});

export const sweepRowSchema = z.looseObject({
  ratio: ratioSchema,
  selected: z.number().int().nonnegative(),
  nll: finite,
  ppl: finite,
  kl: finite.optional(),
  top1Agreement: z.number().min(0).max(1).optional(),
});
export const sweepResultSchema = z.looseObject({
  rows: z.array(sweepRowSchema),
  provider: usedProvider,
  seconds: z.number().nonnegative(),
});

export const postShareParamsSchema = z.object({
  model: absolutePath,
  ratio: ratioSchema,
  /** Post-training text files. */
  text: z.array(absolutePath).min(1).max(1000),
  /** Held-out text; otherwise a split of `text` that is never trained on. */
  heldout: absolutePath.optional(),
  steps: z.number().int().min(1).max(10_000_000).optional(),
  lr: z.number().positive().max(1).optional(),
  lambdaLm: z.number().min(0).default(0.5),
  lambdaW: z.number().min(0).default(0.5),
  weightLoss: z.enum(["l2", "mse"]).default("l2"),
  strategy: strategySchema.default("qk"),
  granularity: granularitySchema.default("group"),
  format: z.enum(["compact", "dense"]).default("compact"),
  out: absolutePath,
  force: z.boolean().default(false),
  providers: providersSchema.optional(),
});

export const lossCurveRowSchema = z.looseObject({ step: z.number().int().nonnegative(), lm: finite, weight: finite, lr: finite });
export const postShareResultSchema = z.looseObject({
  original: nllPpl,
  directShare: nllPpl,
  postShare: nllPpl,
  lossCurve: z.array(lossCurveRowSchema),
  seconds: z.number().nonnegative(),
  provider: usedProvider,
});
