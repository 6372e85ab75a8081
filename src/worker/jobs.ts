/**
 * The job table: method → thin handler. Each opens what it needs, calls the core function with the
 * job's AbortSignal and throttled progress, closes what it opened, and returns the typed result
 * naming the provider it used. Options were validated by the protocol schemas before `run`.
 */
import path from "node:path";
import { openCheckpoint } from "../core/model/checkpoint";
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
const seconds = (t0: number): number => (performance.now() - t0) / 1000;

export const jobTable: JobTable = {
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

  "headshare/plan": {
    async run(p) {
      return { plan: planSharing(p.table, p.ratio), provider: "none" };
    },
  },
};
