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
import * as z from "zod";
import { generatedEventSchema, generateRequestSchema, generateResponseSchema } from "./webviewGenerate";
import type { ProtocolSide } from "./rpc";
import { granularitySchema, matchTableSchema, strategySchema } from "./shareSchemas";
import { tensorRowSchema } from "../core/model/summarySchema";

// ---------------------------------------------------------------------------------------------
// Data shown by the views (display shapes; the host maps worker results into them)
// ---------------------------------------------------------------------------------------------

const finite = z.number().refine(Number.isFinite, "must be a finite number");
const count = z.number().int().nonnegative();

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
  lastEval: z
    .lazy(() => evalSummarySchema)
    .nullable()
    .optional(),
  /** The rule that picks the text quick eval scores, in words (shown beside the button). */
  textRule: z.string().max(1000).optional(),
});

/** Which text a result scored, and why that one (the "which text" rule, stated with every result). */
export const evalTextSchema = z.object({
  /** Absolute path of the scored file (a temporary copy for a selection or an unsaved editor). */
  path: z.string(),
  /** Short name for titles ("heldout-brown.txt", "selection in notes.md"). */
  label: z.string().max(300),
  /** Why this text ("named in MODEL_CARD.md", "headshare.eval.text", "chosen by you"). */
  source: z.string().max(300),
});
export type EvalText = z.infer<typeof evalTextSchema>;

/** A separator found in a text that was scored as one stream (the view offers to score it per document). */
export const separatorHintSchema = z.object({ separator: z.string().min(1).max(200), occurrences: count });

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
  /** The text scored (absent in reports saved before it was recorded). */
  text: evalTextSchema.nullable().optional(),
  /** Documents split (each scored alone) or stream windows. */
  protocolKind: z.enum(["documents", "stream"]).optional(),
  /** Set when the text holds a document separator but was scored as a stream. */
  separatorHint: separatorHintSchema.nullable().optional(),
  /** Where the numbers came from when not measured for this view ("the sharing map's quick eval at 30%"). */
  reusedFrom: z.string().max(300).nullable().optional(),
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
export const similarityGridSchema = z
  .object({
    title: z.string(),
    /** What a column is: a sharing unit (KV group) or a query head. */
    colName: z.enum(["unit", "head"]).optional(),
    rows: z.number().int().min(1),
    cols: z.number().int().min(1),
    values: z.array(finite.nullable()),
  })
  .refine((g) => g.values.length === g.rows * g.cols, "values must have rows·cols entries");

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

/** Where a report's evaluation stands (the report evaluates in place: pending → running → done or failed). */
export const evalStateSchema = z.object({
  state: z.enum(["offer", "running", "failed", "too-large"]),
  /** What to say ("No held-out text is named in this model's card…", the error about the input, the estimate). */
  message: z.string().max(4000),
  /** The text being scored (running) or that would be scored. */
  text: evalTextSchema.nullable(),
});

/** Everything the regression report shows; every part but the header is optional. */
export const reportSchema = z.object({
  /** What produced it (titles and sections follow it); absent in reports saved before it was recorded. */
  kind: z.enum(["compress", "quickEval", "sweep"]).optional(),
  model: modelRefSchema,
  output: z.string().nullable(),
  method: z.enum(["directshare", "postshare"]),
  format: z.enum(["compact", "dense"]).nullable(),
  ratio: z.number().min(0).max(1),
  strategy: strategySchema,
  granularity: granularitySchema,
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
  /** The match table the plan came from: the report's weight map marks the shared units, their roots and chains from it. */
  table: matchTableSchema.nullable().optional(),
  /** The evaluation's state while there is no `eval` (or a new one runs). */
  evalState: evalStateSchema.nullable().optional(),
  /** The text of a sweep. */
  sweepText: evalTextSchema.nullable().optional(),
  /** The protocol of a sweep in words. */
  sweepProtocol: z.string().max(500).nullable().optional(),
});

export const reportInitSchema = z.object({
  view: z.literal("report"),
  report: reportSchema,
  /** Where the host saved this report (kept in view state so a reload restores the panel). */
  reportFile: z.string().nullable().optional(),
});

/** One tensor row of the inspect table. */
/** One tensor of the checkpoint: the core's row of the summary (src/core/model/summarySchema.ts). */
export { tensorRowSchema };

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
  plan: z
    .object({
      ratio: finite,
      selected: count,
      strategy: z.string(),
      granularity: z.string(),
      parametersBefore: count.nullable(),
      parametersAfter: count.nullable(),
      targets: z.array(z.object({ layer: count, unit: count, rootLayer: count, rootUnit: count, score: finite })),
    })
    .nullable(),
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
  suggestedName: z.string().regex(/^(?!\.+$)[\w.-]{1,120}$/, 'a plain file name (not "." or "..")'),
  /** Text for svg/json/csv, base64 for png. */
  data: z.string().max(MAX_EXPORT_CHARS),
});
export type ExportParams = z.infer<typeof exportParamsSchema>;

/** What the extension host serves; the webview calls it. Handlers: src/extension/panels/*.ts. */
export const hostSide = {
  requests: {
    /** Handshake: the webview listens; the answer holds everything the first render needs. */
    "webview/ready": { params: z.object({}), result: initSchema },
    /**
     * Quick eval of the original vs the model shared at `ratio` (cancellable by the RPC's cancel). `text`:
     * "auto" follows the rule (the model's held-out text, else headshare.eval.text, else ask), "choose"
     * asks for a file; `separator` scores per document (null: as a stream; absent: the setting).
     */
    "webview/quickEval": {
      params: z.object({ ratio, text: z.enum(["auto", "choose"]).optional(), separator: z.string().min(1).max(200).nullable().optional() }),
      result: evalSummarySchema,
    },
    /**
     * A report's evaluation, run in place (original vs the report's output): `text` as for quick eval, or
     * "editor" (the active editor's text); the updated report arrives as `webview/init`. Cancellable.
     */
    "webview/evaluate": {
      params: z.object({ text: z.enum(["auto", "choose", "editor"]), separator: z.string().min(1).max(200).nullable().optional() }),
      result: z.object({}),
    },
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
    /** The map's slider moved (the host offers this ratio to Quick Eval, Sweep and Compress from the palette). */
    "webview/ratio": z.object({ ratio }),
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

/** View state the webview keeps across reloads (vscode.setState). Small: never data. */
export const viewStateSchema = z.object({
  view: z.enum(["map", "report", "inspect"]),
  /** Model path (for the serializer to re-request the data after a reload). */
  path: z.string().optional(),
  strategy: strategySchema.optional(),
  granularity: granularitySchema.optional(),
  ratio: z.number().min(0).max(1).optional(),
  selected: z.tuple([count, count]).nullable().optional(),
  tab: z.string().optional(),
  filter: z.string().optional(),
});
export type ViewState = z.infer<typeof viewStateSchema>;
