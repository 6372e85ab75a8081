/**
 * Headshare: Export for ONNX Runtime… — the checkpoint (original, shared at a ratio now, or a compact
 * checkpoint with its own plan) as a folder that transformers.js and ONNX Runtime load
 * (`headshare/export` in the worker; docs/export.md). The folder must be new.
 */
import fs from "node:fs/promises";
import path from "node:path";
import * as vscode from "vscode";
import type { JobResult } from "../../protocol/worker";
import type { ExportDtype } from "../../core/export/results";
import { isCancel } from "../errors";
import { modelRef } from "../displayShapes";
import { modelDir, outputProblem, pickModel } from "../modelPick";
import { lockChoice } from "../outputLock";
import { MapPanel } from "../panels/mapPanel";
import type { Session } from "../session";
import { requireTrust } from "../trust";

export interface ExportOnnxOptions {
  /** Share at this ratio first (a dense checkpoint); absent and not asked: the original. */
  readonly ratio?: number;
  /** Output folder (else asked). */
  readonly out?: string;
  /** Weights' dtype (else asked; quiet: fp32). */
  readonly dtype?: ExportDtype;
  /** Ask nothing: export as given (tests, automation). */
  readonly quiet?: boolean;
  /** When another run holds the output folder's lock: wait for it (true) or be refused (false); undefined asks (not quiet). */
  readonly wait?: boolean;
}

export async function exportOnnxCommand(
  session: Session,
  uri: vscode.Uri | undefined,
  o: ExportOnnxOptions = {},
): Promise<JobResult<"headshare/export"> | undefined> {
  await requireTrust("Export for ONNX Runtime");
  const model = await pickModel(uri, MapPanel.active?.model, "Export which checkpoint?");
  if (!model) return undefined;
  const name = modelRef(model).name;
  const dir = await modelDir(model);
  const info = await session.jobs.run(`inspect ${name}`, (job) => session.request(job, "headshare/inspect", { model }));
  let ratio = o.ratio;
  if (!info.summary.compact && ratio === undefined && !o.quiet) {
    const r = session.settings.defaultRatio;
    const pick = await vscode.window.showQuickPick(
      [
        { label: "$(file) The original model", description: "no sharing", v: undefined },
        { label: `$(zap) Shared at ${Math.round(r * 100)}%`, description: "DirectShare now (qk match), then export: each kept unit stored once", v: r },
      ],
      { title: `Export ${name} for ONNX Runtime` },
    );
    if (!pick) return undefined;
    ratio = pick.v;
  }
  let dtype = o.dtype;
  if (dtype === undefined && !o.quiet) {
    const pick = await vscode.window.showQuickPick(
      [
        { label: "float32", description: "onnx/model.onnx: exactly headshare's computation", v: "fp32" as const },
        { label: "float16 weights", description: "onnx/model_fp16.onnx: half the bytes on disk and in memory, computed in float32", v: "fp16" as const },
      ],
      { title: `Export ${name}: weights as` },
    );
    if (!pick) return undefined;
    dtype = pick.v;
  }
  const suffix = `${info.summary.compact ? "" : ratio !== undefined ? `-shared-${Math.round(ratio * 100)}` : ""}-onnx${dtype === "fp16" ? "-fp16" : ""}`;
  let out = o.out;
  if (!out) {
    const picked = await vscode.window.showSaveDialog({
      title: "New folder for the ONNX export",
      defaultUri: vscode.Uri.file(path.join(path.dirname(dir), `${path.basename(dir)}${suffix}`)),
      saveLabel: "Export here",
    });
    if (!picked) return undefined;
    out = picked.fsPath;
  }
  const problem = outputProblem(dir, out);
  if (problem) throw new Error(`${out}: ${problem}`);
  if (
    await fs.stat(out).then(
      () => true,
      () => false,
    )
  )
    throw new Error(`${out} already exists; the export writes a new folder (choose another name)`);
  const lock = await lockChoice(path.resolve(out), !o.quiet, o.wait);
  if (!lock) return undefined; // the user chose Cancel
  try {
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Headshare: exporting ${name} for ONNX Runtime`, cancellable: true },
      (progress, token) =>
        session.jobs.run(
          `export ${name}`,
          (job) =>
            session.request(
              job,
              "headshare/export",
              {
                model,
                out: path.resolve(out!),
                ...lock,
                ...(dtype ? { dtype } : {}),
                ...(ratio !== undefined && !info.summary.compact ? { ratio, strategy: session.settings.strategy } : {}),
              },
              (p) => progress.report({ message: p.message ?? p.phase }),
            ),
          token,
        ),
    );
    session.log.info(`export ${model} → ${r.outDir}: ${r.parameters} of ${r.parametersDense} parameters, ${r.bytes} bytes`);
    if (!o.quiet) {
      const saved = r.parametersDense - r.parameters;
      void vscode.window
        .showInformationMessage(
          `Headshare: exported ${name} to ${r.outDir} (${r.parameters.toLocaleString()} parameters${saved > 0 ? `, ${saved.toLocaleString()} fewer than the original` : ""}).`,
          "Reveal in Explorer",
        )
        .then((a) => a && vscode.commands.executeCommand("revealInExplorer", vscode.Uri.file(r.outDir)));
    }
    return r;
  } catch (e) {
    if (isCancel(e)) return undefined;
    throw e;
  }
}
