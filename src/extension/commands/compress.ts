/**
 * Headshare: Compress Checkpoint… — DirectShare or PostShare at a ratio, strategy and format, into an
 * output folder (default beside the input, never over it), with a cancellable progress notification;
 * the report opens on success. With `out` and `ratio` given (the command API, tests) it asks nothing.
 */
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import type { Granularity } from "../../core/model/types";
import type { MatchTable, Strategy } from "../../core/share/types";
import type { Report } from "../../protocol/webview";
import { ExtensionError, isCancel, messageOf } from "../errors";
import { attentionGrid, emptyReport, evalSummary, modelRef, postShareSummary } from "../displayShapes";
import { defaultOutput, modelDir, nonEmpty, outputProblem, pickModel } from "../modelPick";
import { ReportPanel } from "../panels/reportPanel";
import { exportPostShareJobCommand } from "./postshareJob";
import type { Session } from "../session";
import { requireTrust } from "../trust";

export interface CompressOptions {
  readonly method?: "directshare" | "postshare";
  readonly ratio?: number;
  readonly strategy?: Strategy;
  readonly granularity?: Granularity;
  readonly format?: "compact" | "dense";
  /** Absolute output folder. */
  readonly out?: string;
  /** Replace a non-empty output folder. */
  readonly force?: boolean;
  /** PostShare training text files. */
  readonly text?: readonly string[];
  /** PostShare optimisation steps (default: the `headshare.postshare` setting's, else the preset's). */
  readonly steps?: number;
  /** PostShare training data: the text, sequences sampled from the original, or both (the core's default). */
  readonly trainOn?: "text" | "sampled" | "both";
  /** Evaluate original vs output on the eval text setting (default: when the setting is set). */
  readonly evaluate?: boolean;
  /** Do not open the report panel (automation). */
  readonly noReport?: boolean;
}

export interface CompressOutcome {
  readonly out: string;
  readonly report: Report;
}

const STRATEGY_ITEMS: { label: Strategy; description: string }[] = [
  { label: "qk", description: "q and k projections (the paper's choice)" },
  { label: "q", description: "q projection only" }, { label: "k", description: "k projection only" },
  { label: "v", description: "v projection only" }, { label: "qkv", description: "q, k and v projections" },
];

/** The method pick's "Export PostShare Job…": Compress hands over to that command. */
const EXPORT_JOB = "postshare-job" as const;

/** Fills what the caller did not give by asking; undefined when the user backs out. */
async function ask(session: Session, model: string, given: CompressOptions): Promise<typeof EXPORT_JOB | Required<Omit<CompressOptions, "text" | "evaluate" | "noReport" | "steps" | "trainOn">> & CompressOptions | undefined> {
  const s = session.settings;
  const interactive = given.out === undefined || given.ratio === undefined;
  const method = given.method ?? (interactive ? (await vscode.window.showQuickPick([
    { label: "DirectShare", description: "match heads, share the most similar, write — seconds", value: "directshare" as const },
    { label: "PostShare", description: "post-train toward the sharing, then share — needs training text, minutes or more", value: "postshare" as const },
    { label: "PostShare: Export PostShare Job…", description: "write a PyTorch DDP + ZeRO-1 job (train.py, launch.sh) to run on a cluster", value: EXPORT_JOB },
  ], { title: "Compress: method" }))?.value : "directshare");
  if (!method) return undefined;
  if (method === EXPORT_JOB) return EXPORT_JOB;
  const ratioText = given.ratio !== undefined ? String(given.ratio) : await vscode.window.showInputBox({
    title: "Compress: sharing ratio", prompt: "Fraction of all attention units to share (0 to (L−1)/L)", value: String(s.defaultRatio),
    validateInput: (v) => { const x = Number(v); return v.trim() !== "" && Number.isFinite(x) && x >= 0 && x < 1 ? undefined : "a number from 0 to below 1, e.g. 0.3"; },
  });
  if (ratioText === undefined) return undefined;
  const ratio = Number(ratioText);
  if (!(Number.isFinite(ratio) && ratio >= 0 && ratio < 1)) throw new ExtensionError("bad-input", `ratio ${ratioText} is not a number from 0 to below 1`);
  const strategy = given.strategy ?? (interactive ? (await vscode.window.showQuickPick(
    [...STRATEGY_ITEMS].sort((a, b) => (a.label === s.strategy ? -1 : b.label === s.strategy ? 1 : 0)), { title: "Compress: similarity strategy" }))?.label : s.strategy);
  if (!strategy) return undefined;
  const format = given.format ?? (interactive ? (await vscode.window.showQuickPick([
    { label: "compact", description: "only the kept heads are stored: the file that actually saves memory" },
    { label: "dense", description: "ordinary shapes, shared heads copied: loads in any tool" },
  ].sort((a) => (a.label === s.format ? -1 : 1)), { title: "Compress: output format" }))?.label as "compact" | "dense" | undefined : s.format);
  if (!format) return undefined;
  const dir = await modelDir(model);
  const suggestion = s.outputLocation === "workspaceFolder" && vscode.workspace.workspaceFolders?.[0]
    ? path.join(vscode.workspace.workspaceFolders[0].uri.fsPath, path.basename(defaultOutput(dir, ratio, format, method)))
    : defaultOutput(dir, ratio, format, method);
  const out = given.out ?? await vscode.window.showInputBox({
    title: "Compress: output folder", prompt: "A new folder (it must not be the input's folder)", value: suggestion,
    validateInput: (v) => outputProblem(dir, v.trim()),
  });
  if (!out) return undefined;
  const problem = outputProblem(dir, out);
  if (problem) throw new ExtensionError("output-over-input", `output folder ${out}: ${problem}`);
  let force = given.force ?? false;
  if (!force && await nonEmpty(out)) {
    if (!interactive) throw new ExtensionError("output-exists", `output folder ${out} exists and is not empty; pass force: true to replace it, or choose another folder`);
    const yes = await vscode.window.showWarningMessage(`${out} exists and is not empty. Replace its contents?`, { modal: true }, "Replace");
    if (yes !== "Replace") return undefined;
    force = true;
  }
  return { method, ratio, strategy, granularity: given.granularity ?? s.granularity, format, out: path.resolve(out), force, ...(given.text ? { text: given.text } : {}), ...(given.evaluate !== undefined ? { evaluate: given.evaluate } : {}), ...(given.noReport ? { noReport: true } : {}) };
}

export async function compressCommand(session: Session, uri: vscode.Uri | undefined, given: CompressOptions = {}): Promise<CompressOutcome | undefined> {
  await requireTrust("Compress Checkpoint");
  const model = await pickModel(uri, undefined, "Compress which checkpoint?");
  if (!model) return undefined;
  const o = await ask(session, model, given ?? {});
  if (!o) return undefined;
  if (o === EXPORT_JOB) {
    await exportPostShareJobCommand(session, vscode.Uri.file(model));
    return undefined;
  }
  let text = o.text;
  if (o.method === "postshare" && !text?.length) {
    const picked = await vscode.window.showOpenDialog({ title: "PostShare: training text file(s)", canSelectMany: true, openLabel: "Train on these", filters: { Text: ["txt", "md", "jsonl"], All: ["*"] } });
    if (!picked?.length) return undefined;
    text = picked.map((u) => u.fsPath);
  }
  const name = modelRef(model).name;
  const existedBefore = await fs.stat(o.out).then(() => true, () => false);
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Headshare: ${o.method === "postshare" ? "PostShare" : "DirectShare"} ${name} at ${Math.round(o.ratio * 100)}%`, cancellable: true },
    (progress, token) => session.jobs.run(`compress ${name}`, async (job) => {
      const onProgress = (p: { phase: string; done: number; total: number; message?: string }) =>
        progress.report({ message: `${p.message ?? p.phase}${p.total > 0 ? ` (${Math.round((100 * p.done) / p.total)}%)` : ""}` });
      const t0 = Date.now();
      let wrote = false; // this run's output is in place (the writer stages it: a failed write leaves nothing, and a previous output as it was)
      try {
        let report: Report;
        if (o.method === "directshare") {
          progress.report({ message: "matching heads" });
          const { table, cached } = await session.matchTable(job, model, o.strategy, o.granularity, onProgress);
          progress.report({ message: `writing the ${o.format} checkpoint` });
          const r = await session.request(job, "headshare/share", { model, ratio: o.ratio, strategy: o.strategy, granularity: o.granularity, format: o.format, out: o.out, force: o.force, table }, onProgress);
          wrote = true;
          report = shareReport(model, o, r, table);
          session.log.info(`compressed ${model} → ${o.out}: ${r.plan.selected} units shared (${cached ? "cached" : "new"} match table), ${((Date.now() - t0) / 1000).toFixed(2)} s`);
        } else {
          const r = await session.request(job, "headshare/postshare", { ...session.settings.postshare, model, ratio: o.ratio, text: [...text!], strategy: o.strategy, granularity: o.granularity, format: o.format, out: o.out, force: o.force, ...(given.steps ? { steps: given.steps } : {}), ...(given.trainOn ? { trainOn: given.trainOn } : {}) }, onProgress);
          wrote = !!r.outDir;
          report = { ...emptyReport({ model: modelRef(model), method: "postshare", ratio: o.ratio, strategy: o.strategy, granularity: o.granularity }),
            output: o.out, format: o.format, provider: r.provider, seconds: r.seconds,
            parameters: r.plan.parametersBefore !== null && r.plan.parametersAfter !== null ? { before: r.plan.parametersBefore, after: r.plan.parametersAfter } : null,
            selected: r.plan.selected, chainedTargets: r.plan.chainedTargets, postShare: postShareSummary(r) };
          session.log.info(`PostShare ${model} → ${o.out}: held-out ppl original ${r.original.ppl.toFixed(4)}, DirectShare ${r.directShare.ppl.toFixed(4)}, PostShare ${r.postShare.ppl.toFixed(4)} (${r.steps} steps, ${r.trainSeconds.toFixed(1)} s)`);
        }
        const s = session.settings;
        if ((o.evaluate ?? !!s.evalText) && s.evalText) {
          progress.report({ message: "evaluating original vs shared" });
          const t1 = Date.now();
          const ev = await session.request(job, "headshare/eval", { model, compare: o.out, text: s.evalText, attention: true, ...(s.evalWindow > 0 ? { window: s.evalWindow } : {}), ...(s.evalDocumentSeparator ? { documentsSeparator: s.evalDocumentSeparator } : {}) }, onProgress);
          report = { ...report, eval: evalSummary(ev, o.ratio, (Date.now() - t1) / 1000), provider: ev.provider, attentionSimilarity: attentionGrid(ev) };
        }
        if (!o.noReport) await ReportPanel.show(session, report, `Report: ${name} ${Math.round(o.ratio * 100)}%`);
        return { out: o.out, report };
      } catch (e) {
        // Only an output this run made (a later step failed or was cancelled): never another writer's folder.
        if (wrote && !existedBefore) await fs.rm(o.out, { recursive: true, force: true }).catch(() => undefined);
        if (isCancel(e)) { session.log.info(`compress ${model} cancelled; no output left at ${o.out}`); throw e; }
        throw e;
      }
    }, token));
}

type ShareOut = import("../../protocol/worker").JobResult<"headshare/share">;

function shareReport(model: string, o: { ratio: number; strategy: Strategy; granularity: Granularity; format: "compact" | "dense"; out: string }, r: ShareOut, table: MatchTable): Report {
  const { parametersBefore: pb, parametersAfter: pa, bytesBefore: bb, bytesAfter: ba } = r.output;
  const U = table.unitsPerLayer;
  return {
    ...emptyReport({ model: modelRef(model), method: "directshare", ratio: o.ratio, strategy: o.strategy, granularity: o.granularity }),
    output: o.out, format: o.format, provider: r.provider === "none" ? null : r.provider, seconds: r.seconds,
    parameters: { before: pb, after: pa },
    bytes: { before: bb, after: ba },
    selected: r.plan.selected, chainedTargets: r.plan.chainedTargets,
    weightSimilarity: { title: "Weight cosine to the best lower-layer unit", rows: table.layers, cols: U,
      values: Array.from({ length: table.layers * U }, (_, i) => (i < U ? null : table.entries[i - U]!.score)) },
  };
}

export function describeFailure(e: unknown): string {
  return isCancel(e) ? "cancelled" : messageOf(e);
}

