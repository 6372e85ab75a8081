/**
 * The checkpoint summary of `headshare inspect` (src/core/model/summary.ts builds it; the worker's
 * `headshare/inspect` result carries it): one zod schema, the TypeScript types inferred from it.
 * Pure: the extension host validates it on receipt with this schema.
 */
import * as z from "zod";

const count = z.number().int().nonnegative();
const countOrNull = count.nullable();

/** One row of the tensor table. */
export const tensorRowSchema = z.object({ name: z.string(), dtype: z.string(), shape: z.array(count), bytes: count });
export type TensorRow = z.infer<typeof tensorRowSchema>;

/** The plan carried by a shared checkpoint (`headshare.plan` metadata), summarised. */
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
export type PlanSummary = z.infer<typeof planSummarySchema>;

/** What `headshare inspect --json` prints. */
export const checkpointSummarySchema = z.object({
  path: z.string(),
  weights: z.string(),
  config: z.string().nullable(),
  architecture: z.string().nullable(),
  family: z.string().nullable(),
  layers: countOrNull,
  heads: countOrNull,
  kvHeads: countOrNull,
  headDim: countOrNull,
  hidden: countOrNull,
  intermediate: countOrNull,
  vocab: countOrNull,
  tiedEmbeddings: z.boolean().nullable(),
  /** Stored parameters: elements of every tensor except buffers (causal masks, inv_freq, position ids). */
  parameters: count,
  /** Buffers stored beside the parameters (not counted in `parameters`, counted in `bytes`). */
  buffers: z.object({ tensors: count, elements: count }),
  /** Stored tensor bytes (data region(s), headers excluded). */
  bytes: count,
  /** Size of the weight file(s) on disk, headers included. */
  fileBytes: count,
  /** dtype → parameters stored in it (buffers excluded). */
  dtypes: z.record(z.string(), count),
  /** Parameters of q/k/v/o weights and their biases, as stored; null without a model view. */
  attentionParameters: countOrNull,
  attentionShare: z.number().nullable(),
  tensors: z.array(tensorRowSchema),
  metadata: z.record(z.string(), z.string()),
  /** Present (non-null) for a headshare checkpoint carrying `headshare.plan`. */
  plan: planSummarySchema.nullable(),
  /** True when the attention tensors are stored compactly (`headshare.originalShapes`). */
  compact: z.boolean(),
  /** Dense parameter count of a compact checkpoint (from the original shapes), else = parameters. */
  denseParameters: count,
  /** Why the model view could not be built (no config.json beside a bare file); the tensor table still shows. */
  modelError: z.string().nullable(),
  /** Why a compact checkpoint's plan is invalid (the check expand runs); null or absent when valid. */
  planError: z.string().nullable().optional(),
});
export type CheckpointSummary = z.infer<typeof checkpointSummarySchema>;
