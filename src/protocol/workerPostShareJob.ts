/**
 * Worker requests of the PostShare job (src/core/train/job/): `headshare/postshareJob` exports a
 * job folder for a PyTorch cluster, `headshare/postshareImport` brings its trained weights back.
 */
import * as z from "zod";
import { absolutePath, usedProviderSchema, waitSchema } from "./common";
import { sharingPlanSchema } from "./shareSchemas";
import { postShareParamsShape, postShareRules } from "./workerEval";
import { memoryRowSchema, postShareImportResultSchema as corePostShareImportResultSchema } from "../core/train/results";

const count = z.number().int().nonnegative();

/** postshare's training options (no checkpoint/resume/format: those belong to the run and the import). */
export const postShareJobParamsSchema = postShareParamsShape
  .omit({ checkpointFile: true, checkpointEvery: true, resumeFrom: true, format: true, out: true })
  .extend({
    /** The job folder. */
    out: absolutePath,
    /** The model path as the user gave it (recorded in job.json); default `model`. */
    modelAsGiven: z.string().min(1).max(4096).optional(),
  })
  .superRefine(({ modelAsGiven: _given, out: _jobFolder, ...rest }, ctx) => postShareRules(rest, ctx));

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
  memory: z.array(memoryRowSchema.omit({ activationsCheckpointed: true })),
  provider: usedProviderSchema,
  seconds: z.number().nonnegative(),
});

export const postShareImportParamsSchema = z.object({
  /** The job folder (job.json; trained weights in run/ unless `weights`). */
  job: absolutePath,
  out: absolutePath,
  format: postShareParamsShape.shape.format,
  force: z.boolean().optional(),
  wait: waitSchema.optional(),
  /** The model on this machine, when not at job.json's path. */
  model: absolutePath.optional(),
  weights: absolutePath.optional(),
  providers: postShareParamsShape.shape.providers,
});

/** The core's result (src/core/train/results.ts), the plan parsed and the provider narrowed. */
export const postShareImportResultSchema = corePostShareImportResultSchema.extend({ plan: sharingPlanSchema, provider: usedProviderSchema });
