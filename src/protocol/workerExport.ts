/** The worker's export job (`headshare export --format onnx`, "Export for ONNX Runtime…"): params and result. */
import * as z from "zod";
import { absolutePath, providersSchema, ratioSchema, usedProviderSchema, waitSchema } from "./common";
import { sharingPlanSchema, strategySchema } from "./shareSchemas";
import { exportDtypeSchema, exportResultSchema as coreExportResultSchema } from "../core/export/results";

export const exportParamsSchema = z.object({
  model: absolutePath,
  /** A new folder (refused when it exists). */
  out: absolutePath,
  wait: waitSchema.optional(),
  /** Share at this ratio (a dense checkpoint); a compact checkpoint exports with its own plan. */
  ratio: ratioSchema.optional(),
  strategy: strategySchema.default("qk"),
  /** A plan file (JSON) made for this model. */
  planFile: absolutePath.optional(),
  dtype: exportDtypeSchema.default("fp32"),
  /** Force external data (default: only over 2 GB). */
  externalData: z.boolean().optional(),
  providers: providersSchema.optional(),
});

/** The core's result (src/core/export/results.ts): the plan parsed, the worker's provider in place of the match's. */
export const exportResultSchema = coreExportResultSchema
  .omit({ matchProvider: true })
  .extend({ plan: sharingPlanSchema.optional(), provider: usedProviderSchema });

/** `headshare/generate`: text from the model (or shared at a ratio / with a plan file); the text so far streams as progress messages (its last 2,000 characters). */
export const generateParamsSchema = z.object({
  model: absolutePath,
  prompt: z.string().min(1).max(100_000),
  ratio: ratioSchema.optional(),
  strategy: strategySchema.default("qk"),
  planFile: absolutePath.optional(),
  maxTokens: z.number().int().min(0).max(100_000).default(64),
  /** 0 = greedy. */
  temperature: z.number().min(0).max(100).default(0),
  topP: z.number().gt(0).max(1).default(1),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(0),
  providers: providersSchema.optional(),
});

export const generateResultSchema = z.object({
  text: z.string(),
  ids: z.array(z.number().int().nonnegative()),
  promptIds: z.array(z.number().int().nonnegative()),
  stop: z.enum(["eos", "max-tokens", "context"]),
  tokensPerSecond: z.number().nonnegative(),
  prefillSeconds: z.number().nonnegative(),
  decodeSeconds: z.number().nonnegative(),
  loadSeconds: z.number().nonnegative(),
  /** The plan's ratio and shared units when the shared model wrote. */
  shared: z.object({ ratio: z.number(), selected: z.number().int().nonnegative() }).nullable(),
  provider: usedProviderSchema,
});
