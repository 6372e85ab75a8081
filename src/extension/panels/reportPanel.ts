/**
 * Report panels (compress, quick eval, sweep results). Each report is saved as JSON in global storage;
 * the panel's view state names that file, so the serializer restores the panel after a reload.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import { reportSchema, viewStateSchema } from "../../protocol/webview";
import type { Report } from "../../protocol/webview";
import { messageOf } from "../errors";
import type { Session } from "../session";
import { handleGenerate } from "./generateHost";
import { connectWebview, saveExport, setupWebview } from "./webview";

export const REPORT_VIEW_TYPE = "headshare.report";

export class ReportPanel {
  private static last: ReportPanel | undefined;

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

  private constructor(session: Session, readonly panel: vscode.WebviewPanel, readonly report: Report, file: string) {
    ReportPanel.last = this;
    panel.iconPath = vscode.Uri.joinPath(session.extensionUri, "media", "icon.svg");
    setupWebview(panel.webview, session.extensionUri, panel.title);
    const conn = connectWebview(panel.webview, session.log, "report webview");
    conn.rpc.handle("webview/ready", () => ({ view: "report", report, reportFile: file }));
    conn.rpc.handle("webview/export", async (p) => ({ path: (await saveExport(p, report.output ?? path.dirname(report.model.path))) ?? null }));
    conn.rpc.handle("webview/quickEval", () => { throw new Error("quick eval runs from the sharing map"); });
    conn.rpc.handle("webview/compress", () => { throw new Error("compress runs from the sharing map"); });
    conn.rpc.on("webview/openLogs", () => session.log.show());
    handleGenerate(session, conn, report.model.path, () => (report.output ? { kind: "checkpoint", path: report.output, label: path.basename(report.output) } : { kind: "ratio" }));
    panel.onDidDispose(() => { if (ReportPanel.last === this) ReportPanel.last = undefined; conn.dispose(); });
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
