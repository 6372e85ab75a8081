/** Headshare: Sweep Ratios — one match table, then quality at each ratio (the quality/size curve) as a report. */
import * as vscode from "vscode";
import type { Report } from "../../protocol/webview";
import { ExtensionError } from "../errors";
import { parseRatios } from "../outputPath";
import { resolveEvalText } from "../evalRun";
import { emptyReport, modelRef, sweepRows } from "../mapping";
import { pickModel } from "../modelPick";
import { MapPanel } from "../panels/mapPanel";
import { ReportPanel } from "../panels/reportPanel";
import type { Session } from "../session";
import { requireTrust } from "../trust";

export async function sweepCommand(session: Session, uri: vscode.Uri | undefined, o: { ratios?: number[]; text?: string; noReport?: boolean } = {}): Promise<Report | undefined> {
  await requireTrust("Sweep Ratios");
  const model = await pickModel(uri, MapPanel.active?.model, "Sweep which checkpoint?");
  if (!model) return undefined;
  const s = session.settings;
  let ratios = o.ratios ? [...new Set(o.ratios)].sort((a, b) => a - b) : undefined;
  if (!ratios) {
    const t = await vscode.window.showInputBox({ title: "Sweep: ratios", value: "0, 0.1, 0.2, 0.3, 0.4, 0.5", validateInput: (v) => { try { parseRatios(v); return undefined; } catch (e) { return (e as Error).message; } } });
    if (t === undefined) return undefined;
    try { ratios = parseRatios(t); } catch (e) { throw new ExtensionError("bad-input", (e as Error).message); }
  }
  const text = o.text ? { file: o.text, label: o.text, cleanup: async () => undefined } : await resolveEvalText(session, "ask");
  if (!text) return undefined;
  const name = modelRef(model).name;
  try {
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Headshare: sweeping ${name} over ${ratios.length} ratios`, cancellable: true },
      (progress, token) => session.jobs.run(`sweep ${name}`, (job) => session.request(job, "headshare/sweep", {
        model, ratios: ratios!, text: text.file, strategy: s.strategy, granularity: s.granularity,
        ...(s.evalWindow > 0 ? { window: s.evalWindow } : {}), ...(s.evalDocumentSeparator ? { documentsSeparator: s.evalDocumentSeparator } : {}),
        ...(s.evalMemoryBudgetGiB > 0 ? { memoryBudgetGiB: s.evalMemoryBudgetGiB } : {}),
      }, (p) => progress.report({ message: `${p.message ?? p.phase}${p.total > 0 ? ` (${Math.round((100 * p.done) / p.total)}%)` : ""}` })), token));
    const report: Report = { ...emptyReport({ model: modelRef(model), method: "directshare", ratio: s.defaultRatio, strategy: s.strategy, granularity: s.granularity }),
      provider: r.provider, seconds: r.seconds, sweep: sweepRows(r) };
    if (!o.noReport) await ReportPanel.show(session, report, `Sweep: ${name}`);
    return report;
  } finally {
    await text.cleanup();
  }
}
