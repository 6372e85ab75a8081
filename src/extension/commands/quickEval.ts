/**
 * Headshare: Quick Eval — original vs shared on the active editor's text, a selection or a chosen file.
 * "Shared" is either a compressed checkpoint the user picks, or the original shared at a ratio in
 * memory (nothing written). The result opens as a report.
 */
import path from "node:path";
import * as vscode from "vscode";
import type { EvalSummary, SimilarityGrid } from "../../protocol/webview";
import { isCancel } from "../errors";
import { evalAtRatio, resolveEvalText } from "../evalRun";
import { attentionGrid, emptyReport, evalSizes, evalSummary, modelRef } from "../mapping";
import { checkModelPath, pickModel } from "../modelPick";
import { MapPanel } from "../panels/mapPanel";
import { ReportPanel } from "../panels/reportPanel";
import type { Session } from "../session";
import { requireTrust } from "../trust";

export interface QuickEvalOptions {
  /** Ratio to share the original at (in memory). */
  readonly ratio?: number;
  /** A compressed checkpoint to compare instead. */
  readonly shared?: string;
  /** A text file to score (else the setting, the editor, or ask). */
  readonly text?: string;
  readonly noReport?: boolean;
}

export async function quickEvalCommand(session: Session, uri: vscode.Uri | undefined, o: QuickEvalOptions = {}): Promise<EvalSummary | undefined> {
  await requireTrust("Quick Eval");
  const active = MapPanel.active;
  const model = await pickModel(uri, active?.model, "Evaluate which original checkpoint?");
  if (!model) return undefined;
  const s = session.settings;
  let shared = o.shared;
  let ratio = o.ratio;
  if (shared === undefined && ratio === undefined) {
    const pick = await vscode.window.showQuickPick([
      { label: `$(zap) Share at ${Math.round(s.defaultRatio * 100)}% now`, description: "DirectShare applied in memory (nothing written), compare", v: "ratio" },
      { label: "$(folder-opened) A compressed checkpoint…", description: "compare against an output of Compress", v: "pick" },
    ], { title: `Quick Eval: compare ${modelRef(model).name} with…` });
    if (!pick) return undefined;
    if (pick.v === "ratio") ratio = s.defaultRatio;
    else {
      const p = await vscode.window.showOpenDialog({ title: "The shared checkpoint", canSelectFiles: true, canSelectFolders: true, openLabel: "Compare with this" });
      if (!p?.[0]) return undefined;
      shared = p[0].fsPath;
    }
  }
  if (shared) shared = await checkModelPath(shared);
  const text = o.text ? { file: path.resolve(o.text), label: path.basename(o.text), cleanup: async () => undefined } : await resolveEvalText(session, "ask");
  if (!text) return undefined;
  const name = modelRef(model).name;
  let sizes: ReturnType<typeof evalSizes> = { parameters: null, bytes: null };
  let attention: SimilarityGrid | null = null;
  try {
    const ev = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Headshare: quick eval of ${name}`, cancellable: true },
      (progress, token) => session.jobs.run(`eval ${name}`, async (job) => {
        if (shared) {
          const t0 = Date.now();
          const r = await session.request(job, "headshare/eval", { model, compare: shared, text: text.file, attention: !o.noReport, ...(s.evalWindow > 0 ? { window: s.evalWindow } : {}), ...(s.evalMemoryBudgetGiB > 0 ? { memoryBudgetGiB: s.evalMemoryBudgetGiB } : {}), ...(s.evalDocumentSeparator ? { documentsSeparator: s.evalDocumentSeparator } : {}) },
            (p) => progress.report({ message: `${p.message ?? p.phase}` }));
          sizes = evalSizes(r);
          attention = attentionGrid(r);
          return evalSummary(r, null, (Date.now() - t0) / 1000);
        }
        const { table } = await session.matchTable(job, model, s.strategy, s.granularity);
        const { attention: grid, ...ev } = await evalAtRatio(session, job, model, table, ratio!, text, (message, f) => progress.report({ message: `${message}${f !== null ? ` (${Math.round(f * 100)}%)` : ""}` }), !o.noReport);
        attention = grid ?? null;
        return ev;
      }, token));
    session.log.info(`quick eval ${model} vs ${shared ?? `shared at ${ratio}`}: ppl ${ev.original.ppl.toFixed(4)} → ${ev.shared.ppl.toFixed(4)} (${ev.tokens} tokens, ${ev.protocol})`);
    if (!o.noReport) {
      const report = { ...emptyReport({ model: modelRef(model), method: "directshare" as const, ratio: ratio ?? 0, strategy: s.strategy, granularity: s.granularity }), output: shared ?? null, provider: ev.provider, eval: ev, ...sizes, attentionSimilarity: attention };
      await ReportPanel.show(session, report, `Quick eval: ${name}`);
    }
    return ev;
  } catch (e) {
    if (isCancel(e)) return undefined;
    throw e;
  } finally {
    await text.cleanup();
  }
}
