/**
 * Which plan a shared model runs with (export and generate): a compact checkpoint's own, a plan
 * given for a dense checkpoint (validated against it), or match → plan at a ratio.
 */
import fs from "node:fs/promises";
import type { Checkpoint } from "../model/checkpoint";
import { compactPlanOf } from "../graph/forward";
import { checkPlan } from "../graph/compact";
import { OnnxError } from "../onnx/errors";
import type { ProviderName } from "../runtime/ort";
import { computeMatchTable } from "../share/match";
import { planSharing, maxRatio } from "../share/plan";
import { parseSharingPlan } from "../share/planJson";
import { PlanError } from "../share/errors";
import type { SharingPlan, Strategy } from "../share/types";
import { ExportError } from "./errors";

export interface PlanChoice {
  readonly ratio?: number;
  readonly strategy?: Strategy;
  readonly plan?: SharingPlan;
  /** Where `plan` came from, for error messages. */
  readonly planFile?: string;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

/** The plan to export with: the compact checkpoint's own, the given one, or match → plan at a ratio. */
export async function resolvePlan(ckpt: Checkpoint, opts: PlanChoice): Promise<{ plan?: SharingPlan; matchProvider?: string }> {
  const own = compactPlanOf(ckpt);
  if (own) {
    if (opts.ratio !== undefined || opts.plan) {
      throw new ExportError(
        "bad-input",
        `${ckpt.weightsPath} is a compact shared checkpoint; it exports with its own plan (drop --ratio/--plan, or export the original model with them)`,
      );
    }
    return { plan: own };
  }
  if (opts.plan) {
    const where = opts.planFile ?? "the sharing plan";
    let plan: SharingPlan;
    try {
      plan = parseSharingPlan(opts.plan, where);
    } catch (e) {
      throw new ExportError("bad-input", e instanceof PlanError ? e.message : String(e));
    }
    try {
      checkPlan(ckpt.spec, plan, where);
    } catch (e) {
      if (e instanceof OnnxError) throw new ExportError("bad-input", `${e.message} (the model is ${ckpt.weightsPath})`);
      throw e;
    }
    return { plan };
  }
  if (opts.ratio === undefined) return {};
  const max = maxRatio(ckpt.spec.layers);
  if (!(opts.ratio >= 0 && opts.ratio <= max)) {
    throw new ExportError(
      "bad-options",
      `--ratio ${opts.ratio}: ${ckpt.weightsPath} has ${ckpt.spec.layers} layers, so the ratio must be in 0..${max.toFixed(4)}`,
    );
  }
  const table = await computeMatchTable(ckpt, {
    strategy: opts.strategy ?? "qk",
    granularity: "group",
    ...(opts.providers ? { providers: opts.providers } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onProgress: (q) => opts.onProgress?.({ ...q, phase: `match: ${q.phase}` }),
  });
  return { plan: planSharing(table, opts.ratio), ...(table.source?.provider ? { matchProvider: table.source.provider } : {}) };
}

/** A plan file: `headshare plan --json` output ({plan, …}) or a bare plan object (validated later against the model). */
export async function readPlanFile(file: string): Promise<SharingPlan> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new ExportError(
      "bad-input",
      `${file}: cannot read the plan (${(e as NodeJS.ErrnoException).code ?? String(e)}); write one with headshare plan --json`,
    );
  }
  try {
    const v = JSON.parse(text) as { plan?: unknown };
    // `headshare plan --json` prints {plan, …}; a bare plan object is accepted too
    return (v && typeof v === "object" && "plan" in v && v.plan ? v.plan : v) as SharingPlan;
  } catch (e) {
    throw new ExportError("bad-input", `${file}: the plan is not JSON (${(e as Error).message})`);
  }
}
