/**
 * What PostShare returns: one zod schema per result, the TypeScript types inferred from them. The
 * core builds these; the worker protocol (src/protocol/workerEval.ts) validates them on receipt with
 * the same schema (narrowing `provider`, and checking `plan` with the plan parser). Pure.
 */
import * as z from "zod";
import { GRANULARITIES } from "../model/types";
import { STRATEGIES, type SharingPlan } from "../share/types";
import { providerNameSchema } from "../runtime/types";

const count = z.number().int().nonnegative();
const finite = z.number().refine(Number.isFinite, "a finite number");

/** A model's score on the held-out documents. */
export const heldoutScoreSchema = z.object({
  /** Mean NLL per predicted token (nats). */
  nll: finite,
  ppl: finite,
  /** Predicted tokens. */
  tokens: count,
  documents: count,
});
export type HeldoutScore = z.infer<typeof heldoutScoreSchema>;

/** Two models' next-token distributions compared on the held-out documents. */
export const comparisonSchema = z.object({
  /** Mean KL(P_reference ‖ P_other) per predicted position (nats). */
  kl: finite,
  /** Fraction of positions where both models' argmax agree. */
  top1Agreement: z.number().min(0).max(1),
});
export type Comparison = z.infer<typeof comparisonSchema>;

/** One logged training step. */
export const lossCurveRowSchema = z.object({
  step: count,
  lm: finite,
  weight: finite,
  lr: finite,
  loss: finite,
  gradNorm: finite,
  tokensPerSecond: z.number().nonnegative(),
});
export type LossCurveRow = z.infer<typeof lossCurveRowSchema>;

/** PostShare's held-out outcome (`postshare` and `postshare-import` report the same). */
export const postShareScoresSchema = z.object({
  original: heldoutScoreSchema,
  directShare: heldoutScoreSchema,
  /** The post-trained model before the final share. */
  postTrained: heldoutScoreSchema,
  postShare: heldoutScoreSchema,
  /** Mean over (target, root, regularised projection) of ‖W(t) − W(r)‖ / ‖W(r)‖, before and after post-training. */
  meanRelativePairDistance: z.object({ before: finite, after: finite }),
  /** The final share vs the post-trained model (what sharing changes at the end). */
  finalShare: comparisonSchema,
  /** DirectShare vs the original model, for comparison. */
  directShareVsOriginal: comparisonSchema,
});
export type PostShareScores = z.infer<typeof postShareScoresSchema>;

export const postShareResultSchema = postShareScoresSchema.extend({
  model: z.string(),
  ratio: z.number().min(0).max(1),
  strategy: z.enum(STRATEGIES),
  granularity: z.enum(GRANULARITIES),
  selected: count,
  /** The plan of the final share (the protocol checks it with `parseSharingPlan`). */
  plan: z.custom<SharingPlan>((v) => typeof v === "object" && v !== null, "a sharing plan"),
  lossCurve: z.array(lossCurveRowSchema),
  steps: count,
  tokens: count,
  trainSeconds: z.number().nonnegative(),
  tokensPerSecond: z.number().nonnegative(),
  seconds: z.number().nonnegative(),
  provider: z.string(),
  heldoutDocuments: count,
  trainDocuments: count,
  options: z.record(z.string(), z.unknown()),
  outDir: z.string().optional(),
});
export type PostShareResult = z.infer<typeof postShareResultSchema>;

/** One line of metrics.jsonl (train.py rank 0, or runJobHere). */
export const jobMetricsRowSchema = z.object({
  step: count,
  lm: finite,
  weight: finite,
  loss: finite,
  lr: finite,
  gradNorm: finite,
  seconds: z.number().nonnegative(),
});
export type JobMetricsRow = z.infer<typeof jobMetricsRowSchema>;

/** What `postshare-import` reports (src/core/train/job/import.ts builds it). */
export const postShareImportResultSchema = postShareScoresSchema.extend({
  model: z.string(),
  weights: z.string(),
  ratio: z.number().min(0).max(1),
  selected: count,
  /** The job's plan (the protocol checks it with `parseSharingPlan`). */
  plan: z.custom<SharingPlan>((v) => typeof v === "object" && v !== null, "a sharing plan"),
  /** What train.py recorded about the run (steps, world size, optimizer, device, torch). */
  trainedBy: z.record(z.string(), z.unknown()),
  /** Rank 0's metrics.jsonl beside the weights (empty when absent). */
  lossCurve: z.array(jobMetricsRowSchema),
  heldoutDocuments: count,
  provider: providerNameSchema,
  seconds: z.number().nonnegative(),
  outDir: z.string(),
});
export type PostShareImportResult = z.infer<typeof postShareImportResultSchema>;

/** Memory per rank of a PostShare job for one rank count (src/core/train/job/memory.ts; README's table). */
export const memoryRowSchema = z.object({
  ranks: count,
  /** Sequences of a micro-batch on one rank (batch / ranks; "—" when ranks do not divide it). */
  perRank: z.string(),
  ddp: finite,
  zero: finite,
  activations: finite,
  /** With --grad-checkpoint. */
  activationsCheckpointed: finite,
});
export type MemoryRow = z.infer<typeof memoryRowSchema>;
