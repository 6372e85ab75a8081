/**
 * Keeps the context key `headshare.modelFolders` (folders holding config.json and safetensors weights)
 * current, so the explorer menu offers the Headshare commands on model folders only.
 */
import path from "node:path";
import * as vscode from "vscode";
import type { Log } from "./log";

const MAX = 2000;

let current: readonly string[] = [];
/** The model folders found in the workspace (the palette offers them when no explorer item was given). */
export function workspaceModelFolders(): readonly string[] {
  return current;
}

export function trackModelFolders(log: Log): vscode.Disposable {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = async () => {
    const weights = await vscode.workspace.findFiles("**/*.{safetensors,safetensors.index.json}", "**/node_modules/**", MAX);
    const configs = new Set((await vscode.workspace.findFiles("**/config.json", "**/node_modules/**", MAX)).map((u) => path.dirname(u.fsPath)));
    const folders = [...new Set(weights.map((u) => path.dirname(u.fsPath)))].filter((d) => configs.has(d));
    current = folders.sort();
    await vscode.commands.executeCommand("setContext", "headshare.modelFolders", folders);
    log.debug(`model folders in the workspace: ${folders.length}`);
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void refresh().catch((e) => log.warn(`could not list model folders: ${String(e)}`)), 500);
  };
  const watcher = vscode.workspace.createFileSystemWatcher("**/{config.json,*.safetensors,*.safetensors.index.json}");
  watcher.onDidCreate(schedule);
  watcher.onDidDelete(schedule);
  const folders = vscode.workspace.onDidChangeWorkspaceFolders(schedule);
  schedule();
  return {
    dispose: () => {
      if (timer) clearTimeout(timer);
      watcher.dispose();
      folders.dispose();
    },
  };
}
