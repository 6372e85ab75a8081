/** Worker results → the webview's display shapes (src/protocol/webview.ts). Pure. */
import path from "node:path";
import type { JobResult } from "../protocol/worker";
import type { PostShareScores } from "../core/train/results";
import type { EvalSummary, InspectData, PostShareSummary, Report, SimilarityGrid, SweepRow } from "../protocol/webview";
import { inspectSchema } from "../protocol/webview";

type EvalOut = JobResult<"headshare/eval">;

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export function modelRef(p: string): { path: string; name: string } {
  const base = path.basename(p);
  return { path: p, name: base.endsWith(".safetensors") || base.endsWith(".json") ? path.basename(path.dirname(p)) : base };
}

export function describeProtocol(p: Record<string, unknown>): string {
  if (typeof p.description === "string") return p.description;
  const kind = typeof p.kind === "string" ? p.kind : "windows";
  return `${kind}, window ${String(p.window ?? "?")}${p.stride !== undefined ? `, stride ${String(p.stride)}` : ""}${p.bos === false ? ", no BOS" : ", BOS"}`;
}

/**
 * An eval run with `model` = the ORIGINAL and `compare` = the SHARED model, so that `kl` is
 * KL(P_original ‖ P_shared) (method.md §6) and `compare` holds the shared model's NLL/perplexity.
 */
export function evalSummary(r: EvalOut, ratio: number | null, seconds: number | null): EvalSummary {
  if (!r.compare) throw new Error("the eval result has no comparison model; it must be run with compare = the shared model");
  return {
    ratio,
    tokens: r.tokens,
    protocol: describeProtocol(r.protocol as Record<string, unknown>),
    provider: r.provider,
    original: { nll: r.nll, ppl: r.ppl },
    shared: { nll: r.compare.nll, ppl: r.compare.ppl },
    kl: r.kl ?? null,
    top1Agreement: r.top1Agreement ?? null,
    hiddenCosine: r.hiddenCosine ?? [],
    seconds: seconds ?? r.seconds,
  };
}

/** The attention-map similarity table of an eval run with `attention: true` (of its `model`, the original), as a layer × head grid. */
export function attentionGrid(r: EvalOut): SimilarityGrid | null {
  const a = r.attention;
  if (!a || a.layers < 1 || a.heads < 1 || a.best.length !== a.layers) return null;
  return {
    title: "Attention-map similarity to the best lower-layer head (original model)",
    colName: "head",
    rows: a.layers,
    cols: a.heads,
    values: a.best.flatMap((row) => Array.from({ length: a.heads }, (_, h) => row[h] ?? null)),
  };
}

/** Parameters and bytes of the original (model) and the shared (compare) model of an eval run. */
export function evalSizes(r: EvalOut): Pick<Report, "parameters" | "bytes"> {
  return r.compare
    ? { parameters: { before: r.parameters, after: r.compare.parameters }, bytes: { before: r.bytes, after: r.compare.bytes } }
    : { parameters: null, bytes: null };
}

/**
 * PostShare's held-out scores and loss curve, for the report (curve thinned to at most 400 points): of a
 * run here (`headshare/postshare`) or of a job trained elsewhere (`headshare/postshareImport`), with
 * the run's steps and training seconds.
 */
export function postShareSummary(
  r: PostShareScores & { readonly lossCurve: readonly { step: number; lm: number; weight: number; loss: number }[] },
  run: { readonly steps: number; readonly trainSeconds: number },
): PostShareSummary {
  const pick = (x: { nll: number; ppl: number }) => ({ nll: x.nll, ppl: x.ppl });
  const every = Math.max(1, Math.ceil(r.lossCurve.length / 400));
  return {
    original: pick(r.original),
    directShare: pick(r.directShare),
    postTrained: pick(r.postTrained),
    postShare: pick(r.postShare),
    directShareVsOriginal: { ...r.directShareVsOriginal },
    finalShare: { ...r.finalShare },
    tokens: r.original.tokens,
    steps: run.steps,
    trainSeconds: run.trainSeconds,
    pairDistance: { ...r.meanRelativePairDistance },
    lossCurve: r.lossCurve
      .filter((_, i) => i % every === 0 || i === r.lossCurve.length - 1)
      .map((x) => ({ step: x.step, lm: x.lm, weight: x.weight, loss: x.loss })),
  };
}

export function sweepRows(r: JobResult<"headshare/sweep">): SweepRow[] {
  return r.rows.map((row) => ({
    ratio: row.ratio,
    selected: row.selected,
    nll: row.nll,
    ppl: row.ppl,
    parameters: num((row as Record<string, unknown>).parameters),
    kl: row.kl ?? null,
    top1Agreement: row.top1Agreement ?? null,
  }));
}

/** The inspect view's data from the worker's summary (unknown extra keys dropped, missing ones reported). */
export function inspectData(summary: unknown): InspectData {
  const r = inspectSchema.safeParse(summary);
  if (!r.success)
    throw new Error(
      `the checkpoint summary from the worker is not in the expected shape: ${r.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join(".")}: ${i.message}`)
        .join("; ")}`,
    );
  return r.data;
}

export function emptyReport(base: Pick<Report, "model" | "method" | "ratio" | "strategy" | "granularity">): Report {
  return {
    ...base,
    output: null,
    format: null,
    provider: null,
    seconds: null,
    parameters: null,
    bytes: null,
    selected: null,
    chainedTargets: null,
    eval: null,
    sweep: null,
    weightSimilarity: null,
    attentionSimilarity: null,
    postShare: null,
  };
}
