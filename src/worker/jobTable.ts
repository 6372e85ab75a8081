/**
 * The job table: method → thin handler. Each opens what it needs, calls the core function with the
 * job's AbortSignal and throttled progress, closes what it opened, and returns the typed result
 * naming the provider it used. Options were validated by the protocol schemas before `run`.
 */
import { computeDevices } from "../core/runtime/devices";
import path from "node:path";
import { attentionMapSimilarity, checkAttentionFits } from "../core/eval/attentionSimilarity";
import { evaluate } from "../core/eval/evaluate";
import { makeProtocol } from "../core/eval/windows";
import { checkTextFile } from "../core/eval/textFile";
import { openCheckpoint, type Checkpoint } from "../core/model/checkpoint";
import { inspectCheckpoint } from "../core/model/summary";
import { sweep } from "../core/eval/sweep";
import { unitsPerLayer } from "../core/model/types";
import { computeMatchTable } from "../core/share/match";
import { planSharing } from "../core/share/plan";
import { compactPlanProblem } from "../core/share/planCheck";
import type { MatchTable } from "../core/share/types";
import { expandCompact, writeShared } from "../core/share/write";
import { postShare } from "../core/train/postshare";
import { exportPostShareJob } from "../core/train/job/export";
import { importPostShareJob } from "../core/train/job/import";
import { exportJob, generateJob } from "./exportJob";
import { RpcError } from "../protocol/rpc";
import type { z } from "zod";
import { usedProviderSchema } from "../protocol/common";
import { definedOnly } from "../core/defined";
import type { JobTable } from "./serve";

const base = (p: { model: string }): string => path.basename(p.model);
/** The provider the core reports, checked against the protocol's list. */
function usedProvider(p: string | undefined): z.infer<typeof usedProviderSchema> {
  const ok = usedProviderSchema.safeParse(p);
  if (!ok.success) throw new Error(`the runtime reported an unknown execution provider ${JSON.stringify(p)}`);
  return ok.data;
}
/** The text protocol from the job's flags (validated by the eval core against the model's context). */
function textProtocol(
  p: { documentsSeparator?: string | undefined; window?: number | undefined; stride?: number | undefined; bos: boolean },
  ckpt: Checkpoint,
) {
  return makeProtocol(
    {
      ...(p.documentsSeparator !== undefined ? { documentsSeparator: p.documentsSeparator } : {}),
      ...(p.window !== undefined ? { window: p.window } : {}),
      ...(p.stride !== undefined ? { stride: p.stride } : {}),
      bos: p.bos,
    },
    ckpt.spec.maxPositions,
  );
}

/** A match table passed in (e.g. from a cache) must be this checkpoint's, with these options. */
function checkTableFits(t: MatchTable, ckpt: Checkpoint, p: { model: string; strategy: string; granularity: "group" | "query-head" }): void {
  const U = unitsPerLayer(ckpt.spec, p.granularity);
  if (t.layers !== ckpt.spec.layers || t.unitsPerLayer !== U || t.strategy !== p.strategy || t.granularity !== p.granularity) {
    throw new RpcError(
      "bad-options",
      `${p.model}: the given match table (${t.layers} layers × ${t.unitsPerLayer} units, ${t.strategy}, ${t.granularity}) does not fit this checkpoint with these options (${ckpt.spec.layers} layers × ${U} units, ${p.strategy}, ${p.granularity}); drop it to recompute the table`,
    );
  }
}

/**
 * Refuses a ratio the plan would refuse before the (possibly long) match runs: the planner's own
 * check on an all-zero table of the checkpoint's shape, so the message is the planner's.
 */
function checkRatioFits(ckpt: Checkpoint, p: { ratio: number; strategy: MatchTable["strategy"]; granularity: "group" | "query-head" }): void {
  const L = ckpt.spec.layers,
    U = unitsPerLayer(ckpt.spec, p.granularity);
  const entries = [];
  for (let l = 1; l < L; l++) for (let u = 0; u < U; u++) entries.push({ layer: l, unit: u, sourceLayer: 0, sourceUnit: 0, score: 0 });
  planSharing(
    {
      format: "headshare.match",
      version: 1,
      strategy: p.strategy,
      granularity: p.granularity,
      layers: L,
      unitsPerLayer: U,
      parametersPerUnit: null,
      bytesPerUnit: null,
      parameters: null,
      entries,
    },
    p.ratio,
  );
}

/** Opens the given checkpoints (undefined stays undefined), runs `f`, and closes them whatever happens. */
async function withCheckpoints<T>(paths: readonly (string | undefined)[], f: (c: (Checkpoint | undefined)[]) => Promise<T>): Promise<T> {
  const open: (Checkpoint | undefined)[] = [];
  try {
    for (const p of paths) open.push(p === undefined ? undefined : await openCheckpoint(p));
    return await f(open);
  } finally {
    for (const c of open) await c?.close();
  }
}

const seconds = (t0: number): number => (performance.now() - t0) / 1000;

/** The forward path and memory budget options of a job, as the eval core takes them. */
function runModel(p: { memoryBudgetGiB?: number | undefined; forward?: "auto" | "whole-model" | "layer-streamed" | undefined }): {
  memoryBudgetGiB?: number;
  forward?: "auto" | "whole-model" | "layer-streamed";
} {
  return { ...(p.memoryBudgetGiB !== undefined ? { memoryBudgetGiB: p.memoryBudgetGiB } : {}), ...(p.forward !== undefined ? { forward: p.forward } : {}) };
}

/** Quick eval's plan: the given match table (checked) or one computed now, planned at the ratio. */
async function quickPlan(
  ckpt: Checkpoint,
  p: { model: string; ratio: number; strategy: MatchTable["strategy"]; granularity: "group" | "query-head"; table?: MatchTable | undefined },
  ctx: {
    providers: NonNullable<Parameters<typeof computeMatchTable>[1]["providers"]>;
    signal: AbortSignal;
    progress: (q: { phase: string; done: number; total: number }) => void;
  },
) {
  if (ckpt.compact)
    throw new RpcError("bad-options", `${p.model}: is already a compact shared checkpoint; quick eval shares the original model in memory, pass that one`);
  let table = p.table;
  if (table) checkTableFits(table, ckpt, p);
  else {
    checkRatioFits(ckpt, p);
    table = await computeMatchTable(ckpt, {
      strategy: p.strategy,
      granularity: p.granularity,
      providers: ctx.providers,
      signal: ctx.signal,
      onProgress: (q) => ctx.progress({ ...q, phase: `match: ${q.phase}` }),
    });
  }
  return planSharing(table, p.ratio);
}

export const jobTable: JobTable = {
  "headshare/inspect": {
    label: base,
    async run(p) {
      return { summary: { ...(await inspectCheckpoint(p.model)), planError: await compactPlanProblem(p.model) }, provider: "none" };
    },
  },

  "headshare/match": {
    label: base,
    async run(p, ctx) {
      const t0 = performance.now();
      const ckpt = await openCheckpoint(p.model);
      try {
        const table = await computeMatchTable(ckpt, {
          strategy: p.strategy,
          granularity: p.granularity,
          providers: ctx.providers,
          signal: ctx.signal,
          onProgress: ctx.progress,
          ...(p.keepLowerCosines !== undefined ? { keepLowerCosines: p.keepLowerCosines } : {}),
        });
        return { table, provider: usedProvider(table.source?.provider), seconds: seconds(t0) };
      } finally {
        await ckpt.close();
      }
    },
  },

  "headshare/eval": {
    label: base,
    async run(p, ctx) {
      await checkTextFile(p.text); // up front: read (and tokenized) in pieces later
      const text = { file: p.text };
      if (p.ratio !== undefined && p.compare !== undefined)
        throw new RpcError(
          "bad-options",
          `${p.model}: pass either a ratio (compare the model shared in memory with its original) or a compare model, not both`,
        );
      return withCheckpoints([p.model, p.compare], async ([ckpt, other]) => {
        const protocol = textProtocol(p, ckpt!);
        // quick eval: the plan is applied while the weights are read; nothing is written
        if (p.attention) checkAttentionFits(ckpt!, protocol, p.memoryBudgetGiB); // refused before the eval, not after it
        const quick = p.ratio !== undefined ? await quickPlan(ckpt!, { ...p, ratio: p.ratio }, ctx) : undefined;
        const r = await evaluate(ckpt!, text, protocol, {
          ...(other ? { compare: other } : {}),
          ...(quick ? { compare: ckpt!, comparePlan: quick } : {}),
          providers: ctx.providers,
          signal: ctx.signal,
          ...runModel(p),
          onProgress: (q) =>
            ctx.progress({
              phase: q.phase ?? "scoring",
              done: q.done,
              total: q.total,
              message: q.message ?? `${q.done} / ${q.total} tokens`,
              ...(q.memoryNeed ? { memoryNeed: q.memoryNeed } : {}),
            }),
        });
        const quickKeys = quick ? { ratio: quick.ratio, selected: quick.selected } : {};
        const attention = p.attention
          ? await attentionMapSimilarity(ckpt!, text, protocol, {
              providers: ctx.providers,
              signal: ctx.signal,
              ...(p.memoryBudgetGiB !== undefined ? { memoryBudgetGiB: p.memoryBudgetGiB } : {}),
              onProgress: (q) => ctx.progress({ phase: "attention maps", done: q.done, total: q.total }),
            })
          : undefined;
        return { ...r, ...quickKeys, provider: usedProvider(r.provider), ...(attention ? { attention } : {}) };
      });
    },
  },

  "headshare/share": {
    label: base,
    async run(p, ctx) {
      const t0 = performance.now();
      return withCheckpoints([p.model], async ([ckpt]) => {
        let table: MatchTable | undefined = p.table;
        const tm = performance.now();
        if (table) checkTableFits(table, ckpt!, p);
        else {
          checkRatioFits(ckpt!, p);
          table = await computeMatchTable(ckpt!, {
            strategy: p.strategy,
            granularity: p.granularity,
            providers: ctx.providers,
            signal: ctx.signal,
            onProgress: (q) => ctx.progress({ ...q, phase: `match: ${q.phase}` }),
          });
        }
        const matchSeconds = seconds(tm);
        const plan = planSharing(table, p.ratio);
        const output = await writeShared(ckpt!, plan, {
          format: p.format,
          outDir: p.out,
          force: p.force,
          signal: ctx.signal,
          ...(p.wait !== undefined ? { wait: p.wait } : {}),
          onProgress: ctx.progress,
        });
        return {
          plan,
          output,
          match: { cached: !!p.table, seconds: matchSeconds },
          provider: p.table ? "none" : usedProvider(table.source?.provider),
          seconds: seconds(t0),
        };
      });
    },
  },

  "headshare/expand": {
    label: (p) => path.basename(p.compact),
    async run(p, ctx) {
      const t0 = performance.now();
      const output = await expandCompact(p.compact, {
        outDir: p.out,
        force: p.force,
        signal: ctx.signal,
        onProgress: ctx.progress,
        ...(p.wait !== undefined ? { wait: p.wait } : {}),
      });
      return { output, provider: "none", seconds: seconds(t0) };
    },
  },

  "headshare/sweep": {
    label: base,
    async run(p, ctx) {
      await checkTextFile(p.text);
      const text = { file: p.text };
      return withCheckpoints([p.model], async ([ckpt]) => {
        if (p.table) checkTableFits(p.table, ckpt!, p);
        const r = await sweep(ckpt!, p.ratios, text, textProtocol(p, ckpt!), {
          strategy: p.strategy,
          granularity: p.granularity,
          ...(p.table ? { table: p.table } : {}),
          providers: ctx.providers,
          signal: ctx.signal,
          onProgress: ctx.progress,
          ...runModel(p),
        });
        return { ...r, provider: usedProvider(r.provider) };
      });
    },
  },

  "headshare/postshare": {
    label: base,
    async run(p, ctx) {
      const { model, out, providers: _providers, ...rest } = p;
      const r = await postShare(model, definedOnly({ ...rest, outDir: out, providers: ctx.providers }), {
        signal: ctx.signal,
        onProgress: (q) => ctx.progress({ phase: q.phase, done: q.done, total: q.total, ...(q.message ? { message: q.message } : {}) }),
      });
      return { ...r, provider: usedProvider(r.provider) };
    },
  },

  "headshare/postshareJob": {
    label: base,
    async run(p, ctx) {
      const { model, out, providers: _providers, ...rest } = p;
      const r = await exportPostShareJob(model, definedOnly({ ...rest, outDir: out, providers: ctx.providers }), {
        signal: ctx.signal,
        onProgress: (q) => ctx.progress({ phase: q.phase, done: q.done, total: q.total, ...(q.message ? { message: q.message } : {}) }),
      });
      const j = r.job;
      return {
        outDir: r.outDir,
        files: [...r.files],
        selected: j.plan.targets,
        planSha256: j.plan.planSha256,
        steps: j.schedule.steps,
        microBatches: j.data.microBatches,
        tokens: j.data.tokenCount,
        parameters: j.modelSummary.parameters,
        trainableParameters: j.modelSummary.trainableParameters,
        memory: [...r.memory],
        provider: usedProvider(r.provider),
        seconds: r.seconds,
      };
    },
  },

  "headshare/postshareImport": {
    label: (p) => path.basename(p.job),
    async run(p, ctx) {
      const r = await importPostShareJob(
        {
          jobDir: p.job,
          outDir: p.out,
          providers: ctx.providers,
          ...(p.format ? { format: p.format } : {}),
          ...(p.force !== undefined ? { force: p.force } : {}),
          ...(p.wait !== undefined ? { wait: p.wait } : {}),
          ...(p.model ? { model: p.model } : {}),
          ...(p.weights ? { weights: p.weights } : {}),
        },
        {
          signal: ctx.signal,
          onProgress: (q) => ctx.progress({ phase: q.phase, done: q.done, total: q.total, ...(q.message ? { message: q.message } : {}) }),
        },
      );
      return { ...r, provider: usedProvider(r.provider) };
    },
  },

  "headshare/devices": {
    async run() {
      return { ...(await computeDevices()), provider: "none" };
    },
  },

  "headshare/plan": {
    async run(p) {
      return { plan: planSharing(p.table, p.ratio), provider: "none" };
    },
  },

  "headshare/export": exportJob,
  "headshare/generate": generateJob,
};
