/**
 * Quick eval plumbing shared by the command and the sharing-map panel: which text to score (the
 * setting, the active editor's selection or document, or a chosen file) and "original vs shared at
 * ratio α" (one eval job with the cached match table; the plan is applied in memory, nothing is written).
 */
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import type { MatchTable } from "../core/share/types";
import type { EvalSummary, SimilarityGrid } from "../protocol/webview";
import { ExtensionError } from "./errors";
import type { Job } from "./jobs";
import { attentionGrid, evalSummary } from "./mapping";
import type { JobParams } from "../protocol/worker";
import type { Session } from "./session";

export interface EvalText {
  readonly file: string;
  /** What it is, for messages ("selection in notes.md (1,204 chars)"). */
  readonly label: string;
  /** Removes a temporary file made for it. */
  cleanup(): Promise<void>;
}

async function tempDir(session: Session, prefix: string): Promise<string> {
  const base = path.join(session.context.globalStorageUri.fsPath, "tmp");
  await fs.mkdir(base, { recursive: true });
  return fs.mkdtemp(path.join(base, prefix));
}

/** The text to score. `prefer`: "ask" shows a pick of what is available. */
export async function resolveEvalText(session: Session, prefer: "auto" | "ask"): Promise<EvalText | undefined> {
  const s = session.settings;
  const editor = vscode.window.activeTextEditor;
  type Choice = { label: string; description?: string; get: () => Promise<EvalText | undefined> };
  const fromString = async (text: string, label: string): Promise<EvalText> => {
    const dir = await tempDir(session, "text-");
    const file = path.join(dir, "text.txt");
    await fs.writeFile(file, text, "utf8");
    return { file, label, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
  };
  const choices: Choice[] = [];
  if (editor && !editor.selection.isEmpty) {
    const text = editor.document.getText(editor.selection);
    choices.push({ label: "$(selection) Selection", description: `${text.length} characters of ${path.basename(editor.document.fileName)}`, get: () => fromString(text, `selection in ${path.basename(editor.document.fileName)}`) });
  }
  if (editor && editor.document.getText().trim()) {
    const doc = editor.document;
    choices.push({ label: "$(file) Active editor", description: path.basename(doc.fileName), get: () => fromString(doc.getText(), path.basename(doc.fileName)) });
  }
  if (s.evalText) {
    choices.push({ label: "$(gear) Eval text from settings", description: s.evalText, get: async () => {
      try { await fs.access(s.evalText); } catch { throw new ExtensionError("no-text", `headshare.eval.text points at ${s.evalText}, which cannot be read; fix the setting or choose a file`); }
      return { file: s.evalText, label: path.basename(s.evalText), cleanup: async () => undefined };
    } });
  }
  choices.push({ label: "$(folder-opened) Choose a text file…", get: async () => {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: "Score this text", filters: { Text: ["txt", "md", "json", "jsonl", "csv"], All: ["*"] } });
    return picked?.[0] ? { file: picked[0].fsPath, label: path.basename(picked[0].fsPath), cleanup: async () => undefined } : undefined;
  } });
  if (prefer === "auto") {
    // The setting wins (reproducible numbers), then a selection, then the editor, else ask.
    const auto = choices.find((c) => c.label.includes("settings")) ?? (choices.length > 1 ? choices[0] : undefined);
    if (auto) return auto.get();
  }
  const pick = await vscode.window.showQuickPick(choices, { title: "Headshare: which text to score?", placeHolder: "Perplexity of the original and shared models on…" });
  return pick?.get();
}

/**
 * Original vs shared at `ratio`: one eval job that applies the plan while the weights are read
 * (nothing is written; a 7B model runs one layer at a time within the memory budget).
 * `attention` also measures the original's attention-map similarity.
 */
export async function evalAtRatio(session: Session, job: Job, model: string, table: MatchTable, ratio: number, text: EvalText,
  onPhase?: (message: string, fraction: number | null) => void, attention = false): Promise<EvalSummary & { attention?: SimilarityGrid | null }> {
  const s = session.settings;
  onPhase?.(`Scoring ${text.label} (original vs shared at ${Math.round(ratio * 100)}%, in memory)`, 0);
  const t0 = Date.now();
  const r = await session.request(job, "headshare/eval", {
    model, ratio, strategy: table.strategy, granularity: table.granularity, table: table as ShareTable, text: text.file, attention,
    ...(s.evalWindow > 0 ? { window: s.evalWindow } : {}), ...(s.evalMemoryBudgetGiB > 0 ? { memoryBudgetGiB: s.evalMemoryBudgetGiB } : {}),
    ...(s.evalDocumentSeparator ? { documentsSeparator: s.evalDocumentSeparator } : {}),
  }, (p) => onPhase?.(p.message ?? `Scoring ${text.label}`, p.total > 0 ? p.done / p.total : null));
  return attention ? { ...evalSummary(r, ratio, (Date.now() - t0) / 1000), attention: attentionGrid(r) } : evalSummary(r, ratio, (Date.now() - t0) / 1000);
}

/** The protocol's (mutable) table type; the core's readonly MatchTable is the same data. */
type ShareTable = JobParams<"headshare/share">["table"];
