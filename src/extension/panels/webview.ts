/**
 * The host end of the webview boundary: options (scripts on, resources only from dist/ and media/),
 * the page, validated receive (invalid messages are logged and dropped), validated send, and export
 * saving (save dialog, atomic write). Every panel and the custom editor use this.
 */
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import { describeIssues, fromWebviewSchema, toWebviewSchema } from "../../protocol/webview";
import type { FromWebview, ToWebview } from "../../protocol/webview";
import { renderPage } from "../html";
import type { Log } from "../log";

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, "dist"), vscode.Uri.joinPath(extensionUri, "media")],
    retainContextWhenHidden: false,
    enableFindWidget: true,
  };
}

/** Sets options and the page (fresh nonce). */
export function setupWebview(webview: vscode.Webview, extensionUri: vscode.Uri, title: string): void {
  webview.options = webviewOptions(extensionUri);
  webview.html = renderPage({
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "dist", "webview.js")).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "media", "webview.css")).toString(),
    title,
  });
}

/** Subscribes to validated messages from the webview. */
export function onWebviewMessage(webview: vscode.Webview, log: Log, handler: (m: FromWebview) => void | Promise<void>): vscode.Disposable {
  return webview.onDidReceiveMessage(async (raw: unknown) => {
    const r = fromWebviewSchema.safeParse(raw);
    if (!r.success) { log.warn(`dropped an invalid message from a webview: ${describeIssues(r.error)}`); return; }
    try {
      await handler(r.data);
    } catch (e) {
      log.error(e instanceof Error ? e : String(e));
    }
  });
}

/** Posts a message after checking it against the schema (a bug here is logged, never sent half-formed). */
export async function postToWebview(webview: vscode.Webview, log: Log, m: ToWebview): Promise<boolean> {
  const r = toWebviewSchema.safeParse(m);
  if (!r.success) { log.error(`not posting an invalid ${m.type} message to the webview: ${describeIssues(r.error)}`); return false; }
  return webview.postMessage(r.data);
}

const FILTERS: Record<string, Record<string, string[]>> = {
  svg: { "SVG image": ["svg"] }, png: { "PNG image": ["png"] }, json: { JSON: ["json"] }, csv: { CSV: ["csv"] },
};

/** Asks where to save an export and writes it atomically (temporary name in the target folder, then rename). */
export async function saveExport(m: Extract<FromWebview, { type: "export" }>, near: string | undefined): Promise<string | undefined> {
  const base = near ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const target = await vscode.window.showSaveDialog({
    title: `Export ${m.format.toUpperCase()}`,
    filters: FILTERS[m.format]!,
    ...(base ? { defaultUri: vscode.Uri.file(path.join(base, m.suggestedName)) } : {}),
  });
  if (!target) return undefined;
  const file = target.fsPath;
  const data = m.format === "png" ? Buffer.from(m.data, "base64") : Buffer.from(m.data, "utf8");
  const tmp = path.join(path.dirname(file), `.headshare-tmp-${process.pid}-${Date.now()}-${path.basename(file)}`);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  return file;
}
