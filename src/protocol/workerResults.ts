/**
 * Results of the jobs whose payload is produced by other core modules: the checkpoint summary of
 * `headshare/inspect` (src/core/model) and the output accounting of `headshare/share`/`expand`
 * (src/core/share/write.ts). Loose objects: the keys below are guaranteed, the cores may add more.
 */
import { z } from "zod";
import type { ShareResult } from "../core/share/types";
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
  /** Why a compact checkpoint's plan is invalid (the check expand runs); null or absent when valid. */
  planError: z.string().nullable().optional(),
});

export const inspectResultSchema = z.object({
  summary: checkpointSummarySchema,
  provider: usedProviderSchema,
});

/** src/core/share/types.ts LayerAccounting. */
export const layerAccountingSchema = z.object({
  layer: count, savedUnits: count, parametersBefore: count, parametersAfter: count, bytesBefore: count, bytesAfter: count,
});

/** src/core/share/types.ts ShareResult: what writing a shared (or expanded) checkpoint produced, with exact accounting. */
export const shareResultSchema = z.object({
  format: z.enum(["compact", "dense"]),
  outDir: z.string(),
  weightsPath: z.string(),
  files: z.array(z.string()),
  ratio: z.number().min(0).max(1),
  selected: count,
  savedUnits: count,
  parametersPerUnit: count,
  bytesPerUnit: count,
  parametersBefore: count,
  parametersAfter: count,
  parametersStored: count,
  bytesBefore: count,
  bytesAfter: count,
  fileBytesBefore: count,
  fileBytesAfter: count,
  perLayer: z.array(layerAccountingSchema),
  globals: z.object({ parameters: count, bytes: count }),
  seconds: z.number().nonnegative(),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type DeepMutable<T> = T extends readonly (infer U)[] ? DeepMutable<U>[] : T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;
const _checkShare: Same<DeepMutable<ShareResult>, z.infer<typeof shareResultSchema>> = true;
export const _resultChecks = [_checkShare] as const;
