/**
 * Inspect Checkpoint: a read-only custom editor for *.safetensors (priority "default": double-clicking a
 * .safetensors file opens it, since VS Code cannot show the binary; "Open With…" still offers the hex or
 * text editor), and a plain panel for model folders.
 * Both ask the worker for the summary (headers and config.json only) and render the inspect view.
 * Inspection is the one thing allowed in Restricted Mode: it reads headers, runs no model.
 */
import path from "node:path";
import * as vscode from "vscode";
import { messageOf } from "../errors";
import { inspectData } from "../displayShapes";
import type { Session } from "../session";
import { connectWebview, saveExport, setupWebview } from "./webview";

export const INSPECT_EDITOR_VIEW_TYPE = "headshare.inspect";
export const INSPECT_PANEL_VIEW_TYPE = "headshare.inspectPanel";

/** Wires one webview to show the summary of `target` (file or folder). */
function attachInspect(session: Session, webview: vscode.Webview, target: string, title: string): vscode.Disposable {
  setupWebview(webview, session.extensionUri, title);
  const conn = connectWebview(webview, session.log, "inspect webview");
  conn.rpc.handle("webview/ready", async () => {
    try {
      const r = await session.jobs.run(`inspect ${path.basename(target)}`, (job) => session.request(job, "headshare/inspect", { model: target }));
      return { view: "inspect", inspect: inspectData(r.summary) };
    } catch (e) {
      session.log.error(`inspect ${target}: ${messageOf(e)}`);
      throw new Error(`Cannot inspect ${target}: ${messageOf(e)}`, { cause: e });
    }
  });
  conn.rpc.handle("webview/export", async (p) => ({ path: (await saveExport(p, path.dirname(target))) ?? null }));
  conn.rpc.handle("webview/quickEval", () => {
    throw new Error("quick eval runs from the sharing map");
  });
  conn.rpc.handle("webview/compress", () => {
    void vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(target));
    return {};
  });
  conn.rpc.on("webview/openLogs", () => session.log.show());
  return conn;
}

export class InspectEditorProvider implements vscode.CustomReadonlyEditorProvider {
  constructor(private readonly session: Session) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): void {
    const sub = attachInspect(this.session, panel.webview, document.uri.fsPath, path.basename(document.uri.fsPath));
    panel.onDidDispose(() => sub.dispose());
  }
}

/** Inspect panel for a model folder (custom editors only open files). */
export function showInspectPanel(session: Session, folder: string): vscode.WebviewPanel {
  const panel = vscode.window.createWebviewPanel(INSPECT_PANEL_VIEW_TYPE, `Inspect: ${path.basename(folder)}`, vscode.ViewColumn.Active, {});
  panel.iconPath = vscode.Uri.joinPath(session.extensionUri, "media", "icon.svg");
  const sub = attachInspect(session, panel.webview, folder, panel.title);
  panel.onDidDispose(() => sub.dispose());
  return panel;
}
