/** The worker's `headshare/export` and `headshare/generate` jobs: read the plan file (if any), run the core. */
import path from "node:path";
import { exportOnnx } from "../core/export/exportOnnx";
import { readPlanFile } from "../core/export/plan";
import { generateText } from "../core/generate/generateText";
import { usedProviderSchema } from "../protocol/common";
import type { JobDef } from "./serve";

export const exportJob: JobDef<"headshare/export"> = {
  label: (p) => path.basename(p.model),
  async run(p, ctx) {
    const plan = p.planFile ? await readPlanFile(p.planFile) : undefined;
    const r = await exportOnnx(p.model, {
      outDir: p.out,
      dtype: p.dtype,
      ...(p.wait !== undefined ? { wait: p.wait } : {}),
      strategy: p.strategy,
      providers: ctx.providers,
      signal: ctx.signal,
      ...(p.ratio !== undefined ? { ratio: p.ratio } : {}),
      ...(plan ? { plan, planFile: p.planFile! } : {}),
      ...(p.externalData !== undefined ? { externalData: p.externalData } : {}),
      onProgress: ctx.progress,
    });
    const { matchProvider, ...rest } = r;
    return { ...rest, provider: usedProviderSchema.catch("none").parse(matchProvider ?? "none") };
  },
};

/** Progress messages carry at most this many characters: the tail of the text so far. */
const MESSAGE_CHARS = 2000;

export const generateJob: JobDef<"headshare/generate"> = {
  label: (p) => `${path.basename(p.model)}${p.ratio !== undefined ? ` @${Math.round(p.ratio * 100)}%` : ""}`,
  async run(p, ctx) {
    const plan = p.planFile ? await readPlanFile(p.planFile) : undefined;
    let text = "";
    const r = await generateText(p.model, p.prompt, {
      maxTokens: p.maxTokens,
      temperature: p.temperature,
      topP: p.topP,
      seed: p.seed,
      strategy: p.strategy,
      providers: ctx.providers,
      signal: ctx.signal,
      ...(p.ratio !== undefined ? { ratio: p.ratio } : {}),
      ...(plan ? { plan, planFile: p.planFile! } : {}),
      onText: (d, tokens) => {
        text += d;
        ctx.progress({ phase: "generate", done: tokens, total: p.maxTokens, message: text.slice(-MESSAGE_CHARS) });
      },
    });
    return {
      text: r.text,
      ids: r.ids,
      promptIds: r.promptIds,
      stop: r.stop,
      tokensPerSecond: r.tokensPerSecond,
      prefillSeconds: r.prefillSeconds,
      decodeSeconds: r.decodeSeconds,
      loadSeconds: r.loadSeconds,
      shared: r.plan ? { ratio: r.plan.ratio, selected: r.plan.selected } : null,
      provider: usedProviderSchema.catch("none").parse(r.provider),
    };
  },
};
