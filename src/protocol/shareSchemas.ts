/**
 * zod schemas of the DirectShare data types (src/core/share/types.ts), so match tables and plans
 * are validated when they cross a boundary. The `_check*` lines below fail to compile if a schema
 * and its interface drift apart.
 */
import { z } from "zod";
import type { MatchTable, SharingPlan } from "../core/share/types";

export const strategySchema = z.enum(["q", "k", "v", "qk", "qkv"]);
export const granularitySchema = z.enum(["group", "query-head"]);

const index = z.number().int().nonnegative();
const count = z.number().int().nonnegative();
const cosine = z.number().min(-1.000001).max(1.000001);

export const matchEntrySchema = z.object({
  layer: index, unit: index, sourceLayer: index, sourceUnit: index, score: cosine,
});

export const matchTableSchema = z.object({
  format: z.literal("headshare.match"),
  version: z.literal(1),
  strategy: strategySchema,
  granularity: granularitySchema,
  layers: z.number().int().positive(),
  unitsPerLayer: z.number().int().positive(),
  parametersPerUnit: count.nullable(),
  bytesPerUnit: count.nullable(),
  parameters: count.nullable(),
  entries: z.array(matchEntrySchema),
  lowerCosines: z.array(z.array(cosine)).optional(),
  source: z.object({
    model: z.string().optional(),
    size: count.optional(),
    mtimeMs: z.number().optional(),
    provider: z.string().optional(),
    adapter: z.string().max(600).optional(),
    seconds: z.number().nonnegative().optional(),
    bytesRead: count.optional(),
    threads: count.optional(),
  }).optional(),
}).superRefine((t, ctx) => {
  if (t.entries.length !== (t.layers - 1) * t.unitsPerLayer) {
    ctx.addIssue({ code: "custom", path: ["entries"], message: `expected (layers-1)·unitsPerLayer = ${(t.layers - 1) * t.unitsPerLayer} entries, got ${t.entries.length}` });
    return;
  }
  for (let i = 0; i < t.entries.length; i++) {
    const e = t.entries[i]!;
    if (e.layer < 1 || e.layer >= t.layers || e.unit >= t.unitsPerLayer || e.sourceLayer >= e.layer || e.sourceUnit >= t.unitsPerLayer) {
      ctx.addIssue({ code: "custom", path: ["entries", i], message: `entry (${e.layer},${e.unit}) → (${e.sourceLayer},${e.sourceUnit}) is out of range or not strictly lower` });
      return;
    }
  }
  // As parseMatchTable: one row per entry, over the lower units (a shorter row gave plans a missing rootCosine).
  if (t.lowerCosines) {
    if (t.lowerCosines.length !== t.entries.length) {
      ctx.addIssue({ code: "custom", path: ["lowerCosines"], message: `expected one row per entry (${t.entries.length}), got ${t.lowerCosines.length}` });
      return;
    }
    for (let i = 0; i < t.entries.length; i++) {
      const want = t.entries[i]!.layer * t.unitsPerLayer;
      if (t.lowerCosines[i]!.length !== want) {
        ctx.addIssue({ code: "custom", path: ["lowerCosines", i], message: `expected layer·unitsPerLayer = ${want} cosines, got ${t.lowerCosines[i]!.length}` });
        return;
      }
    }
  }
});

export const planTargetSchema = z.object({
  layer: index, unit: index, sourceLayer: index, sourceUnit: index, rootLayer: index, rootUnit: index,
  score: cosine, rootCosine: cosine.nullable(),
});

export const sharingPlanSchema = z.object({
  format: z.literal("headshare.plan"),
  version: z.literal(1),
  ratio: z.number().min(0).max(1),
  strategy: strategySchema,
  granularity: granularitySchema,
  layers: z.number().int().positive(),
  unitsPerLayer: z.number().int().positive(),
  selected: count,
  savedUnits: count,
  chainedTargets: count,
  cutoffScore: z.number().nullable(),
  parametersBefore: count.nullable(),
  parametersAfter: count.nullable(),
  targets: z.array(planTargetSchema),
  storedFrom: z.array(z.array(z.tuple([index, index]))),
});

// Compile-time agreement with src/core/share/types.ts (both directions).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type DeepMutable<T> = T extends readonly [infer A, infer B] ? [DeepMutable<A>, DeepMutable<B>] : T extends readonly (infer U)[] ? DeepMutable<U>[] : T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;
const _checkMatch: Same<DeepMutable<MatchTable>, z.infer<typeof matchTableSchema>> = true;
const _checkPlan: Same<DeepMutable<SharingPlan>, z.infer<typeof sharingPlanSchema>> = true;
export const _schemaChecks = [_checkMatch, _checkPlan] as const;
