/**
 * Headshare: Quick Eval — original vs shared on a text chosen by the one rule (src/extension/evalText.ts).
 * "Shared" is either a compressed checkpoint the user picks, or the original shared at a ratio on the
 * fly in memory (nothing written; the open map's ratio is offered first). The result opens as a
 * report whose title names model, ratio, text and protocol; it can score another text in place.
 */
import * as vscode from "vscode";
import type { EvalSummary, SimilarityGrid } from "../../protocol/webview";
import { maxRatioOf, openCheckpoint, parseRatio } from "../checkInput";
import { ExtensionError } from "../errors";
import { evalAgainst, evalAtRatio, resultTitle } from "../evalRun";
import { commandEvalText } from "../evalText";
import { withJobNotification } from "../runningJobs";
import { emptyReport, evalSizes, modelRef } from "../displayShapes";
import { checkModelPath, pickModel } from "../modelPick";
import { MapPanel } from "../panels/mapPanel";
import { ReportPanel } from "../panels/reportPanel";
import type { Evaluator } from "../panels/reportPanel";
import type { Session } from "../session";
import { requireTrust } from "../trust";

export interface QuickEvalOptions {
  /** Ratio to share the original at (in memory). */
  readonly ratio?: number;
  /** A compressed checkpoint to compare instead. */
  readonly shared?: string;
  /** A text file to score (else the rule: the model's held-out text, headshare.eval.text, or ask). */
  readonly text?: string;
  /** Score per document split at this string (null: as one stream; absent: the setting, else ask when the text holds a separator). */
  readonly separator?: string | null;
  readonly noReport?: boolean;
}

export async function quickEvalCommand(session: Session, uri: vscode.Uri | undefined, o: QuickEvalOptions = {}): Promise<EvalSummary | undefined> {
  await requireTrust("Quick Eval");
  const active = MapPanel.active;
  const model = await pickModel(uri, active?.model, "Quick Eval: which original checkpoint?");
  if (!model) return undefined;
  // Open the checkpoint and check its tokenizer before asking anything.
  const facts = await openCheckpoint(session, model, { what: "Quick Eval", tokenizer: true });
  const s = session.settings;
  const max = maxRatioOf(facts.layers!);
  let shared = o.shared;
  let ratio = o.ratio;
  if (ratio !== undefined) {
    const r = parseRatio(String(ratio), max);
    if (typeof r === "string") throw new ExtensionError("bad-input", `ratio ${ratio}: ${r}`);
  }
  const map = MapPanel.find(model);
  if (shared === undefined && ratio === undefined) {
    const offered = Math.min(max, map?.currentRatio ?? s.defaultRatio);
    const pick = await vscode.window.showQuickPick(
      [
        {
          label: `$(zap) Share at ${Math.round(offered * 100)}% now`,
          description: map
            ? "the sharing map's ratio: DirectShare applied in memory (nothing written), compare"
            : "headshare.defaultRatio: DirectShare applied in memory (nothing written), compare",
          v: "ratio",
        },
        { label: "$(edit) Share at another ratio…", description: `0 to ${Math.round(max * 100)}% for this model`, v: "other" },
        { label: "$(folder-opened) A compressed checkpoint…", description: "compare against an output of Compress", v: "pick" },
      ],
      { title: `Quick Eval: compare ${modelRef(model).name} with…` },
    );
    if (!pick) return undefined;
    if (pick.v === "ratio") ratio = offered;
    else if (pick.v === "other") {
      const t = await vscode.window.showInputBox({
        title: "Quick Eval: sharing ratio",
        prompt: `0 to ${Math.round(max * 100)}% for this model (layer 0 is never shared). 0.3 or 30%.`,
        value: `${Math.round(offered * 100)}%`,
        validateInput: (v) => {
          const r = parseRatio(v, max);
          return typeof r === "string" ? r : undefined;
        },
      });
      if (t === undefined) return undefined;
      const r = parseRatio(t, max);
      if (typeof r === "string") throw new ExtensionError("bad-input", r);
      ratio = r;
    } else {
      const p = await vscode.window.showOpenDialog({
        title: "The shared checkpoint",
        canSelectFiles: true,
        canSelectFolders: true,
        openLabel: "Compare with this",
      });
      if (!p?.[0]) return undefined;
      shared = p[0].fsPath;
    }
  }
  if (shared) {
    shared = await checkModelPath(shared);
    await openCheckpoint(session, shared, { what: "Quick Eval (the shared checkpoint)" });
  }
  const text = await commandEvalText(session, model, o);
  if (!text) return undefined;
  const name = modelRef(model).name;
  // The same comparison for the first text and for any other the report is asked to score.
  const run: Evaluator = async (job, t) => {
    if (shared) return evalAgainst(session, job, model, shared, null, t, undefined, !o.noReport);
    const { table } = await session.matchTable(job, model, s.strategy, s.granularity);
    const { attention, ...ev } = await evalAtRatio(session, job, model, table, ratio!, t, undefined, !o.noReport);
    return { summary: ev, attention: attention ?? null };
  };
  let sizes: ReturnType<typeof evalSizes> = { parameters: null, bytes: null };
  let attention: SimilarityGrid | null = null;
  try {
    const ev = await withJobNotification(
      session.jobs,
      resultTitle("Headshare: quick eval", model, ratio ?? null, text),
      `quick eval ${name}${ratio !== undefined ? ` @${Math.round(ratio * 100)}%` : ""}`,
      async (job) => {
        const r = await run(job, text, () => undefined);
        attention = r.attention;
        if ("result" in r) sizes = evalSizes((r as { result: Parameters<typeof evalSizes>[0] }).result);
        return r.summary;
      },
    );
    session.log.info(
      `quick eval ${model} vs ${shared ?? `shared at ${ratio}`}: ppl ${ev.original.ppl.toFixed(4)} → ${ev.shared.ppl.toFixed(4)} (${ev.tokens} tokens of ${text.file}, ${ev.protocol})`,
    );
    if (!o.noReport) {
      const report = {
        ...emptyReport({ model: modelRef(model), method: "directshare" as const, ratio: ratio ?? 0, strategy: s.strategy, granularity: s.granularity }),
        kind: "quickEval" as const,
        output: shared ?? null,
        provider: ev.provider,
        eval: ev,
        ...sizes,
        attentionSimilarity: attention,
      };
      await ReportPanel.show(session, report, resultTitle("Quick eval", model, ratio ?? null, text), { evaluate: run });
    }
    return ev;
  } finally {
    await text.cleanup();
  }
}
