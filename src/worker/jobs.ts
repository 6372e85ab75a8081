/**
 * The job table: method → thin handler. Each opens what it needs, calls the core function with the
 * job's AbortSignal and throttled progress, closes what it opened, and returns the typed result
 * naming the provider it used. Options were validated by the protocol schemas before `run`.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { evaluate } from "../core/eval/evaluate";
import { makeProtocol } from "../core/eval/protocol";
import { openCheckpoint, type Checkpoint } from "../core/model/checkpoint";
import { inspectCheckpoint } from "../core/model/summary";
import { computeMatchTable } from "../core/share/match";
import { planSharing } from "../core/share/plan";
import type { z } from "zod";
import { usedProviderSchema } from "../protocol/common";
import type { JobTable } from "./serve";

const base = (p: { model: string }): string => path.basename(p.model);
/** The provider the core reports, checked against the protocol's list. */
function usedProvider(p: string | undefined): z.infer<typeof usedProviderSchema> {
  const ok = usedProviderSchema.safeParse(p);
  if (!ok.success) throw new Error(`the runtime reported an unknown execution provider ${JSON.stringify(p)}`);
  return ok.data;
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

/** A text file as UTF-8, with an error that names it. */
async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw Object.assign(new Error(`${file}: cannot read the text file (${code === "ENOENT" ? "it does not exist" : e instanceof Error ? e.message : String(e)}); pass an existing UTF-8 text file`), { code: "bad-text" });
  }
}
const seconds = (t0: number): number => (performance.now() - t0) / 1000;

export const jobTable: JobTable = {
  "headshare/inspect": {
    label: base,
    async run(p) {
      return { summary: await inspectCheckpoint(p.model), provider: "none" };
    },
  },

  "headshare/match": {
    label: base,
    async run(p, ctx) {
      const t0 = performance.now();
      const ckpt = await openCheckpoint(p.model);
      try {
        const table = await computeMatchTable(ckpt, {
          strategy: p.strategy, granularity: p.granularity, providers: ctx.providers, signal: ctx.signal, onProgress: ctx.progress,
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
      const text = await readText(p.text);
      return withCheckpoints([p.model, p.compare], async ([ckpt, other]) => {
        const protocol = makeProtocol({
          ...(p.documentsSeparator !== undefined ? { documentsSeparator: p.documentsSeparator } : {}),
          ...(p.window !== undefined ? { window: p.window } : {}),
          ...(p.stride !== undefined ? { stride: p.stride } : {}),
          bos: p.bos,
        }, ckpt!.spec.maxPositions);
        const r = await evaluate(ckpt!, text, protocol, {
          ...(other ? { compare: other } : {}), providers: ctx.providers, signal: ctx.signal,
          onProgress: (q) => ctx.progress({ phase: "scoring", done: q.done, total: q.total, message: `${q.done} / ${q.total} tokens` }),
        });
        return { ...r, provider: usedProvider(r.provider) };
      });
    },
  },

  "headshare/plan": {
    async run(p) {
      return { plan: planSharing(p.table, p.ratio), provider: "none" };
    },
  },
};
