/**
 * Which checkpoint a command acts on (the one "which model" rule, stated in the pick's placeholder):
 * the explorer item the command was run on; from the palette, a pick with the active sharing map's
 * model first, then the workspace's model folders, then "Choose a checkpoint…" (always a way to pick
 * another). Output-folder rules live here too (pure functions).
 */
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import { ExtensionError } from "./errors";
import { workspaceModelFolders } from "./modelFolders";

export const MODEL_RULE = "Model: the explorer item you right-clicked; from the palette, the open sharing map's model first, or any other.";
export { defaultOutput, outputProblem } from "./outputPath";

/** The model folder of a checkpoint path (a folder, or the folder holding a weights file). */
export async function modelDir(model: string): Promise<string> {
  const st = await fs.stat(model);
  return st.isDirectory() ? model : path.dirname(model);
}

/** Checks a path the user gave as a model; returns it (absolute) or throws ExtensionError naming what is wrong. */
export async function checkModelPath(p: string): Promise<string> {
  const abs = path.resolve(p);
  let st;
  try {
    st = await fs.stat(abs);
  } catch {
    throw new ExtensionError("not-a-model", `${abs} does not exist; choose a .safetensors file or a model folder with config.json`);
  }
  if (st.isDirectory()) {
    const names = await fs.readdir(abs);
    if (!names.includes("config.json") && !names.some((n) => n.endsWith(".safetensors"))) {
      throw new ExtensionError("not-a-model", `${abs} holds neither config.json nor .safetensors weights; choose a Hugging Face model folder`);
    }
    return abs;
  }
  if (!abs.endsWith(".safetensors") && !abs.endsWith(".safetensors.index.json")) {
    throw new ExtensionError("not-a-model", `${abs} is not a .safetensors file; choose a .safetensors file or a model folder`);
  }
  return abs;
}

export async function pickModel(uri: vscode.Uri | undefined, fallback: string | undefined, title: string): Promise<string | undefined> {
  if (uri instanceof vscode.Uri && uri.scheme === "file") return checkModelPath(uri.fsPath);
  if (typeof uri === "string") return checkModelPath(uri);
  const others = workspaceModelFolders().filter((f) => f !== fallback);
  if (fallback || others.length) {
    type Item = vscode.QuickPickItem & { path?: string };
    const items: Item[] = [
      ...(fallback ? [{ label: `$(graph) ${path.basename(fallback)}`, description: "the open sharing map's model", detail: fallback, path: fallback }] : []),
      ...others.map((f) => ({ label: `$(folder) ${path.basename(f)}`, description: vscode.workspace.asRelativePath(f), path: f })),
      { label: "$(folder-opened) Choose a checkpoint…", description: "a .safetensors file or a model folder anywhere" },
    ];
    const pick = await vscode.window.showQuickPick(items, { title, placeHolder: MODEL_RULE });
    if (!pick) return undefined;
    if (pick.path) return checkModelPath(pick.path);
  }
  const picked = await vscode.window.showOpenDialog({
    title,
    canSelectFiles: true,
    canSelectFolders: true,
    canSelectMany: false,
    openLabel: "Use this checkpoint",
    filters: { Safetensors: ["safetensors"], "All files": ["*"] },
  });
  return picked?.[0] ? checkModelPath(picked[0].fsPath) : undefined;
}

/** True when the folder exists and holds something. */
export async function nonEmpty(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length > 0;
  } catch {
    return false;
  }
}

/** Asks for PostShare's training text file(s) (Compress and Export PostShare Job); undefined when cancelled. */
export async function pickTrainingTexts(title: string): Promise<string[] | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title,
    canSelectMany: true,
    openLabel: "Train on these",
    filters: { Text: ["txt", "md", "jsonl"], All: ["*"] },
  });
  return picked?.length ? picked.map((u) => u.fsPath) : undefined;
}
