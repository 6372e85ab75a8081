/**
 * The extension ⇄ webview boundary (mirrored by src/webview/host.ts on the webview side and
 * src/extension/panels/*.ts on the host side), carried by the same Rpc class as the worker boundary.
 * Every message is validated with these zod schemas on receipt, in both directions; an invalid
 * message is logged and dropped (a request gets an error reply), never acted on.
 *
 * Handshake: the webview requests `webview/ready` once it listens; the answer holds everything the
 * first render needs (the host never posts before it is asked). Heavy data (match tables)
 * is re-sent on every `ready`, so a revived panel re-requests it; the webview keeps only view state
 * (ratio, selected cell, tab) in `vscode.setState`.
 */
import { z } from "zod";
import { generatedEventSchema, generateRequestSchema, generateResponseSchema } from "./webviewGenerate";
import type { ProtocolSide } from "./rpc";

// ---------------------------------------------------------------------------------------------
// Data shown by the views (display shapes; the host maps worker results into them)
// ---------------------------------------------------------------------------------------------

const finite = z.number().refine(Number.isFinite, "must be a finite number");
const count = z.number().int().nonnegative();
const strategy = z.enum(["q", "k", "v", "qk", "qkv"]);
const granularity = z.enum(["group", "query-head"]);

/** One row of a match table (src/core/share/types.ts MatchEntry). */
export const matchEntrySchema = z.object({
  layer: count, unit: count, sourceLayer: count, sourceUnit: count, score: finite,
});

/** A match table (src/core/share/types.ts MatchTable), checked for internal consistency. */
export const matchTableSchema = z.object({
  format: z.literal("headshare.match"),
  version: z.literal(1),
  strategy,
  granularity,
  layers: z.number().int().min(1),
  unitsPerLayer: z.number().int().min(1),
  parametersPerUnit: count.nullable(),
  bytesPerUnit: count.nullable(),
  parameters: count.nullable(),
  entries: z.array(matchEntrySchema),
  lowerCosines: z.array(z.array(finite)).optional(),
  source: z.object({
    model: z.string().optional(), size: count.optional(), mtimeMs: finite.optional(), provider: z.string().optional(),
    seconds: finite.optional(), bytesRead: count.optional(), threads: count.optional(),
  }).optional(),
}).superRefine((t, ctx) => {
  if (t.entries.length !== (t.layers - 1) * t.unitsPerLayer) {
    ctx.addIssue({ code: "custom", message: `entries has ${t.entries.length} rows, expected (layers-1)·units = ${(t.layers - 1) * t.unitsPerLayer}` });
    return;
  }
  t.entries.forEach((e, i) => {
    if (e.layer < 1 || e.layer >= t.layers || e.unit >= t.unitsPerLayer || e.sourceLayer >= e.layer || e.sourceUnit >= t.unitsPerLayer) {
      ctx.addIssue({ code: "custom", path: ["entries", i], message: "entry out of range (source must be in a strictly lower layer)" });
    }
  });
  if (t.lowerCosines && t.lowerCosines.length !== t.entries.length) {
    ctx.addIssue({ code: "custom", path: ["lowerCosines"], message: "lowerCosines must have one row per entry" });
  }
});

/** Where a map came from (shown in the header, used to re-request data on revive). */
export const modelRefSchema = z.object({
  /** Absolute path of the checkpoint file or folder. */
  path: z.string().min(1),
  /** Short display name (folder name). */
  name: z.string(),
});

/** First render of the sharing map. */
export const mapInitSchema = z.object({
  view: z.literal("map"),
  model: modelRefSchema,
  table: matchTableSchema,
  /** Ratio to show first (the setting's default, or the webview's restored state wins). */
  ratio: z.number().min(0).max(1),
  /** Whether eval can run here (trusted workspace and a tokenizer beside the model). */
  canEval: z.boolean(),
  /** The last quick eval of this panel (shown again after the webview reloads, e.g. on a tab switch). */
  lastEval: z.lazy(() => evalSummarySchema).nullable().optional(),
});

/** Quality metrics of a shared model against its original (src/core/eval EvalResult, display shape). */
export const evalSummarySchema = z.object({
  ratio: z.number().min(0).max(1).nullable(),
  tokens: count,
  /** Windowing protocol in words ("documents, window 512, BOS each"). */
  protocol: z.string(),
  provider: z.string(),
  original: z.object({ nll: finite, ppl: finite }),
  shared: z.object({ nll: finite, ppl: finite }),
  kl: finite.nullable(),
  top1Agreement: finite.nullable(),
  /** Per layer cosine between original and shared hidden states, index = layer (0 = embeddings or first block). */
  hiddenCosine: z.array(finite),
  seconds: finite.nullable(),
});

/** One ratio of a sweep. */
export const sweepRowSchema = z.object({
  ratio: z.number().min(0).max(1),
  selected: count,
  parameters: count.nullable(),
  ppl: finite,
  nll: finite,
  kl: finite.nullable(),
  top1Agreement: finite.nullable(),
});

/** A layer × unit grid of similarities (row-major, NaN not allowed: use null for "no value"). */
export const similarityGridSchema = z.object({
  title: z.string(),
  /** What a column is: a sharing unit (KV group) or a query head. */
  colName: z.enum(["unit", "head"]).optional(),
  rows: z.number().int().min(1),
  cols: z.number().int().min(1),
  values: z.array(finite.nullable()),
}).refine((g) => g.values.length === g.rows * g.cols, "values must have rows·cols entries");

const nllPpl = z.object({ nll: finite, ppl: finite });
const agreement = z.object({ kl: finite, top1Agreement: z.number().min(0).max(1) });

/** PostShare's outcome on held-out text: original, DirectShare at the same ratio, post-trained, PostShare. */
export const postShareSummarySchema = z.object({
  original: nllPpl,
  directShare: nllPpl,
  postTrained: nllPpl,
  postShare: nllPpl,
  /** Against the original. */
  directShareVsOriginal: agreement,
  finalShare: agreement,
  tokens: count,
  steps: count,
  trainSeconds: finite,
  /** Mean relative distance of the paired weights before and after post-training. */
  pairDistance: z.object({ before: finite, after: finite }),
  lossCurve: z.array(z.object({ step: count, lm: finite, weight: finite, loss: finite })),
});
export type PostShareSummary = z.infer<typeof postShareSummarySchema>;

/** Everything the regression report shows; every part but the header is optional. */
export const reportSchema = z.object({
  model: modelRefSchema,
  output: z.string().nullable(),
  method: z.enum(["directshare", "postshare"]),
  format: z.enum(["compact", "dense"]).nullable(),
  ratio: z.number().min(0).max(1),
  strategy,
  granularity,
  provider: z.string().nullable(),
  seconds: finite.nullable(),
  parameters: z.object({ before: count, after: count }).nullable(),
  bytes: z.object({ before: count, after: count }).nullable(),
  selected: count.nullable(),
  chainedTargets: count.nullable(),
  eval: evalSummarySchema.nullable(),
  sweep: z.array(sweepRowSchema).nullable(),
  /** Best-match weight cosine per (layer, unit) and the same for attention maps (paper Fig. 1). */
  weightSimilarity: similarityGridSchema.nullable(),
  attentionSimilarity: similarityGridSchema.nullable(),
  postShare: postShareSummarySchema.nullable().optional(),
});

export const reportInitSchema = z.object({
  view: z.literal("report"),
  report: reportSchema,
  /** Where the host saved this report (kept in view state so a reload restores the panel). */
  reportFile: z.string().nullable().optional(),
});

/** One tensor row of the inspect table. */
export const tensorRowSchema = z.object({
  name: z.string(),
  dtype: z.string(),
  shape: z.array(count),
  bytes: count,
});

/** The inspect view (read-only custom editor on *.safetensors). */
export const inspectSchema = z.object({
  path: z.string(),
  architecture: z.string().nullable(),
  family: z.string().nullable(),
  layers: count.nullable(),
  heads: count.nullable(),
  kvHeads: count.nullable(),
  headDim: count.nullable(),
  hidden: count.nullable(),
  parameters: count,
  bytes: count,
  attentionParameters: count.nullable(),
  dtypes: z.record(z.string(), count),
  tensors: z.array(tensorRowSchema),
  metadata: z.record(z.string(), z.string()),
  /** The sharing plan carried by a compact checkpoint's metadata, summarised. */
  plan: z.object({
    ratio: finite, selected: count, strategy: z.string(), granularity: z.string(),
    parametersBefore: count.nullable(), parametersAfter: count.nullable(),
    targets: z.array(z.object({ layer: count, unit: count, rootLayer: count, rootUnit: count, score: finite })),
  }).nullable(),
  /** Why the model view could not be built (e.g. no config.json beside a bare file); the tensor table still shows. */
  modelError: z.string().nullable(),
});

export const inspectInitSchema = z.object({ view: z.literal("inspect"), inspect: inspectSchema });

export const initSchema = z.discriminatedUnion("view", [mapInitSchema, reportInitSchema, inspectInitSchema]);

export type MapInit = z.infer<typeof mapInitSchema>;
export type EvalSummary = z.infer<typeof evalSummarySchema>;
export type SweepRow = z.infer<typeof sweepRowSchema>;
export type SimilarityGrid = z.infer<typeof similarityGridSchema>;
export type Report = z.infer<typeof reportSchema>;
export type InspectData = z.infer<typeof inspectSchema>;
export type TensorRow = z.infer<typeof tensorRowSchema>;
export type Init = z.infer<typeof initSchema>;

// ---------------------------------------------------------------------------------------------
// The two sides, carried by the project's one RPC class (src/protocol/rpc.ts: envelopes, error replies,
// cancellation by id, zod validation of everything received) over postMessage.
// ---------------------------------------------------------------------------------------------

/** Largest export accepted from the webview (a PNG of a big heatmap is a few MB). */
export const MAX_EXPORT_CHARS = 64 * 1024 * 1024;

const ratio = z.number().min(0).max(1);

export const exportParamsSchema = z.object({
  format: z.enum(["svg", "png", "json", "csv"]),
  /** A plain file name (no folders, not "." or ".."); the host asks where to save it. */
  suggestedName: z.string().regex(/^(?!\.+$)[\w.-]{1,120}$/, "a plain file name (not \".\" or \"..\")"),
  /** Text for svg/json/csv, base64 for png. */
  data: z.string().max(MAX_EXPORT_CHARS),
});
export type ExportParams = z.infer<typeof exportParamsSchema>;

/** What the extension host serves; the webview calls it. Handlers: src/extension/panels/*.ts. */
export const hostSide = {
  requests: {
    /** Handshake: the webview listens; the answer holds everything the first render needs. */
    "webview/ready": { params: z.object({}), result: initSchema },
    /** Quick eval of the original vs the model shared at `ratio` (cancellable by the RPC's cancel). */
    "webview/quickEval": { params: z.object({ ratio }), result: evalSummarySchema },
    /** Save a rendered view; `path` is null when the user closed the save dialog. */
    "webview/export": { params: exportParamsSchema, result: z.object({ path: z.string().nullable() }) },
    /** Open the Compress flow for this panel's model, prefilled with this ratio. */
    "webview/compress": { params: z.object({ ratio }), result: z.object({}) },
    /** Original and shared continuations of a prompt, side by side (cancellable; streamed as "webview/generated"). */
    "webview/generate": { params: generateRequestSchema, result: generateResponseSchema },
  },
  events: {
    /** Show the Headshare log. */
    "webview/openLogs": z.object({}),
  },
} satisfies ProtocolSide;

/** What the webview serves; the host notifies it. Listeners: src/webview/main.ts. */
export const webviewSide = {
  requests: {},
  events: {
    /** New data for the open view (e.g. the panel was shown again for a recomputed table): render it. */
    "webview/init": initSchema,
    /** Progress of a request this webview made (null fraction = indeterminate). */
    "webview/progress": z.object({ job: z.string().max(200), message: z.string().max(2000), fraction: z.number().min(0).max(1).nullable() }),
    /** The text so far of a generation the webview asked for. */
    "webview/generated": generatedEventSchema,
  },
} satisfies ProtocolSide;

export type HostSide = typeof hostSide;
export type WebviewSide = typeof webviewSide;

/**
 * The same messages in flat form (`type` = the method without its namespace, params inline), built
 * from the same field schemas as `hostSide`/`webviewSide`. The wire form is the Rpc envelope; these
 * are kept for tools that look at single messages (the fuzz tests of the webview boundary).
 */
export const fromWebviewSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }),
  exportParamsSchema.extend({ type: z.literal("export") }),
  z.object({ type: z.literal("quickEval"), ratio }),
  z.object({ type: z.literal("compress"), ratio }),
  z.object({ type: z.literal("cancel") }),
  z.object({ type: z.literal("openLogs") }),
]);
export const toWebviewSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("init"), init: initSchema }),
  webviewSide.events["webview/progress"].extend({ type: z.literal("busy") }),
  z.object({ type: z.literal("evalResult"), eval: evalSummarySchema }),
  z.object({ type: z.literal("error"), job: z.string(), message: z.string() }),
  z.object({ type: z.literal("exported"), path: z.string() }),
]);

/** View state the webview keeps across reloads (vscode.setState). Small: never data. */
export const viewStateSchema = z.object({
  view: z.enum(["map", "report", "inspect"]),
  /** Model path (for the serializer to re-request the data after a reload). */
  path: z.string().optional(),
  strategy: strategy.optional(),
  granularity: granularity.optional(),
  ratio: z.number().min(0).max(1).optional(),
  selected: z.tuple([count, count]).nullable().optional(),
  tab: z.string().optional(),
  filter: z.string().optional(),
});
export type ViewState = z.infer<typeof viewStateSchema>;

/** Formats a zod error as one line: "entries.3: entry out of range; ratio: too big". */
export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ");
}
