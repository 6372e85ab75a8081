/** The worker's export job (`headshare export --format onnx`, "Export for ONNX Runtime…"): params and result. */
import { z } from "zod";
import { absolutePath, providersSchema, ratioSchema, usedProviderSchema } from "./common";
import { sharingPlanSchema, strategySchema } from "./shareSchemas";

export const exportParamsSchema = z.object({
  model: absolutePath,
  /** A new folder (refused when it exists). */
  out: absolutePath,
  /** Share at this ratio (a dense checkpoint); a compact checkpoint exports with its own plan. */
  ratio: ratioSchema.optional(),
  strategy: strategySchema.default("qk"),
  /** A plan file (JSON) made for this model. */
  planFile: absolutePath.optional(),
  dtype: z.enum(["fp32", "fp16"]).default("fp32"),
  /** Force external data (default: only over 2 GB). */
  externalData: z.boolean().optional(),
  providers: providersSchema.optional(),
});

export const exportResultSchema = z.object({
  outDir: z.string(),
  files: z.array(z.string()),
  family: z.string(),
  architecture: z.string(),
  dtype: z.enum(["fp32", "fp16"]),
  externalData: z.boolean(),
  plan: sharingPlanSchema.optional(),
  parameters: z.number().int().nonnegative(),
  parametersDense: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  provider: usedProviderSchema,
  seconds: z.number().nonnegative(),
});
