/** The worker's `headshare/export` job: reads the plan file (if any) and runs `exportOnnx`. */
import fs from "node:fs/promises";
import path from "node:path";
import { exportOnnx } from "../core/export/exportOnnx";
import { ExportError } from "../core/export/errors";
import type { SharingPlan } from "../core/share/types";
import { usedProviderSchema } from "../protocol/common";
import type { JobDef } from "./serve";

async function readPlanFile(file: string): Promise<SharingPlan> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new ExportError("bad-input", `${file}: cannot read the plan (${(e as NodeJS.ErrnoException).code ?? String(e)}); write one with headshare plan --json`);
  }
  try {
    const v = JSON.parse(text) as { plan?: unknown };
    // `headshare plan --json` prints {plan, …}; a bare plan object is accepted too
    return (v && typeof v === "object" && "plan" in v && v.plan ? v.plan : v) as SharingPlan;
  } catch (e) {
    throw new ExportError("bad-input", `${file}: the plan is not JSON (${(e as Error).message})`);
  }
}

export const exportJob: JobDef<"headshare/export"> = {
  label: (p) => path.basename(p.model),
  async run(p, ctx) {
    const plan = p.planFile ? await readPlanFile(p.planFile) : undefined;
    const r = await exportOnnx(p.model, {
      outDir: p.out, dtype: p.dtype, strategy: p.strategy, providers: ctx.providers, signal: ctx.signal,
      ...(p.ratio !== undefined ? { ratio: p.ratio } : {}),
      ...(plan ? { plan, planFile: p.planFile! } : {}),
      ...(p.externalData !== undefined ? { externalData: p.externalData } : {}),
      onProgress: ctx.progress,
    });
    const { matchProvider, ...rest } = r;
    return { ...rest, provider: usedProviderSchema.catch("none").parse(matchProvider ?? "none") };
  },
};
