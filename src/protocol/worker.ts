/**
 * The extension/CLI ⇄ compute-worker protocol: one zod schema per job's params and result, plus the
 * events the worker pushes. Both ends import this file (src/host/workerClient.ts and src/worker/main.ts).
 * Paths are absolute (the worker resolves nothing against its own cwd). Every job's result names
 * the execution provider actually used (`provider`; "none" for jobs that run no ONNX graph).
 */
import * as z from "zod";
import { absolutePath, computeSchema, providersSchema, ratioSchema, usedProviderSchema, waitSchema } from "./common";
import { computeDevicesSchema } from "../core/runtime/types";
import { granularitySchema, matchTableSchema, sharingPlanSchema, strategySchema } from "./shareSchemas";
import { postShareImportParamsSchema, postShareImportResultSchema, postShareJobParamsSchema, postShareJobResultSchema } from "./workerPostShareJob";
import { evalParamsSchema, evalResultSchema, postShareParamsSchema, postShareResultSchema, sweepParamsSchema, sweepResultSchema } from "./workerEval";
import { inspectResultSchema, shareResultSchema } from "./workerResults";
import { exportParamsSchema, exportResultSchema, generateParamsSchema, generateResultSchema } from "./workerExport";
import type { ProtocolSide } from "./rpc";

export const WORKER_PROTOCOL_VERSION = 1;

// ------------------------------------------------------------------ lifecycle

export const initializeParams = z.object({
  protocolVersion: z.literal(WORKER_PROTOCOL_VERSION),
  /** Default execution providers for jobs that do not name their own. */
  providers: providersSchema.default("auto"),
  /**
   * The user's consent to read model files that link out of their folder (the CLI's --follow-symlinks,
   * the extension's headshare.followSymlinks in a trusted workspace). The worker follows this, never
   * its inherited environment.
   */
  followSymlinks: z.boolean().default(false),
});
export const initializeResult = z.object({
  protocolVersion: z.literal(WORKER_PROTOCOL_VERSION),
  pid: z.number().int(),
  node: z.string(),
});

// ------------------------------------------------------------------ jobs

export const inspectParams = z.object({ model: absolutePath });

export const matchParams = z.object({
  model: absolutePath,
  strategy: strategySchema.default("qk"),
  granularity: granularitySchema.default("group"),
  /** Keep target × lower-unit cosines (lets plans report the cosine to a chain's root). Default: the core's (small models only). */
  keepLowerCosines: z.boolean().optional(),
  providers: providersSchema.optional(),
});
export const matchResult = z.object({
  table: matchTableSchema,
  provider: usedProviderSchema,
  compute: computeSchema.optional(),
  seconds: z.number().nonnegative(),
});

export const planParams = z.object({ table: matchTableSchema, ratio: ratioSchema });
export const planResult = z.object({ plan: sharingPlanSchema, provider: usedProviderSchema });

export const shareParams = z.object({
  model: absolutePath,
  ratio: ratioSchema,
  strategy: strategySchema.default("qk"),
  granularity: granularitySchema.default("group"),
  format: z.enum(["compact", "dense"]).default("compact"),
  out: absolutePath,
  force: z.boolean().default(false),
  wait: waitSchema.optional(),
  /** A match table already computed for this checkpoint (e.g. from the extension's cache); computed when absent. */
  table: matchTableSchema.optional(),
  providers: providersSchema.optional(),
});
export const shareResult = z.object({
  plan: sharingPlanSchema,
  output: shareResultSchema,
  /** Match table facts: whether it was given (cached) or computed here, and how long that took. */
  match: z.object({ cached: z.boolean(), seconds: z.number().nonnegative() }),
  provider: usedProviderSchema,
  compute: computeSchema.optional(),
  seconds: z.number().nonnegative(),
});

export const expandParams = z.object({
  compact: absolutePath,
  out: absolutePath,
  force: z.boolean().default(false),
  wait: waitSchema.optional(),
});
export const expandResult = z.object({ output: shareResultSchema, provider: usedProviderSchema, seconds: z.number().nonnegative() });

/** The compute devices here: the core's ComputeDevices (src/core/runtime/types.ts), each provider checked, and what auto picks. */
export const devicesParams = z.object({});
export const devicesResult = computeDevicesSchema.extend({ provider: usedProviderSchema });

export const shutdownParams = z.object({});
export const shutdownResult = z.object({});

/** Every request the worker serves. */
export const workerRequests = {
  /** Handshake: the first request after start; fixes the default providers. */
  "headshare/initialize": { params: initializeParams, result: initializeResult },
  /** Summary of a checkpoint (architecture, shapes, parameters; shared checkpoints with their plan). */
  "headshare/inspect": { params: inspectParams, result: inspectResultSchema },
  /** The match table of a checkpoint (method.md §2). */
  "headshare/match": { params: matchParams, result: matchResult },
  /** A sharing plan from a match table (pure; the same function the webview runs). */
  "headshare/plan": { params: planParams, result: planResult },
  /** DirectShare: match (unless given), plan, write compact or dense output. */
  "headshare/share": { params: shareParams, result: shareResult },
  /** A compact checkpoint expanded to the dense one. */
  "headshare/expand": { params: expandParams, result: expandResult },
  /** Perplexity/NLL of a model on a text, optionally compared against another model. */
  "headshare/eval": { params: evalParamsSchema, result: evalResultSchema },
  /** One match table, then metrics of the shared model at each ratio. */
  "headshare/sweep": { params: sweepParamsSchema, result: sweepResultSchema },
  /** PostShare: match, plan, post-train with the weight loss, share, compare. */
  "headshare/postshare": { params: postShareParamsSchema, result: postShareResultSchema },
  /** PostShare job for a PyTorch cluster: plan, data order, train.py, launch.sh, README (src/core/train/job/). */
  "headshare/postshareJob": { params: postShareJobParamsSchema, result: postShareJobResultSchema },
  /** A PostShare job's trained weights: checks, held-out metrics, final share written. */
  "headshare/postshareImport": { params: postShareImportParamsSchema, result: postShareImportResultSchema },
  /** The model (dense, shared at a ratio or plan, or compact) as an ONNX KV-cache decoder folder. */
  "headshare/export": { params: exportParamsSchema, result: exportResultSchema },
  /** Text from the model or its shared version (KV cache), streamed as progress. */
  "headshare/generate": { params: generateParamsSchema, result: generateResultSchema },
  /** The execution providers and GPU adapters this machine can use, each checked. */
  "headshare/devices": { params: devicesParams, result: devicesResult },
  /** Abort every job and exit after answering. */
  "headshare/shutdown": { params: shutdownParams, result: shutdownResult },
} as const;

export type WorkerMethod = keyof typeof workerRequests;
/** The jobs (everything but the lifecycle requests). */
export type WorkerJob = Exclude<WorkerMethod, "headshare/initialize" | "headshare/shutdown">;

// ------------------------------------------------------------------ events (worker → client)

/** Progress of a job: sent at most ~4 times a second, plus every phase change and the final step. */
export const progressEvent = z.object({
  /** The id of the request this is about. */
  job: z.number().int().nonnegative(),
  phase: z.string().min(1).max(200),
  done: z.number().nonnegative(),
  total: z.number().nonnegative(),
  message: z.string().max(2000).optional(),
  /** The job's estimated peak memory (eval: core/eval/memoryBudget.ts), sent once its forward path is chosen; named by the OOM report. */
  memoryNeed: z.object({ bytes: z.number().nonnegative(), what: z.string().max(1000) }).optional(),
});
export type Progress = z.infer<typeof progressEvent>;

export const workerStateSchema = z.enum(["idle", "loading", "computing", "error"]);
/** The worker's health, after rust-analyzer's ServerStatus. */
export const statusEvent = z.object({
  state: workerStateSchema,
  /** The provider of the last job that ran an ONNX graph, or null before any. */
  provider: usedProviderSchema.nullable(),
  /** Where the last job that ran an ONNX graph ran (provider, adapter, skipped providers), when known. */
  compute: computeSchema.optional(),
  /** The running job(s), when computing. */
  job: z.object({ id: z.number().int().nonnegative(), method: z.string(), label: z.string().optional() }).optional(),
  running: z.number().int().nonnegative().optional(),
  message: z.string().max(4000).optional(),
});
export type WorkerStatus = z.infer<typeof statusEvent>;

/** Where a job's graphs run: sent when its first session is created and as placements are learned. */
export const computeEvent = z.object({
  job: z.number().int().nonnegative(),
  compute: computeSchema,
});
export type ComputeEvent = z.infer<typeof computeEvent>;

export const workerEvents = {
  "headshare/progress": progressEvent,
  "headshare/compute": computeEvent,
  "headshare/status": statusEvent,
} as const;

/** What the worker serves (requests in, no events in). */
export const workerSide = { requests: workerRequests, events: {} } satisfies ProtocolSide;
/** What the client serves (no requests, events in). */
export const clientSide = { requests: {}, events: workerEvents } satisfies ProtocolSide;
export type WorkerSide = typeof workerSide;
export type ClientSide = typeof clientSide;

export type JobParams<M extends WorkerMethod> = z.input<(typeof workerRequests)[M]["params"]>;
export type JobResult<M extends WorkerMethod> = z.output<(typeof workerRequests)[M]["result"]>;
