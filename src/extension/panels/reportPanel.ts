/**
 * Report panels (compress, quick eval, sweep results). Each report is saved as JSON in global storage;
 * the panel's view state names that file, so the serializer restores the panel after a reload.
 *
 * A report that can be evaluated (Compress's output against its original, a quick eval's shared model)
 * evaluates IN PLACE: on the text the rule picks (src/extension/evalText.ts) as soon as it opens, or,
 * when the rule finds none or the model is too large to score quickly, on request from the report's
 * buttons; the result replaces the "Quality" section and the tab title then names the text.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import { reportSchema, viewStateSchema } from "../../protocol/webview";
import type { EvalSummary, Report, SimilarityGrid } from "../../protocol/webview";
import { isCancel, messageOf } from "../errors";
import { resolveEvalText, textRef, TEXT_RULE } from "../evalText";
import type { EvalText, TextMode } from "../evalText";
import { resultTitle } from "../evalRun";
import type { Job } from "../runningJobs";
import { duration } from "../progressText";
import type { Session } from "../session";
import { handleGenerate } from "./generateHost";
import { connectWebview, saveExport, setupWebview } from "./webview";
import type { WebviewConnection } from "./webview";

export const REPORT_VIEW_TYPE = "headshare.report";

/** Original vs this report's shared model on `text`. */
export type Evaluator = (
  job: Job,
  text: EvalText,
  onPhase: (message: string, fraction: number | null) => void,
) => Promise<{ summary: EvalSummary; attention: SimilarityGrid | null }>;

/** Above this estimate a report does not score by itself: it says how long it would take and runs on request. */
const AUTO_EVAL_MAX_SECONDS = 120;
/** Assumed CPU throughput for the estimate (stated with it). */
const ASSUMED_FLOPS = 50e9;

/** The file of a text a result scored, to score it again (another protocol); undefined when it is gone (a temporary copy). */
export async function sameText(t: { path: string; source: string } | null): Promise<{ file: string; fileSource: string } | undefined> {
  if (!t) return undefined;
  return (await fs.stat(t.path).then(
    (st) => st.isFile(),
    () => false,
  ))
    ? { file: t.path, fileSource: t.source }
    : undefined;
}

export class ReportPanel {
  private static last: ReportPanel | undefined;
  private readonly conn: WebviewConnection;
  private running: Promise<void> | undefined;

  /** The most recently opened report panel (tests read it). */
  static get latest(): ReportPanel | undefined {
    return ReportPanel.last;
  }

  /**
   * Opens a report. `evaluate` makes it scoreable in place; `auto` scores at once on the text the rule
   * picks (when there is one and the estimate is short), else the report offers a text.
   */
  static async show(session: Session, report: Report, title: string, o: { evaluate?: Evaluator; auto?: boolean } = {}): Promise<ReportPanel> {
    const file = await ReportPanel.store(session, report);
    const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, title, vscode.ViewColumn.Active, {});
    const p = new ReportPanel(session, panel, report, file, o.evaluate);
    if (o.evaluate && !report.eval) p.running = p.start(o.auto ?? true);
    return p;
  }

  private static async store(session: Session, report: Report): Promise<string> {
    const dir = path.join(session.context.globalStorageUri.fsPath, "reports");
    await fs.mkdir(dir, { recursive: true });
    const text = JSON.stringify(report);
    const file = path.join(dir, `report-${createHash("sha256").update(text).digest("hex").slice(0, 16)}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, text);
    await fs.rename(tmp, file);
    return file;
  }

  private constructor(
    private readonly session: Session,
    readonly panel: vscode.WebviewPanel,
    public report: Report,
    private file: string,
    private readonly evaluator?: Evaluator,
  ) {
    ReportPanel.last = this;
    panel.iconPath = vscode.Uri.joinPath(session.extensionUri, "media", "icon.svg");
    setupWebview(panel.webview, session.extensionUri, panel.title);
    const conn = connectWebview(panel.webview, session.log, "report webview");
    this.conn = conn;
    conn.rpc.handle("webview/ready", () => ({ view: "report", report: this.report, reportFile: this.file }));
    conn.rpc.handle("webview/export", async (p) => ({ path: (await saveExport(p, this.report.output ?? path.dirname(this.report.model.path))) ?? null }));
    conn.rpc.handle("webview/quickEval", () => {
      throw new Error("quick eval runs from the sharing map");
    });
    conn.rpc.handle("webview/compress", () => {
      throw new Error("compress runs from the sharing map");
    });
    conn.rpc.handle("webview/evaluate", async (p, ctx) => {
      if (!this.evaluator) throw new Error("this report has no shared model to score (it was saved before a window reload); run Quick Eval or Compress again");
      await this.evaluate(p.text, p.separator, ctx.signal);
      return {};
    });
    conn.rpc.on("webview/openLogs", () => session.log.show());
    handleGenerate(session, conn, report.model.path, () =>
      report.output ? { kind: "checkpoint", path: report.output, label: path.basename(report.output) } : { kind: "ratio" },
    );
    panel.onDidDispose(() => {
      if (ReportPanel.last === this) ReportPanel.last = undefined;
      conn.dispose();
    });
  }

  /** Resolves when the evaluation the report started by itself has finished (tests, automation). */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async update(report: Report): Promise<void> {
    this.report = report;
    this.file = await ReportPanel.store(this.session, report);
    this.conn.rpc.notify("webview/init", { view: "report", report, reportFile: this.file });
  }

  /** The first evaluation: by the rule, unless it would take long (then an estimate and a button). */
  private async start(auto: boolean): Promise<void> {
    try {
      const text = auto ? await resolveEvalText(this.session, this.report.model.path, "auto") : undefined;
      if (!text) {
        await this.update({
          ...this.report,
          evalState: {
            state: "offer",
            text: null,
            message: auto
              ? `No held-out text is named in this model's card and headshare.eval.text is not set. ${TEXT_RULE}`
              : `Not evaluated yet. ${TEXT_RULE}`,
          },
        });
        return;
      }
      const estimate = await this.estimateSeconds(text);
      if (estimate !== null && estimate > AUTO_EVAL_MAX_SECONDS) {
        await text.cleanup();
        await this.update({
          ...this.report,
          evalState: {
            state: "too-large",
            text: textRef(text),
            message: `Scoring ${text.label} would take about ${duration(estimate * 1000)} on a CPU (estimate: 4 × parameters × tokens at ${ASSUMED_FLOPS / 1e9} GFLOP/s, both models); it runs when you ask.`,
          },
        });
        return;
      }
      await this.run(text, undefined);
    } catch (e) {
      if (!isCancel(e)) this.session.log.warn(`report evaluation: ${messageOf(e)}`);
    }
  }

  /** Tokens ≈ bytes / 4 (bytes for a byte-level model would be more; the estimate says "about"). */
  private async estimateSeconds(text: EvalText): Promise<number | null> {
    const params = this.report.parameters?.before;
    if (!params) return null;
    const bytes = (await fs.stat(text.file)).size;
    return (4 * params * (bytes / 4)) / ASSUMED_FLOPS;
  }

  private async evaluate(mode: TextMode, separator: string | null | undefined, signal: AbortSignal): Promise<void> {
    // "Score per document" re-scores the same text (when it is a file that still exists).
    const same = separator !== undefined && mode === "auto" ? await sameText(this.report.eval?.text ?? this.report.evalState?.text ?? null) : undefined;
    const text = await resolveEvalText(this.session, this.report.model.path, mode, {
      ...(same ?? {}),
      ...(separator !== undefined ? { separator } : {}),
      interactive: true,
    });
    if (!text) return;
    const p = this.run(text, signal);
    this.running = p;
    await p;
  }

  private async run(text: EvalText, signal: AbortSignal | undefined): Promise<void> {
    const before = this.report;
    await this.update({
      ...before,
      evalState: { state: "running", text: textRef(text), message: `Scoring ${text.label} (${text.source}): original vs shared` },
    });
    const progress = (message: string, fraction: number | null) =>
      this.conn.rpc.notify("webview/progress", { job: "evaluate", message, fraction: fraction === null ? null : Math.max(0, Math.min(1, fraction)) });
    try {
      const r = await this.session.jobs.run(`evaluate ${before.model.name}`, async (job) => {
        const cancel = () => job.controller.abort();
        signal?.addEventListener("abort", cancel, { once: true });
        const sub = this.session.jobs.onDidChange(() => progress(this.session.jobs.describe(job), job.fraction));
        try {
          return await this.evaluator!(job, text, () => undefined);
        } finally {
          sub.dispose();
          signal?.removeEventListener("abort", cancel);
        }
      });
      await this.update({
        ...before,
        eval: r.summary,
        attentionSimilarity: r.attention ?? before.attentionSimilarity,
        provider: r.summary.provider,
        evalState: null,
      });
      this.panel.title = resultTitle(before.kind === "quickEval" ? "Quick eval" : "Compress", before.model.path, before.ratio, text);
      this.session.log.info(
        `report ${before.model.name} @${before.ratio}: ppl ${r.summary.original.ppl.toFixed(4)} → ${r.summary.shared.ppl.toFixed(4)} on ${text.file} (${r.summary.protocol})`,
      );
    } catch (e) {
      await this.update({
        ...before,
        evalState: isCancel(e)
          ? { state: "offer", text: textRef(text), message: `Scoring ${text.label} was cancelled. ${TEXT_RULE}` }
          : { state: "failed", text: textRef(text), message: messageOf(e) },
      });
      if (!isCancel(e)) this.session.log.warn(`report evaluation on ${text.file}: ${messageOf(e)}`);
    } finally {
      await text.cleanup();
    }
  }

  static serializer(session: Session): vscode.WebviewPanelSerializer {
    return {
      async deserializeWebviewPanel(panel, state) {
        const st = viewStateSchema.safeParse(state);
        const file = st.success && st.data.view === "report" ? st.data.path : undefined;
        try {
          if (!file) throw new Error("no saved report");
          const report = reportSchema.parse(JSON.parse(await fs.readFile(file, "utf8")));
          // A restored report can no longer start a run (its evaluator is gone): a running state becomes an offer.
          const restored =
            report.evalState?.state === "running"
              ? {
                  ...report,
                  evalState: {
                    ...report.evalState,
                    state: "failed" as const,
                    message: "The window reloaded while this text was being scored; run Compress or Quick Eval again to score it.",
                  },
                }
              : report;
          new ReportPanel(session, panel, restored, file);
        } catch (e) {
          session.log.info(`not restoring a report panel: ${messageOf(e)}`);
          panel.dispose();
        }
      },
    };
  }
}
