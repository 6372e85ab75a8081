/**
 * Results of the jobs whose payload is produced by other core modules: the checkpoint summary of
 * `headshare/inspect` (src/core/model) and the output accounting of `headshare/share`/`expand`
 * (src/core/share/write.ts). Loose objects: the keys below are guaranteed, the cores may add more.
 */
import { z } from "zod";
import { usedProviderSchema } from "./common";

const count = z.number().int().nonnegative();

const countOrNull = count.nullable();

/** src/core/model/summary.ts PlanSummary: the plan carried by a shared checkpoint. */
export const planSummarySchema = z.object({
  ratio: z.number(),
  selected: count,
  savedUnits: count,
  strategy: z.string(),
  granularity: z.string(),
  unitsPerLayer: countOrNull,
  parametersBefore: countOrNull,
  parametersAfter: countOrNull,
  targets: z.array(z.object({ layer: count, unit: count, rootLayer: count, rootUnit: count, score: z.number() })),
});

/** src/core/model/summary.ts CheckpointSummary: what `headshare inspect --json` prints. */
export const checkpointSummarySchema = z.object({
  path: z.string(),
  weights: z.string(),
  config: z.string().nullable(),
  architecture: z.string().nullable(),
  family: z.string().nullable(),
  layers: countOrNull, heads: countOrNull, kvHeads: countOrNull, headDim: countOrNull,
  hidden: countOrNull, intermediate: countOrNull, vocab: countOrNull,
  tiedEmbeddings: z.boolean().nullable(),
  parameters: count,
  bytes: count,
  fileBytes: count,
  dtypes: z.record(z.string(), count),
  attentionParameters: countOrNull,
  attentionShare: z.number().nullable(),
  tensors: z.array(z.object({ name: z.string(), dtype: z.string(), shape: z.array(count), bytes: count })),
  metadata: z.record(z.string(), z.string()),
  plan: planSummarySchema.nullable(),
  compact: z.boolean(),
  denseParameters: count,
  modelError: z.string().nullable(),
});

export const inspectResultSchema = z.object({
  summary: checkpointSummarySchema,
  provider: usedProviderSchema,
});

/** What writing a shared (or expanded) checkpoint produced: where, which files, and the exact accounting. */
export const shareResultSchema = z.looseObject({
  parametersBefore: count.nullable().optional(),
  parametersAfter: count.nullable().optional(),
  bytesBefore: count.nullable().optional(),
  bytesAfter: count.nullable().optional(),
});
