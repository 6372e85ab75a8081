/**
 * Headshare: Compress Checkpoint… — DirectShare or PostShare at a ratio, strategy and format, into an
 * output folder (default beside the input, never over it), with a cancellable progress notification;
 * the report opens on success. With `out` and `ratio` given (the command API, tests) it asks nothing.
 */
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import type { Granularity } from "../../core/model/types";
import type { MatchTable, Strategy } from "../../core/share/types";
import type { Report } from "../../protocol/webview";
import { openCheckpoint, maxRatioOf, parseRatio, requireTokenizer } from "../checkInput";
import type { CheckpointFacts } from "../checkInput";
import { ExtensionError, isCancel, messageOf } from "../errors";
import { evalAgainst, resultTitle } from "../evalRun";
import { resolveEvalText } from "../evalText";
import { withJobNotification } from "../runningJobs";
import { emptyReport, modelRef, postShareSummary } from "../displayShapes";
import { defaultOutput, modelDir, nonEmpty, outputProblem, pickModel, pickTrainingTexts } from "../modelPick";
import { MapPanel } from "../panels/mapPanel";
import { ReportPanel } from "../panels/reportPanel";
import type { Evaluator } from "../panels/reportPanel";
import { exportPostShareJobCommand } from "./postshareJob";
import type { Session } from "../session";
import { lockChoice } from "../outputLock";
import { requireTrust } from "../trust";

export interface CompressOptions {
  readonly method?: "directshare" | "postshare";
  readonly ratio?: number;
  readonly strategy?: Strategy;
  readonly granularity?: Granularity;
  readonly format?: "compact" | "dense";
  /** Absolute output folder. */
  readonly out?: string;
  /** Replace a non-empty output folder. */
  readonly force?: boolean;
  /** When another run holds the output folder's lock: wait for it (true) or be refused (false); undefined asks (interactive). */
  readonly wait?: boolean;
  /** PostShare training text files. */
  readonly text?: readonly string[];
  /** PostShare optimisation steps (default: the core's). */
  readonly steps?: number;
  /** PostShare training data: the text, sequences sampled from the original, or both (the core's default). */
  readonly trainOn?: "text" | "sampled" | "both";
  /**
   * Evaluate original vs output on the text the rule picks (the model's held-out text, else
   * headshare.eval.text): undefined = when there is one (the report offers a text otherwise), false =
   * not by itself (the report offers it), true = and wait for it before returning.
   */
  readonly evaluate?: boolean;
  /** Do not open the report panel (automation). */
  readonly noReport?: boolean;
}

export interface CompressOutcome {
  readonly out: string;
  readonly report: Report;
}

const STRATEGY_ITEMS: { label: Strategy; description: string }[] = [
  { label: "qk", description: "q and k projections (the paper's choice)" },
  { label: "q", description: "q projection only" },
  { label: "k", description: "k projection only" },
  { label: "v", description: "v projection only" },
  { label: "qkv", description: "q, k and v projections" },
];

/** The method pick's "Export PostShare Job…": Compress hands over to that command. */
const EXPORT_JOB = "postshare-job" as const;

/** Fills what the caller did not give by asking; undefined when the user backs out. `facts`: the opened checkpoint (asked about only after it opened). */
async function ask(
  session: Session,
  model: string,
  facts: CheckpointFacts,
  given: CompressOptions,
): Promise<
  typeof EXPORT_JOB | (Required<Omit<CompressOptions, "text" | "evaluate" | "noReport" | "steps" | "trainOn" | "wait">> & CompressOptions) | undefined
> {
  const s = session.settings;
  const interactive = given.out === undefined || given.ratio === undefined;
  const max = maxRatioOf(facts.layers!);
  const method =
    given.method ??
    (interactive
      ? (
          await vscode.window.showQuickPick(
            [
              { label: "DirectShare", description: "match heads, share the most similar, write — seconds", value: "directshare" as const },
              {
                label: "PostShare",
                description: "post-train toward the sharing, then share — needs training text, minutes or more",
                value: "postshare" as const,
              },
              {
                label: "PostShare: Export PostShare Job…",
                description: "write a PyTorch DDP + ZeRO-1 job (train.py, launch.sh) to run on a cluster",
                value: EXPORT_JOB,
              },
            ],
            { title: `Compress ${modelRef(model).name}: method` },
          )
        )?.value
      : "directshare");
  if (!method) return undefined;
  if (method === EXPORT_JOB) return EXPORT_JOB;
  if (method === "postshare") await requireTokenizer(model, "PostShare");
  const start = Math.min(max, MapPanel.find(model)?.currentRatio ?? s.defaultRatio);
  let ratio: number;
  if (given.ratio !== undefined) {
    const r = parseRatio(String(given.ratio), max);
    if (typeof r === "string") throw new ExtensionError("bad-input", `ratio ${given.ratio}: ${r}`);
    ratio = r;
  } else {
    const ratioText = await vscode.window.showInputBox({
      title: `Compress ${modelRef(model).name}: sharing ratio`,
      prompt: `Fraction of the ${facts.layers} layers' attention units to share: 0 to ${Math.round(max * 100)}% for this model (layer 0 is never shared). 0.3 or 30%.`,
      value: `${Math.round(start * 100)}%`,
      validateInput: (v) => {
        const r = parseRatio(v, max);
        return typeof r === "string" ? r : undefined;
      },
    });
    if (ratioText === undefined) return undefined;
    const r = parseRatio(ratioText, max);
    if (typeof r === "string") throw new ExtensionError("bad-input", r);
    ratio = r;
  }
  const strategy =
    given.strategy ??
    (interactive
      ? (
          await vscode.window.showQuickPick(
            [...STRATEGY_ITEMS].sort((a, b) => (a.label === s.strategy ? -1 : b.label === s.strategy ? 1 : 0)),
            { title: "Compress: similarity strategy" },
          )
        )?.label
      : s.strategy);
  if (!strategy) return undefined;
  const format =
    given.format ??
    (interactive
      ? ((
          await vscode.window.showQuickPick(
            [
              { label: "compact", description: "only the kept heads are stored: the file that actually saves memory" },
              { label: "dense", description: "ordinary shapes, shared heads copied: loads in any tool" },
            ].sort((a) => (a.label === s.format ? -1 : 1)),
            { title: "Compress: output format" },
          )
        )?.label as "compact" | "dense" | undefined)
      : s.format);
  if (!format) return undefined;
  const dir = await modelDir(model);
  const suggestion =
    s.outputLocation === "workspaceFolder" && vscode.workspace.workspaceFolders?.[0]
      ? path.join(vscode.workspace.workspaceFolders[0].uri.fsPath, path.basename(defaultOutput(dir, ratio, format, method)))
      : defaultOutput(dir, ratio, format, method);
  const out =
    given.out ??
    (await vscode.window.showInputBox({
      title: "Compress: output folder",
      prompt: "A new folder (it must not be the input's folder)",
      value: suggestion,
      validateInput: (v) => outputProblem(dir, v.trim()),
    }));
  if (!out) return undefined;
  const problem = outputProblem(dir, out);
  if (problem) throw new ExtensionError("output-over-input", `output folder ${out}: ${problem}`);
  let force = given.force ?? false;
  if (!force && (await nonEmpty(out))) {
    if (!interactive)
      throw new ExtensionError("output-exists", `output folder ${out} exists and is not empty; pass force: true to replace it, or choose another folder`);
    const yes = await vscode.window.showWarningMessage(`${out} exists and is not empty. Replace its contents?`, { modal: true }, "Replace");
    if (yes !== "Replace") return undefined;
    force = true;
  }
  const lock = await lockChoice(path.resolve(out), interactive, given.wait);
  if (!lock) return undefined; // the user chose Cancel
  return {
    method,
    ratio,
    strategy,
    granularity: given.granularity ?? s.granularity,
    format,
    out: path.resolve(out),
    force,
    ...lock,
    ...(given.text ? { text: given.text } : {}),
    ...(given.evaluate !== undefined ? { evaluate: given.evaluate } : {}),
    ...(given.noReport ? { noReport: true } : {}),
  };
}

export async function compressCommand(session: Session, uri: vscode.Uri | undefined, given: CompressOptions = {}): Promise<CompressOutcome | undefined> {
  await requireTrust("Compress Checkpoint");
  const model = await pickModel(uri, MapPanel.active?.model, "Compress which checkpoint?");
  if (!model) return undefined;
  // Open the checkpoint (header, sizes, config.json) before asking anything: bad input fails here, about the input.
  const facts = await openCheckpoint(session, model, { what: "Compress" });
  const o = await ask(session, model, facts, given ?? {});
  if (!o) return undefined;
  if (o === EXPORT_JOB) {
    await exportPostShareJobCommand(session, vscode.Uri.file(model));
    return undefined;
  }
  let text = o.text;
  if (o.method === "postshare" && !text?.length) {
    text = await pickTrainingTexts("PostShare: training text file(s)");
    if (!text) return undefined;
  }
  const name = modelRef(model).name;
  const existedBefore = await fs.stat(o.out).then(
    () => true,
    () => false,
  );
  const title = `Headshare: ${o.method === "postshare" ? "PostShare" : "DirectShare"} ${name} at ${Math.round(o.ratio * 100)}%`;
  const done = await withJobNotification(session.jobs, title, `compress ${name} @${Math.round(o.ratio * 100)}%`, async (job) => {
    const t0 = Date.now();
    let wrote = false; // this run's output is in place (the writer stages it: a failed write leaves nothing, and a previous output as it was)
    // What either method is asked for: the model, ratio and units, and the output folder.
    const target = {
      model,
      ratio: o.ratio,
      strategy: o.strategy,
      granularity: o.granularity,
      format: o.format,
      out: o.out,
      force: o.force,
      ...(o.wait ? { wait: true } : {}),
    };
    try {
      let report: Report;
      if (o.method === "directshare") {
        const { table, cached } = await session.matchTable(job, model, o.strategy, o.granularity);
        const r = await session.request(job, "headshare/share", { ...target, table });
        wrote = true;
        report = shareReport(model, o, r, table);
        session.log.info(
          `compressed ${model} → ${o.out}: ${r.plan.selected} units shared (${cached ? "cached" : "new"} match table), ${((Date.now() - t0) / 1000).toFixed(2)} s`,
        );
        // Compressing from the map right after its quick eval at this ratio: the same plan, so the same numbers.
        const reused = MapPanel.find(model)?.evalFor(o.ratio, o.strategy, o.granularity);
        if (reused)
          report = {
            ...report,
            eval: {
              ...reused,
              reusedFrom: `the sharing map's quick eval at ${Math.round(o.ratio * 100)}% (the same plan; the dense copy it scored computes what this ${o.format} checkpoint computes)`,
            },
          };
      } else {
        const r = await session.request(job, "headshare/postshare", {
          ...session.settings.postshare,
          ...target,
          text: [...text!],
          ...(given.steps ? { steps: given.steps } : {}),
          ...(given.trainOn ? { trainOn: given.trainOn } : {}),
        });
        wrote = !!r.outDir;
        report = {
          ...emptyReport({ model: modelRef(model), method: "postshare", ratio: o.ratio, strategy: o.strategy, granularity: o.granularity }),
          kind: "compress",
          output: o.out,
          format: o.format,
          provider: r.provider,
          seconds: r.seconds,
          parameters:
            r.plan.parametersBefore !== null && r.plan.parametersAfter !== null ? { before: r.plan.parametersBefore, after: r.plan.parametersAfter } : null,
          selected: r.plan.selected,
          chainedTargets: r.plan.chainedTargets,
          postShare: postShareSummary(r, { steps: r.steps, trainSeconds: r.trainSeconds }),
        };
        session.log.info(
          `PostShare ${model} → ${o.out}: held-out ppl original ${r.original.ppl.toFixed(4)}, DirectShare ${r.directShare.ppl.toFixed(4)}, PostShare ${r.postShare.ppl.toFixed(4)} (${r.steps} steps, ${r.trainSeconds.toFixed(1)} s)`,
        );
      }
      // Without a report panel (automation) the evaluation runs here, on the text the rule picks.
      if (o.noReport && o.evaluate !== false && !report.eval) {
        const t = await resolveEvalText(session, model, "auto");
        if (t) {
          try {
            const ev = await evalAgainst(session, job, model, o.out, o.ratio, t, undefined, true);
            report = { ...report, eval: ev.summary, provider: ev.summary.provider, attentionSimilarity: ev.attention };
          } finally {
            await t.cleanup();
          }
        }
      }
      return report;
    } catch (e) {
      // Only an output this run made (a later step failed or was cancelled): never another writer's folder.
      if (wrote && !existedBefore) await fs.rm(o.out, { recursive: true, force: true }).catch(() => undefined);
      if (isCancel(e)) session.log.info(`compress ${model} cancelled; no output left at ${o.out}`);
      throw e;
    }
  });
  let report = done;
  if (!o.noReport) {
    const evaluate: Evaluator = async (job, t) => {
      const r = await evalAgainst(session, job, model, o.out, o.ratio, t, undefined, true);
      return { summary: r.summary, attention: r.attention };
    };
    const panel = await ReportPanel.show(session, report, resultTitle("Compress", model, o.ratio, null), { evaluate, auto: o.evaluate !== false });
    if (o.evaluate === true) {
      await panel.settled();
      report = panel.report;
    }
  }
  return { out: o.out, report };
}

type ShareOut = import("../../protocol/worker").JobResult<"headshare/share">;

function shareReport(
  model: string,
  o: { ratio: number; strategy: Strategy; granularity: Granularity; format: "compact" | "dense"; out: string },
  r: ShareOut,
  table: MatchTable,
): Report {
  const { parametersBefore: pb, parametersAfter: pa, bytesBefore: bb, bytesAfter: ba } = r.output;
  const U = table.unitsPerLayer;
  return {
    ...emptyReport({ model: modelRef(model), method: "directshare", ratio: o.ratio, strategy: o.strategy, granularity: o.granularity }),
    kind: "compress",
    table: table as Report["table"],
    output: o.out,
    format: o.format,
    provider: r.provider === "none" ? null : r.provider,
    seconds: r.seconds,
    parameters: { before: pb, after: pa },
    bytes: { before: bb, after: ba },
    selected: r.plan.selected,
    chainedTargets: r.plan.chainedTargets,
    weightSimilarity: {
      title: "Weight cosine to the best lower-layer unit",
      rows: table.layers,
      cols: U,
      values: Array.from({ length: table.layers * U }, (_, i) => (i < U ? null : table.entries[i - U]!.score)),
    },
  };
}

export function describeFailure(e: unknown): string {
  return isCancel(e) ? "cancelled" : messageOf(e);
}
