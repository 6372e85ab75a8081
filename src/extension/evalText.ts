/**
 * The one "which text" rule of every command that scores a model (Compress's report, Quick Eval, the
 * map's quick eval, Sweep), stated in the UI by `TEXT_RULE`:
 *   1. a text the user picks (command option, "Score another text…", a file dialog);
 *   2. else the model's own held-out text: a .txt file in the model folder named in its model card
 *      (MODEL_CARD.md or README.md), e.g. the demo model's heldout-brown.txt;
 *   3. else the `headshare.eval.text` setting;
 *   4. else nothing: the caller offers a text in one click.
 * And the protocol: `headshare.eval.documentSeparator` when set and the text holds it; else, when the text holds a known
 * document separator (<|endoftext|>, …), an interactive command asks whether to score per document and
 * a report offers it with a button.
 */
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import type { EvalText as EvalTextRef } from "../protocol/webview";
import { ExtensionError } from "./errors";
import type { Session } from "./session";

export const TEXT_RULE =
  "Text scored: the one you pick; else the model's held-out text (a .txt file in its folder named in MODEL_CARD.md or README.md); else the headshare.eval.text setting; else you are asked.";

/** A text to score, with the protocol decided. */
export interface EvalText extends Readonly<Pick<EvalTextRef, "label" | "source">> {
  readonly file: string;
  /** Score each document split at this string; undefined: consecutive stream windows. */
  readonly separator: string | undefined;
  /** A separator the text holds although it is scored as a stream (the report offers per-document scoring). */
  readonly hint: { separator: string; occurrences: number } | null;
  /** Removes a temporary file made for it. */
  cleanup(): Promise<void>;
}

/** How the caller wants the text chosen: follow the rule without asking, show the pick, or go straight to a file dialog / the editor. */
export type TextMode = "auto" | "ask" | "choose" | "editor";

/** Separators that mark document boundaries in common corpora, most specific first. */
export const KNOWN_SEPARATORS = ["<|endoftext|>", "<|end_of_text|>", "</s>"] as const;

const CARD = /^(model_card|modelcard|readme)\.md$/i;
const TEXT_FILE = /\.(txt|text)$/i;
const MAX_CARD_BYTES = 1 << 20;
const MAX_SCAN_BYTES = 256 << 20;

/** The model folder of a checkpoint path (a folder, or the folder holding a weights file). */
async function folderOf(model: string): Promise<string> {
  return (await fs.stat(model)).isDirectory() ? model : path.dirname(model);
}

/** The model's own held-out text: a .txt file in its folder that its model card names. */
export async function modelCardText(model: string): Promise<{ file: string; card: string } | undefined> {
  const dir = await folderOf(model).catch(() => undefined);
  if (!dir) return undefined;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const cards = names.filter((n) => CARD.test(n)).sort((a, b) => Number(/readme/i.test(a)) - Number(/readme/i.test(b)));
  // Held-out / validation / test files first when a card names several.
  const texts = names
    .filter((n) => TEXT_FILE.test(n))
    .sort((a, b) => Number(!/held|valid|test|eval/i.test(a)) - Number(!/held|valid|test|eval/i.test(b)) || a.localeCompare(b));
  for (const card of cards) {
    const fh = await fs.open(path.join(dir, card), "r").catch(() => undefined);
    if (!fh) continue;
    try {
      const buf = Buffer.alloc(MAX_CARD_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const text = buf.subarray(0, bytesRead).toString("utf8");
      const named = texts.find((t) => text.includes(t));
      if (named) return { file: path.join(dir, named), card };
    } finally {
      await fh.close();
    }
  }
  return undefined;
}

/** The most frequent known separator in a text file (at least two occurrences), or null. */
export async function findSeparator(file: string): Promise<{ separator: string; occurrences: number } | null> {
  const fh = await fs.open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.min(size, MAX_SCAN_BYTES));
    await fh.read(buf, 0, buf.length, 0);
    const text = buf.toString("utf8");
    let best: { separator: string; occurrences: number } | null = null;
    for (const sep of KNOWN_SEPARATORS) {
      let n = 0;
      for (let i = text.indexOf(sep); i >= 0; i = text.indexOf(sep, i + sep.length)) n++;
      if (n >= 2 && (!best || n > best.occurrences)) best = { separator: sep, occurrences: n };
    }
    return best;
  } finally {
    await fh.close();
  }
}

/** Whether the text file holds `separator` (within the first 256 MiB). */
async function holds(file: string, separator: string): Promise<boolean> {
  const fh = await fs.open(file, "r");
  try {
    const buf = Buffer.alloc(Math.min((await fh.stat()).size, MAX_SCAN_BYTES));
    await fh.read(buf, 0, buf.length, 0);
    return buf.includes(Buffer.from(separator, "utf8"));
  } finally {
    await fh.close();
  }
}

/** The display shape of a text (src/protocol/webview.ts EvalText). */
export function textRef(t: EvalText): EvalTextRef {
  return { path: t.file, label: t.label, source: t.source };
}

/** "documents" or "stream", for titles. */
export function protocolWord(t: Pick<EvalText, "separator">): "documents" | "stream" {
  return t.separator ? "documents" : "stream";
}

interface RawText {
  file: string;
  label: string;
  source: string;
  cleanup(): Promise<void>;
}

async function tempText(session: Session, text: string, label: string, source: string): Promise<RawText> {
  const base = path.join(session.context.globalStorageUri.fsPath, "tmp");
  await fs.mkdir(base, { recursive: true });
  const dir = await fs.mkdtemp(path.join(base, "text-"));
  const file = path.join(dir, "text.txt");
  await fs.writeFile(file, text, "utf8");
  return { file, label, source, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

const keep = async (): Promise<void> => undefined;

/** A text file given by path (command option, setting): checked readable, else an error naming it. */
async function givenFile(file: string, source: string): Promise<RawText> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st?.isFile()) throw new ExtensionError("no-text", `${file} (${source}) cannot be read as a text file; fix the path or choose another text`);
  return { file, label: path.basename(file), source, cleanup: keep };
}

async function chooseFile(): Promise<RawText | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: "Score this text",
    title: "Headshare: a UTF-8 text file to score",
    filters: { Text: ["txt", "md", "json", "jsonl", "csv"], All: ["*"] },
  });
  return picked?.[0] ? { file: picked[0].fsPath, label: path.basename(picked[0].fsPath), source: "chosen by you", cleanup: keep } : undefined;
}

async function fromEditor(session: Session): Promise<RawText | undefined> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor || !editor.document.getText().trim())
    throw new ExtensionError("no-text", "there is no text editor with text open; open the text to score, or choose a file");
  const name = path.basename(editor.document.fileName);
  if (!editor.selection.isEmpty) return tempText(session, editor.document.getText(editor.selection), `selection in ${name}`, "the editor's selection");
  return editor.document.uri.scheme === "file" && !editor.document.isDirty
    ? { file: editor.document.uri.fsPath, label: name, source: "the active editor", cleanup: keep }
    : tempText(session, editor.document.getText(), name, "the active editor");
}

/** The text the rule picks without asking (model card, then the setting), or undefined. */
export async function ruleText(session: Session, model: string): Promise<RawText | undefined> {
  const card = await modelCardText(model);
  if (card) return { file: card.file, label: path.basename(card.file), source: `named in ${card.card}`, cleanup: keep };
  const s = session.settings.evalText;
  if (s) return givenFile(s, "headshare.eval.text");
  return undefined;
}

/**
 * The text a command (Quick Eval, Sweep) scores: its `text` option without asking, else the rule's
 * pick or the question; interactive unless the command runs without a report (automation).
 */
export function commandEvalText(
  session: Session,
  model: string,
  o: { readonly text?: string; readonly separator?: string | null; readonly noReport?: boolean },
): Promise<EvalText | undefined> {
  return resolveEvalText(session, model, o.text ? "auto" : "ask", {
    ...(o.text ? { file: o.text } : {}),
    ...(o.separator !== undefined ? { separator: o.separator } : {}),
    interactive: !o.noReport,
  });
}

/**
 * The text to score for `model`, by the rule, with the protocol decided (`separator`: null forces
 * stream windows, a string forces documents; undefined follows the setting, then asks when `interactive`).
 * Undefined when the user backs out, or in "auto" mode when the rule finds nothing.
 */
export async function resolveEvalText(
  session: Session,
  model: string,
  mode: TextMode,
  o: { file?: string; fileSource?: string; separator?: string | null; interactive?: boolean } = {},
): Promise<EvalText | undefined> {
  let raw: RawText | undefined;
  if (o.file) raw = await givenFile(path.resolve(o.file), o.fileSource ?? "given");
  else if (mode === "choose") raw = await chooseFile();
  else if (mode === "editor") raw = await fromEditor(session);
  else if (mode === "auto") raw = await ruleText(session, model);
  else raw = await askText(session, model);
  if (!raw) return undefined;
  try {
    const decided = await decideSeparator(session, raw, o.separator, o.interactive ?? mode !== "auto");
    if (decided === "cancelled") {
      await raw.cleanup();
      return undefined;
    }
    return { ...raw, ...decided };
  } catch (e) {
    await raw.cleanup();
    throw e;
  }
}

async function askText(session: Session, model: string): Promise<RawText | undefined> {
  type Choice = vscode.QuickPickItem & { get: () => Promise<RawText | undefined> };
  const choices: Choice[] = [];
  const rule = await ruleText(session, model).catch(() => undefined);
  if (rule) choices.push({ label: `$(check) ${rule.label}`, description: rule.source, detail: rule.file, get: async () => rule });
  const editor = vscode.window.activeTextEditor;
  if (editor && editor.document.getText().trim()) {
    const name = path.basename(editor.document.fileName);
    choices.push({
      label: editor.selection.isEmpty ? `$(file) ${name}` : `$(selection) Selection in ${name}`,
      description: "the active editor",
      get: () => fromEditor(session),
    });
  }
  choices.push({ label: "$(folder-opened) Choose a text file…", get: chooseFile });
  const pick = await vscode.window.showQuickPick(choices, { title: "Headshare: which text to score?", placeHolder: TEXT_RULE });
  return pick?.get();
}

async function decideSeparator(
  session: Session,
  raw: RawText,
  given: string | null | undefined,
  interactive: boolean,
): Promise<Pick<EvalText, "separator" | "hint"> | "cancelled"> {
  if (given === null) return { separator: undefined, hint: await findSeparator(raw.file).catch(() => null) };
  if (given !== undefined) return { separator: given, hint: null };
  const setting = session.settings.evalDocumentSeparator;
  // A separator the text does not hold would make it one "document" cut at the window: stream windows then.
  if (setting) return (await holds(raw.file, setting)) ? { separator: setting, hint: null } : { separator: undefined, hint: null };
  const found = await findSeparator(raw.file).catch(() => null);
  if (!found) return { separator: undefined, hint: null };
  if (!interactive) return { separator: undefined, hint: found };
  const pick = await vscode.window.showQuickPick(
    [
      {
        label: `$(list-flat) Score each document on its own`,
        description: `split at ${found.separator} (${found.occurrences} separators) — how such corpora are usually scored`,
        v: "documents" as const,
      },
      {
        label: "$(list-unordered) Score as one stream of windows",
        description: "documents run into each other; perplexity is usually higher",
        v: "stream" as const,
      },
      { label: `$(gear) Always split at ${found.separator}`, description: "sets headshare.eval.documentSeparator", v: "always" as const },
    ],
    {
      title: `Headshare: ${raw.label} holds ${found.occurrences} × ${found.separator}`,
      placeHolder: "headshare.eval.documentSeparator is not set: how should this text be scored?",
    },
  );
  if (!pick) return "cancelled";
  if (pick.v === "always")
    await vscode.workspace.getConfiguration("headshare").update("eval.documentSeparator", found.separator, vscode.ConfigurationTarget.Global);
  return pick.v === "stream" ? { separator: undefined, hint: found } : { separator: found.separator, hint: null };
}
