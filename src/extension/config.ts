/**
 * Typed settings (package.json `contributes.configuration`), validated on read: a bad value falls back
 * to the default with a warning rather than reaching the worker. `RESTART_SETTINGS` lists the settings
 * the running worker does not pick up.
 */
import * as vscode from "vscode";
import type { Granularity } from "../core/model/types";
import type { Strategy } from "../core/share/types";
import { postShareHyperparametersSchema, type PostShareHyperparameters } from "../protocol/workerEval";

export type ProviderSetting = "auto" | ("cuda" | "dml" | "coreml" | "webgpu" | "cpu")[];
export type OutputLocation = "besideInput" | "workspaceFolder";

export interface Settings {
  readonly defaultRatio: number;
  readonly strategy: Strategy;
  readonly granularity: Granularity;
  readonly format: "compact" | "dense";
  readonly executionProviders: ProviderSetting;
  readonly evalWindow: number;
  readonly evalText: string;
  readonly evalDocumentSeparator: string;
  /** GiB evaluations may use; 0 = the worker's default (min(4 GiB, RAM/4)). */
  readonly evalMemoryBudgetGiB: number;
  readonly outputLocation: OutputLocation;
  readonly jobTimeoutMinutes: number;
  /** The user's consent to read model files that link outside the model folder (honoured only in a trusted workspace). */
  readonly followSymlinks: boolean;
  /** PostShare's preset and hyperparameters (`headshare.postshare`), passed to the job as given. */
  readonly postshare: PostShareHyperparameters;
}

/** Settings that only take effect when the worker restarts. */
export const RESTART_SETTINGS = ["headshare.executionProviders", "headshare.followSymlinks"] as const;

const STRATEGIES: readonly Strategy[] = ["q", "k", "v", "qk", "qkv"];
const PROVIDERS = ["cuda", "dml", "coreml", "webgpu", "cpu"] as const;

export function readSettings(warn: (m: string) => void = () => undefined): Settings {
  const c = vscode.workspace.getConfiguration("headshare");
  const pick = <T>(key: string, def: T, ok: (v: unknown) => boolean): T => {
    const v = c.get<unknown>(key, def);
    if (ok(v)) return v as T;
    warn(`setting headshare.${key} = ${JSON.stringify(v)} is not valid; using ${JSON.stringify(def)}`);
    return def;
  };
  const num = (lo: number, hi: number) => (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi;
  return {
    defaultRatio: pick("defaultRatio", 0.3, num(0, 0.99)),
    strategy: pick<Strategy>("strategy", "qk", (v) => STRATEGIES.includes(v as Strategy)),
    granularity: pick<Granularity>("granularity", "group", (v) => v === "group" || v === "query-head"),
    format: pick<"compact" | "dense">("format", "compact", (v) => v === "compact" || v === "dense"),
    executionProviders: pick<ProviderSetting>(
      "executionProviders",
      "auto",
      (v) => v === "auto" || (Array.isArray(v) && v.length > 0 && v.every((p) => (PROVIDERS as readonly unknown[]).includes(p))),
    ),
    evalWindow: pick("eval.window", 0, (v) => Number.isInteger(v) && (v === 0 || num(2, 1 << 20)(v))),
    evalText: pick("eval.text", "", (v) => typeof v === "string"),
    evalDocumentSeparator: pick("eval.documentSeparator", "", (v) => typeof v === "string" && v.length <= 200),
    evalMemoryBudgetGiB: pick("eval.memoryBudgetGiB", 0, (v) => v === 0 || num(0.001, 1 << 20)(v)),
    outputLocation: pick<OutputLocation>("output.location", "besideInput", (v) => v === "besideInput" || v === "workspaceFolder"),
    jobTimeoutMinutes: pick("worker.jobTimeoutMinutes", 24 * 60, num(0, 7 * 24 * 60)),
    followSymlinks: pick("followSymlinks", false, (v) => typeof v === "boolean"),
    postshare: pick<PostShareHyperparameters>("postshare", {}, (v) => postShareHyperparametersSchema.safeParse(v).success),
  };
}
