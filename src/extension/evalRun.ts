/**
 * Scoring plumbing shared by Compress's report, Quick Eval, the sharing map and Sweep: the protocol
 * params of a text (window setting, per-document separator), the eval of original vs a shared folder
 * with the text recorded in the result, "original vs shared at ratio α" (DirectShare into a temporary
 * folder in global storage with the cached match table, eval, the folder removed whatever happens), and
 * the titles that name model, ratio, text and protocol.
 */
import type { MatchTable } from "../core/share/types";
import type { EvalSummary, SimilarityGrid } from "../protocol/webview";
import type { Job } from "./runningJobs";
import { attentionGrid, evalSummary, modelRef } from "./displayShapes";
import type { JobResult } from "../protocol/worker";
import type { Session } from "./session";
import { protocolWord, textRef } from "./evalText";
import type { EvalText } from "./evalText";

export type { EvalText } from "./evalText";

/** The settings' options of an eval/sweep request for this text (window, documents split, memory budget). */
export function textParams(session: Session, text: EvalText): { window?: number; documentsSeparator?: string; memoryBudgetGiB?: number } {
  const s = session.settings;
  return {
    ...(s.evalWindow > 0 ? { window: s.evalWindow } : {}),
    ...(text.separator ? { documentsSeparator: text.separator } : {}),
    ...(s.evalMemoryBudgetGiB > 0 ? { memoryBudgetGiB: s.evalMemoryBudgetGiB } : {}),
  };
}

/** "stories260K-hf @30% · tinystories-valid-excerpt.txt (documents)": what every result's title names. */
export function resultTitle(kind: string, model: string, ratio: number | null, text: Pick<EvalText, "label" | "separator"> | null): string {
  return `${kind}: ${modelRef(model).name}${ratio !== null ? ` @${Math.round(ratio * 100)}%` : ""}${text ? ` · ${text.label} (${protocolWord(text)})` : ""}`;
}

/** An eval result as the views show it, with the text and its protocol recorded. */
export function scoredSummary(r: JobResult<"headshare/eval">, ratio: number | null, seconds: number | null, text: EvalText): EvalSummary {
  return { ...evalSummary(r, ratio, seconds), text: textRef(text), protocolKind: r.protocol.kind, separatorHint: text.separator ? null : text.hint };
}

/** Original (`model`) vs a shared checkpoint (`shared`) on `text`; `attention` also measures the original's attention-map similarity. */
export async function evalAgainst(
  session: Session,
  job: Job,
  model: string,
  shared: string,
  ratio: number | null,
  text: EvalText,
  onPhase?: (message: string, fraction: number | null) => void,
  attention = false,
): Promise<{ summary: EvalSummary; attention: SimilarityGrid | null; result: JobResult<"headshare/eval"> }> {
  onPhase?.(`Scoring ${text.label}`, 0);
  const t0 = Date.now();
  const r = await session.request(job, "headshare/eval", { model, compare: shared, text: text.file, attention, ...textParams(session, text) }, (p) =>
    onPhase?.(`Scoring ${text.label}`, p.total > 0 ? p.done / p.total : null),
  );
  return { summary: scoredSummary(r, ratio, (Date.now() - t0) / 1000, text), attention: attention ? attentionGrid(r) : null, result: r };
}

/**
 * Original vs shared at `ratio`: one eval job that applies the plan while the weights are read (nothing
 * is written; a 7B model runs one layer at a time within the memory budget). `attention` also measures
 * the original's attention-map similarity.
 */
export async function evalAtRatio(
  session: Session,
  job: Job,
  model: string,
  table: MatchTable,
  ratio: number,
  text: EvalText,
  onPhase?: (message: string, fraction: number | null) => void,
  attention = false,
): Promise<EvalSummary & { attention?: SimilarityGrid | null }> {
  onPhase?.(`Scoring ${text.label} (original vs shared at ${Math.round(ratio * 100)}%, in memory)`, 0);
  const t0 = Date.now();
  const r = await session.request(
    job,
    "headshare/eval",
    {
      model,
      ratio,
      strategy: table.strategy,
      granularity: table.granularity,
      table,
      text: text.file,
      attention,
      ...textParams(session, text),
    },
    (p) => onPhase?.(p.message ?? `Scoring ${text.label}`, p.total > 0 ? p.done / p.total : null),
  );
  const summary = scoredSummary(r, ratio, (Date.now() - t0) / 1000, text);
  return attention ? { ...summary, attention: attentionGrid(r) } : summary;
}
