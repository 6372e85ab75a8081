/**
 * Worker requests of the PostShare job (src/core/train/job/): `headshare/postshareJob` exports a
 * job folder for a PyTorch cluster, `headshare/postshareImport` brings its trained weights back.
 */
import * as z from "zod";
import { absolutePath, finite, ratioSchema, usedProviderSchema } from "./common";
import { sharingPlanSchema } from "./shareSchemas";
import { postShareParamsShape, postShareRules, postShareScoresShape } from "./workerEval";

const count = z.number().int().nonnegative();

/** postshare's training options (no checkpoint/resume/format: those belong to the run and the import). */
export const postShareJobParamsSchema = postShareParamsShape
  .omit({ checkpointFile: true, checkpointEvery: true, resumeFrom: true, format: true, out: true, wait: true })
  .extend({
    /** The job folder. */
    out: absolutePath,
    /** The model path as the user gave it (recorded in job.json); default `model`. */
    modelAsGiven: z.string().min(1).max(4096).optional(),
  })
  .superRefine(({ modelAsGiven: _given, out: _jobFolder, ...rest }, ctx) => postShareRules(rest, ctx));

const memoryRow = z.object({ ranks: count, perRank: z.string(), ddp: finite, zero: finite, activations: finite });

export const postShareJobResultSchema = z.object({
  outDir: z.string(),
  files: z.array(z.string()),
  selected: count,
  planSha256: z.string(),
  steps: count,
  microBatches: count,
  tokens: count,
  parameters: count,
  trainableParameters: count,
  memory: z.array(memoryRow),
  provider: usedProviderSchema,
  seconds: z.number().nonnegative(),
});

export const postShareImportParamsSchema = z.object({
  /** The job folder (job.json; trained weights in run/ unless `weights`). */
  job: absolutePath,
  out: absolutePath,
  format: postShareParamsShape.shape.format,
  force: z.boolean().optional(),
  /** The model on this machine, when not at job.json's path. */
  model: absolutePath.optional(),
  weights: absolutePath.optional(),
  providers: postShareParamsShape.shape.providers,
});

export const jobMetricsRowSchema = z.object({
  step: count,
  lm: finite,
  weight: finite,
  loss: finite,
  lr: finite,
  gradNorm: finite,
  seconds: z.number().nonnegative(),
});

export const postShareImportResultSchema = z.object({
  model: z.string(),
  weights: z.string(),
  ratio: ratioSchema,
  selected: count,
  plan: sharingPlanSchema,
  ...postShareScoresShape,
  trainedBy: z.record(z.string(), z.unknown()),
  lossCurve: z.array(jobMetricsRowSchema),
  heldoutDocuments: count,
  provider: usedProviderSchema,
  seconds: z.number().nonnegative(),
  outDir: z.string(),
});
