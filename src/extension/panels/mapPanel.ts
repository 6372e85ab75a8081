/**
 * The sharing-map panel: one per (model, strategy, granularity), revealed if open. Sends the cached
 * match table on every `ready` (first load, reload, revive), runs quick eval and opens Compress on
 * request. Survives a window reload through its WebviewPanelSerializer (view state holds only the
 * model path, strategy, granularity, ratio and selected cell; the table comes from the cache).
 */
import path from "node:path";
import * as vscode from "vscode";
import type { Granularity } from "../../core/model/types";
import type { MatchTable, Strategy } from "../../core/share/types";
import { viewStateSchema } from "../../protocol/webview";
import type { FromWebview, MapInit, ToWebview } from "../../protocol/webview";
import { isCancel, messageOf } from "../errors";
import { evalAtRatio, resolveEvalText } from "../evalRun";
import { modelRef } from "../mapping";
import type { Session } from "../session";
import { onWebviewMessage, postToWebview, saveExport, setupWebview } from "./webview";

export const MAP_VIEW_TYPE = "headshare.sharingMap";

export class MapPanel {
  private static readonly open = new Map<string, MapPanel>();
  private readonly disposables: vscode.Disposable[] = [];
  private job: { cancel(): void } | undefined;

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
    const key = MapPanel.key(model, table.strategy, table.granularity);
    const existing = MapPanel.open.get(key);
    if (existing) {
      existing.table = table;
      existing.panel.reveal();
      void existing.sendInit();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(MAP_VIEW_TYPE, `Sharing map: ${modelRef(model).name}`, vscode.ViewColumn.Active, {});
    return new MapPanel(session, panel, model, table, ratio);
  }

  private constructor(private readonly session: Session, readonly panel: vscode.WebviewPanel, readonly model: string, private table: MatchTable, private ratio: number) {
    MapPanel.open.set(MapPanel.key(model, table.strategy, table.granularity), this);
    panel.iconPath = vscode.Uri.joinPath(session.extensionUri, "media", "icon.svg");
    setupWebview(panel.webview, session.extensionUri, panel.title);
    this.disposables.push(
      onWebviewMessage(panel.webview, session.log, (m) => this.onMessage(m)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private canEval(): boolean {
    return vscode.workspace.isTrusted;
  }

  private async sendInit(): Promise<void> {
    const init: MapInit = { view: "map", model: modelRef(this.model), table: this.table as MapInit["table"], ratio: this.ratio, canEval: this.canEval() };
    await postToWebview(this.panel.webview, this.session.log, { type: "init", init });
  }

  private async onMessage(m: FromWebview): Promise<void> {
    switch (m.type) {
      case "ready": await this.sendInit(); break;
      case "quickEval": await this.quickEval(m.ratio); break;
      case "compress": await vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(this.model), { ratio: m.ratio, strategy: this.table.strategy, granularity: this.table.granularity }); break;
      case "cancel": this.job?.cancel(); break;
      case "openLogs": this.session.log.show(); break;
      case "export": {
        const file = await saveExport(m, path.dirname(this.model));
        if (file) await postToWebview(this.panel.webview, this.session.log, { type: "exported", path: file });
        break;
      }
    }
  }

  /** Runs quick eval at `ratio` and posts the result to the panel; resolves to it (undefined when cancelled or failed). */
  async quickEval(ratio: number) {
    const post = (msg: ToWebview) => postToWebview(this.panel.webview, this.session.log, msg);
    if (!vscode.workspace.isTrusted) {
      await post({ type: "error", job: "eval", message: "Quick eval is disabled in Restricted Mode: trust this workspace to run models." });
      return undefined;
    }
    const text = await resolveEvalText(this.session, "auto");
    if (!text) return undefined;
    try {
      return await this.session.jobs.run(`eval ${modelRef(this.model).name} @${Math.round(ratio * 100)}%`, async (job) => {
        this.job = { cancel: () => job.controller.abort() };
        const ev = await evalAtRatio(this.session, job, this.model, this.table, ratio, text,
          (message, fraction) => void post({ type: "busy", job: "eval", message, fraction: fraction === null ? null : Math.max(0, Math.min(1, fraction)) }));
        await post({ type: "evalResult", eval: ev });
        this.session.log.info(`quick eval of ${this.model} at ${ratio}: ppl ${ev.original.ppl.toFixed(4)} → ${ev.shared.ppl.toFixed(4)} on ${ev.tokens} tokens (${ev.protocol})`);
        return ev;
      });
    } catch (e) {
      await post({ type: "error", job: "eval", message: isCancel(e) ? "Quick eval was cancelled." : `Quick eval failed: ${messageOf(e)}` });
      if (!isCancel(e)) this.session.log.error(`quick eval failed: ${messageOf(e)}`);
      return undefined;
    } finally {
      this.job = undefined;
      await text.cleanup();
    }
  }

  private dispose(): void {
    this.job?.cancel();
    MapPanel.open.delete(MapPanel.key(this.model, this.table.strategy, this.table.granularity));
    for (const d of this.disposables) d.dispose();
  }

  /** Restores panels after a window reload from their view state (the table comes from the cache, or is recomputed). */
  static serializer(session: Session): vscode.WebviewPanelSerializer {
    return {
      async deserializeWebviewPanel(panel, state) {
        const st = viewStateSchema.safeParse(state);
        if (!st.success || st.data.view !== "map" || !st.data.path || !vscode.workspace.isTrusted) {
          setupWebview(panel.webview, session.extensionUri, panel.title);
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
