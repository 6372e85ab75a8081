/**
 * Headshare: Export PostShare Job… (also offered by Compress when the method is PostShare) writes a
 * PyTorch job folder for a cluster (`headshare/postshareJob`); Headshare: Import PostShare Job
 * Result… reads a job folder after its run (`headshare/postshareImport`) and opens the report with
 * the held-out scores and the loss curves from the run's metrics.jsonl. With every option given
 * (the command API, tests) neither asks anything.
 */
import path from "node:path";
import * as vscode from "vscode";
import type { Granularity } from "../../core/model/types";
import type { Strategy } from "../../core/share/types";
import type { Report } from "../../protocol/webview";
import type { JobResult } from "../../protocol/worker";
import { ExtensionError } from "../errors";
import { emptyReport, modelRef, postShareSummary } from "../displayShapes";
import { modelDir, nonEmpty, outputProblem, pickModel, pickTrainingTexts } from "../modelPick";
import { lockChoice } from "../outputLock";
import { ReportPanel } from "../panels/reportPanel";
import type { Session } from "../session";
import { requireTrust } from "../trust";

export interface ExportJobOptions {
  readonly ratio?: number;
  readonly strategy?: Strategy;
  readonly granularity?: Granularity;
  readonly text?: readonly string[];
  readonly steps?: number;
  readonly trainOn?: "text" | "sampled" | "both";
  readonly batchSize?: number;
  readonly seqLen?: number;
  /** Absolute job folder. */
  readonly out?: string;
  readonly force?: boolean;
  /** When another run holds the job folder's lock: wait for it (true) or be refused (false); undefined asks (interactive). */
  readonly wait?: boolean;
}

export interface ImportJobOptions {
  /** Absolute job folder. */
  readonly job?: string;
  readonly out?: string;
  readonly format?: "compact" | "dense";
  readonly force?: boolean;
  /** When another run holds the output folder's lock: wait for it (true) or be refused (false); undefined asks (interactive). */
  readonly wait?: boolean;
  readonly noReport?: boolean;
}

/** Asks for a new (or, confirmed, replaceable) folder, and whether to wait when another run writes it; undefined when the user backs out. */
async function askFolder(
  title: string,
  suggestion: string,
  inputDir: string,
  given: string | undefined,
  force: boolean | undefined,
  wait: boolean | undefined,
): Promise<{ out: string; force: boolean; lock: { readonly wait?: boolean } } | undefined> {
  const out =
    given ?? (await vscode.window.showInputBox({ title, prompt: "A new folder", value: suggestion, validateInput: (v) => outputProblem(inputDir, v.trim()) }));
  if (!out) return undefined;
  const problem = outputProblem(inputDir, out);
  if (problem) throw new ExtensionError("output-over-input", `output folder ${out}: ${problem}`);
  if (!force && (await nonEmpty(out))) {
    if (given)
      throw new ExtensionError("output-exists", `output folder ${out} exists and is not empty; pass force: true to replace it, or choose another folder`);
    const yes = await vscode.window.showWarningMessage(`${out} exists and is not empty. Replace its contents?`, { modal: true }, "Replace");
    if (yes !== "Replace") return undefined;
    force = true;
  }
  const lock = await lockChoice(path.resolve(out), given === undefined, wait);
  if (!lock) return undefined; // the user chose Cancel
  return { out: path.resolve(out), force: !!force, lock };
}

export async function exportPostShareJobCommand(
  session: Session,
  uri: vscode.Uri | undefined,
  given: ExportJobOptions = {},
): Promise<JobResult<"headshare/postshareJob"> | undefined> {
  await requireTrust("Export PostShare Job");
  const model = await pickModel(uri, undefined, "Export a PostShare job for which checkpoint?");
  if (!model) return undefined;
  const s = session.settings;
  const ratioText =
    given.ratio !== undefined
      ? String(given.ratio)
      : await vscode.window.showInputBox({
          title: "PostShare job: sharing ratio",
          prompt: "Fraction of all attention units to share (0 to (L−1)/L)",
          value: String(s.defaultRatio),
          validateInput: (v) => {
            const x = Number(v);
            return v.trim() !== "" && Number.isFinite(x) && x > 0 && x < 1 ? undefined : "a number between 0 and 1, e.g. 0.3";
          },
        });
  if (ratioText === undefined) return undefined;
  const ratio = Number(ratioText);
  let text = given.text;
  if (!text?.length) {
    text = await pickTrainingTexts("PostShare job: training text file(s)");
    if (!text) return undefined;
  }
  const dir = await modelDir(model);
  const folder = await askFolder(
    "PostShare job: job folder",
    path.join(path.dirname(dir), `${path.basename(dir)}-postshare-job-${Math.round(ratio * 100)}`),
    dir,
    given.out,
    given.force,
    given.wait,
  );
  if (!folder) return undefined;
  const name = modelRef(model).name;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Headshare: PostShare job for ${name} at ${Math.round(ratio * 100)}%`, cancellable: true },
    (progress, token) =>
      session.jobs.run(
        `postshare job ${name}`,
        async (job) => {
          const r = await session.request(
            job,
            "headshare/postshareJob",
            {
              model,
              ratio,
              text: [...text!],
              out: folder.out,
              force: folder.force,
              ...folder.lock,
              strategy: given.strategy ?? s.strategy,
              granularity: given.granularity ?? s.granularity,
              ...(given.steps ? { steps: given.steps } : {}),
              ...(given.trainOn ? { trainOn: given.trainOn } : {}),
              ...(given.batchSize ? { batchSize: given.batchSize } : {}),
              ...(given.seqLen ? { seqLen: given.seqLen } : {}),
            },
            (p) => progress.report({ message: p.message ?? p.phase }),
          );
          session.log.info(`PostShare job for ${model} → ${r.outDir}: ${r.selected} units, ${r.steps} steps, plan ${r.planSha256.slice(0, 12)}`);
          if (given.out === undefined) {
            void vscode.window
              .showInformationMessage(`PostShare job written to ${r.outDir}. Run launch.sh on the cluster, then Import PostShare Job Result.`, "Open README")
              .then((c) => {
                if (c === "Open README") void vscode.commands.executeCommand("markdown.showPreview", vscode.Uri.file(path.join(r.outDir, "README.md")));
              });
          }
          return r;
        },
        token,
      ),
  );
}

export async function importPostShareJobCommand(
  session: Session,
  uri: vscode.Uri | undefined,
  given: ImportJobOptions = {},
): Promise<{ out: string; report: Report } | undefined> {
  await requireTrust("Import PostShare Job Result");
  let jobDir = given.job ?? uri?.fsPath;
  if (!jobDir) {
    const picked = await vscode.window.showOpenDialog({
      title: "PostShare job folder (with job.json and run/model.safetensors)",
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: "Import",
    });
    if (!picked?.length) return undefined;
    jobDir = picked[0]!.fsPath;
  }
  const format = given.format ?? session.settings.format;
  const folder = await askFolder(
    "PostShare import: output folder",
    `${jobDir.replace(/[\\/]+$/, "")}-shared${format === "dense" ? "-dense" : ""}`,
    jobDir,
    given.out,
    given.force,
    given.wait,
  );
  if (!folder) return undefined;
  const name = path.basename(jobDir);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Headshare: importing ${name}`, cancellable: true },
    (progress, token) =>
      session.jobs.run(
        `postshare import ${name}`,
        async (job) => {
          const r = await session.request(
            job,
            "headshare/postshareImport",
            { job: path.resolve(jobDir!), out: folder.out, force: folder.force, ...folder.lock, format },
            (p) => progress.report({ message: p.message ?? p.phase }),
          );
          const report: Report = {
            ...emptyReport({ model: modelRef(r.model), method: "postshare", ratio: r.ratio, strategy: r.plan.strategy, granularity: r.plan.granularity }),
            output: r.outDir,
            format,
            provider: r.provider,
            seconds: r.seconds,
            parameters:
              r.plan.parametersBefore !== null && r.plan.parametersAfter !== null ? { before: r.plan.parametersBefore, after: r.plan.parametersAfter } : null,
            selected: r.plan.selected,
            chainedTargets: r.plan.chainedTargets,
            // The job's own run: its loss curve's length and the seconds its last step reached.
            postShare: postShareSummary(r, { steps: r.lossCurve.length, trainSeconds: r.lossCurve.at(-1)?.seconds ?? 0 }),
          };
          session.log.info(
            `PostShare import ${jobDir} → ${r.outDir}: held-out ppl DirectShare ${r.directShare.ppl.toFixed(4)}, PostShare ${r.postShare.ppl.toFixed(4)}`,
          );
          if (!given.noReport) await ReportPanel.show(session, report, `Report: ${modelRef(r.model).name} PostShare job ${Math.round(r.ratio * 100)}%`);
          return { out: r.outDir, report };
        },
        token,
      ),
  );
}
