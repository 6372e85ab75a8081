/**
 * Report panels (compress, quick eval, sweep results). Each report is saved as JSON in global storage;
 * the panel's view state names that file, so the serializer restores the panel after a reload.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import { reportSchema, viewStateSchema } from "../../protocol/webview";
import type { FromWebview, Report } from "../../protocol/webview";
import { messageOf } from "../errors";
import type { Session } from "../session";
import { onWebviewMessage, postToWebview, saveExport, setupWebview } from "./webview";

export const REPORT_VIEW_TYPE = "headshare.report";

export class ReportPanel {
  private static last: ReportPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  /** The most recently opened report panel (tests read it). */
  static get latest(): ReportPanel | undefined { return ReportPanel.last; }

  static async show(session: Session, report: Report, title: string): Promise<ReportPanel> {
    const file = await ReportPanel.store(session, report);
    const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, title, vscode.ViewColumn.Active, {});
    return new ReportPanel(session, panel, report, file);
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

  private constructor(private readonly session: Session, readonly panel: vscode.WebviewPanel, readonly report: Report, private readonly file: string) {
    ReportPanel.last = this;
    panel.iconPath = vscode.Uri.joinPath(session.extensionUri, "media", "icon.svg");
    setupWebview(panel.webview, session.extensionUri, panel.title);
    this.disposables.push(
      onWebviewMessage(panel.webview, session.log, (m) => this.onMessage(m)),
      panel.onDidDispose(() => { if (ReportPanel.last === this) ReportPanel.last = undefined; for (const d of this.disposables) d.dispose(); }),
    );
  }

  private async onMessage(m: FromWebview): Promise<void> {
    if (m.type === "ready") {
      await postToWebview(this.panel.webview, this.session.log, { type: "init", init: { view: "report", report: this.report, reportFile: this.file } });
    } else if (m.type === "export") {
      const file = await saveExport(m, this.report.output ?? path.dirname(this.report.model.path));
      if (file) await postToWebview(this.panel.webview, this.session.log, { type: "exported", path: file });
    } else if (m.type === "openLogs") {
      this.session.log.show();
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
          new ReportPanel(session, panel, report, file);
        } catch (e) {
          session.log.info(`not restoring a report panel: ${messageOf(e)}`);
          panel.dispose();
        }
      },
    };
  }
}
