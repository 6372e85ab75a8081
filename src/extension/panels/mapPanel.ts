/**
 * The sharing-map panel: one per (model, strategy, granularity), revealed if open. Answers the
 * webview's `webview/ready` with the cached match table (first load, reload, revive), runs quick eval
 * (cancellable from the panel, the status bar or the command) and opens Compress on request. Survives
 * a window reload through its WebviewPanelSerializer (view state holds only the model path, strategy,
 * granularity, ratio and selected cell; the table comes from the cache).
 */
import path from "node:path";
import * as vscode from "vscode";
import type { Granularity } from "../../core/model/types";
import type { MatchTable, Strategy } from "../../core/share/types";
import { viewStateSchema } from "../../protocol/webview";
import type { EvalSummary, MapInit } from "../../protocol/webview";
import { ExtensionError, messageOf } from "../errors";
import { evalAtRatio } from "../evalRun";
import { resolveEvalText, TEXT_RULE } from "../evalText";
import { modelRef } from "../displayShapes";
import { requireTokenizer } from "../checkInput";
import type { Session } from "../session";
import { handleGenerate } from "./generateHost";
import { sameText } from "./reportPanel";
import { connectWebview, saveExport, setupWebview } from "./webview";
import type { WebviewConnection } from "./webview";

export const MAP_VIEW_TYPE = "headshare.sharingMap";

export class MapPanel {
  private static readonly open = new Map<string, MapPanel>();
  private readonly conn: WebviewConnection;
  private lastEval: EvalSummary | null = null;
  /** The slider's ratio now (the webview reports every move). */
  currentRatio: number;

  static key(model: string, strategy: Strategy, granularity: Granularity): string {
    return JSON.stringify([model, strategy, granularity]);
  }

  /** The open panel for a model, if any (tests and the quick-eval command use it). */
  static find(model: string): MapPanel | undefined {
    for (const p of MapPanel.open.values()) if (p.model === model) return p;
    return undefined;
  }
  static get active(): MapPanel | undefined {
    for (const p of MapPanel.open.values()) if (p.panel.active) return p;
    return undefined;
  }

  static show(session: Session, model: string, table: MatchTable, ratio: number): MapPanel {
    const existing = MapPanel.open.get(MapPanel.key(model, table.strategy, table.granularity));
    if (existing) {
      existing.table = table;
      existing.panel.reveal();
      existing.conn.rpc.notify("webview/init", existing.init());
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(MAP_VIEW_TYPE, `Sharing map: ${modelRef(model).name}`, vscode.ViewColumn.Active, {});
    return new MapPanel(session, panel, model, table, ratio);
  }

  private constructor(
    private readonly session: Session,
    readonly panel: vscode.WebviewPanel,
    readonly model: string,
    private table: MatchTable,
    private readonly ratio: number,
  ) {
    this.currentRatio = ratio;
    MapPanel.open.set(MapPanel.key(model, table.strategy, table.granularity), this);
    panel.iconPath = vscode.Uri.joinPath(session.extensionUri, "media", "icon.svg");
    setupWebview(panel.webview, session.extensionUri, panel.title);
    this.conn = connectWebview(panel.webview, session.log, "sharing-map webview");
    const rpc = this.conn.rpc;
    rpc.handle("webview/ready", () => this.init());
    rpc.handle("webview/quickEval", (p, ctx) => this.quickEval(p.ratio, ctx.signal, p.text ?? "auto", p.separator));
    rpc.handle("webview/evaluate", () => {
      throw new Error("the sharing map scores with quick eval");
    });
    rpc.on("webview/ratio", (p) => {
      this.currentRatio = p.ratio;
    });
    rpc.handle("webview/export", async (p) => ({ path: (await saveExport(p, path.dirname(this.model))) ?? null }));
    rpc.handle("webview/compress", (p) => {
      void vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(this.model), {
        ratio: p.ratio,
        strategy: this.table.strategy,
        granularity: this.table.granularity,
      });
      return {};
    });
    rpc.on("webview/openLogs", () => session.log.show());
    handleGenerate(session, this.conn, model, () => ({ kind: "ratio" }));
    panel.onDidDispose(() => this.dispose());
  }

  private init(): MapInit {
    return {
      view: "map",
      model: modelRef(this.model),
      table: this.table as MapInit["table"],
      ratio: this.ratio,
      canEval: vscode.workspace.isTrusted,
      lastEval: this.lastEval,
      textRule: TEXT_RULE,
    };
  }

  /** The last quick eval when it scored this very plan (same ratio, strategy and granularity). */
  evalFor(ratio: number, strategy: Strategy, granularity: Granularity): EvalSummary | undefined {
    const ev = this.lastEval;
    return ev && ev.ratio !== null && Math.abs(ev.ratio - ratio) < 1e-9 && strategy === this.table.strategy && granularity === this.table.granularity
      ? ev
      : undefined;
  }

  /** Quick eval at `ratio` for the webview; `signal` is the webview's cancel. Errors become the request's error reply. */
  /** The panel's "Quick eval at this ratio" on the rule's text, as its button runs it (automation and tests). */
  runQuickEval(ratio: number): Promise<EvalSummary> {
    return this.quickEval(ratio, new AbortController().signal, "auto", undefined);
  }

  private async quickEval(ratio: number, signal: AbortSignal, mode: "auto" | "choose", separator: string | null | undefined): Promise<EvalSummary> {
    if (!vscode.workspace.isTrusted) throw new ExtensionError("untrusted", "Quick eval is disabled in Restricted Mode: trust this workspace to run models.");
    await requireTokenizer(this.model, "Quick eval");
    // The rule's text without asking; when it finds none, ask (the pick states the rule).
    const same = separator !== undefined && mode === "auto" ? await sameText(this.lastEval?.text ?? null) : undefined;
    const text =
      (await resolveEvalText(this.session, this.model, mode, { ...(same ?? {}), ...(separator !== undefined ? { separator } : {}), interactive: true })) ??
      (mode === "auto" ? await resolveEvalText(this.session, this.model, "ask") : undefined);
    if (!text) throw new ExtensionError("cancelled", "no text was chosen to score");
    const progress = (message: string, fraction: number | null) =>
      this.conn.rpc.notify("webview/progress", { job: "eval", message, fraction: fraction === null ? null : Math.max(0, Math.min(1, fraction)) });
    try {
      return await this.session.jobs.run(`quick eval ${modelRef(this.model).name} @${Math.round(ratio * 100)}%`, async (job) => {
        const cancel = () => job.controller.abort();
        signal.addEventListener("abort", cancel, { once: true });
        // The panel shows the job's own progress text (the one the status bar and its tooltip show).
        const sub = this.session.jobs.onDidChange(() => progress(this.session.jobs.describe(job), job.fraction));
        try {
          const ev = await evalAtRatio(this.session, job, this.model, this.table, ratio, text);
          this.lastEval = ev;
          this.session.log.info(
            `quick eval of ${this.model} at ${ratio}: ppl ${ev.original.ppl.toFixed(4)} → ${ev.shared.ppl.toFixed(4)} on ${ev.tokens} tokens (${ev.protocol})`,
          );
          return ev;
        } finally {
          sub.dispose();
          signal.removeEventListener("abort", cancel);
        }
      });
    } catch (e) {
      this.session.log.warn(`quick eval of ${this.model} at ${ratio}: ${messageOf(e)}`);
      throw e;
    } finally {
      await text.cleanup();
    }
  }

  private dispose(): void {
    MapPanel.open.delete(MapPanel.key(this.model, this.table.strategy, this.table.granularity));
    this.conn.dispose();
  }

  /** Restores panels after a window reload from their view state (the table comes from the cache, or is recomputed). */
  static serializer(session: Session): vscode.WebviewPanelSerializer {
    return {
      async deserializeWebviewPanel(panel, state) {
        const st = viewStateSchema.safeParse(state);
        if (!st.success || st.data.view !== "map" || !st.data.path || !vscode.workspace.isTrusted) {
          panel.dispose();
          return;
        }
        const { path: model, strategy = session.settings.strategy, granularity = session.settings.granularity } = st.data;
        try {
          const { table } = await session.jobs.run(`map ${modelRef(model).name}`, (job) => session.matchTable(job, model, strategy, granularity));
          new MapPanel(session, panel, model, table, st.data.ratio ?? session.settings.defaultRatio);
        } catch (e) {
          session.log.error(`could not restore the sharing map of ${model}: ${messageOf(e)}`);
          panel.dispose();
        }
      },
    };
  }
}
