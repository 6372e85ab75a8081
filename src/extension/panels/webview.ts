/**
 * The host end of the webview boundary: options (scripts on, resources only from dist/ and media/),
 * the page, the RPC connection (the project's Rpc class: validated both ways, error replies,
 * cancellation), and export saving (save dialog, atomic write). Every panel and the custom editor use this.
 */
import path from "node:path";
import * as vscode from "vscode";
import { writeFileAtomic } from "../../core/output/atomic";
import { Rpc } from "../../protocol/rpc";
import { hostSide, webviewSide } from "../../protocol/webview";
import type { ExportParams, HostSide, WebviewSide } from "../../protocol/webview";
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

/** The host end of one webview's RPC (src/protocol/webview.ts): register handlers on `rpc`, dispose with the panel. */
export interface WebviewConnection extends vscode.Disposable {
  readonly rpc: Rpc<HostSide, WebviewSide>;
}

export function connectWebview(webview: vscode.Webview, log: Log, name: string): WebviewConnection {
  const rpc = new Rpc(
    hostSide,
    webviewSide,
    {
      send: (m) => {
        void webview.postMessage(m).then(undefined, (e: unknown) => log.debug(`${name}: post failed: ${String(e)}`));
      },
    },
    { name, log: (level, message) => log[level](`${name}: ${message}`) },
  );
  const sub = webview.onDidReceiveMessage((m: unknown) => rpc.receive(m));
  return {
    rpc,
    dispose: () => {
      sub.dispose();
      rpc.dispose();
    },
  };
}

const FILTERS: Record<string, Record<string, string[]>> = {
  svg: { "SVG image": ["svg"] },
  png: { "PNG image": ["png"] },
  json: { JSON: ["json"] },
  csv: { CSV: ["csv"] },
};

/** Asks where to save an export and writes it atomically (temporary name in the target folder, then rename). */
export async function saveExport(m: ExportParams, near: string | undefined): Promise<string | undefined> {
  const base = near ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const target = await vscode.window.showSaveDialog({
    title: `Export ${m.format.toUpperCase()}`,
    filters: FILTERS[m.format]!,
    ...(base ? { defaultUri: vscode.Uri.file(path.join(base, m.suggestedName)) } : {}),
  });
  if (!target) return undefined;
  const file = target.fsPath;
  const data = m.format === "png" ? Buffer.from(m.data, "base64") : Buffer.from(m.data, "utf8");
  await writeFileAtomic(file, data);
  // Where it went, with the two things people do next.
  void vscode.window.showInformationMessage(`Headshare: saved ${path.basename(file)} in ${path.dirname(file)}`, "Open", "Reveal").then((a) => {
    const uri = vscode.Uri.file(file);
    if (a === "Open") void vscode.commands.executeCommand("vscode.open", uri);
    else if (a === "Reveal") void vscode.commands.executeCommand(vscode.workspace.getWorkspaceFolder(uri) ? "revealInExplorer" : "revealFileInOS", uri);
  });
  return file;
}
