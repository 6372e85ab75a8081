/** Headshare: Inspect Checkpoint — the read-only inspect editor for a .safetensors file, a panel for a model folder. */
import fs from "node:fs/promises";
import * as vscode from "vscode";
import { pickModel } from "../modelPick";
import { INSPECT_EDITOR_VIEW_TYPE, showInspectPanel } from "../panels/inspectEditor";
import type { Session } from "../session";

export async function inspectCommand(session: Session, uri: vscode.Uri | undefined): Promise<void> {
  const fromEditor = vscode.window.activeTextEditor?.document.uri;
  const model = (await pickModel(uri, undefined, "Inspect which checkpoint?")) ?? (fromEditor?.fsPath.endsWith(".safetensors") ? fromEditor.fsPath : undefined);
  if (!model) return;
  if ((await fs.stat(model)).isDirectory()) showInspectPanel(session, model);
  else await vscode.commands.executeCommand("vscode.openWith", vscode.Uri.file(model), INSPECT_EDITOR_VIEW_TYPE);
}
