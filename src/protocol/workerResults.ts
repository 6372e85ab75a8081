/**
 * Results of `headshare/inspect` (the checkpoint summary: its schema is the core's,
 * src/core/model/summarySchema.ts) and the output accounting of `headshare/share`/`expand`
 * (src/core/share/write.ts).
 */
import * as z from "zod";
import type { ShareResult } from "../core/share/types";
import { usedProviderSchema } from "./common";
import { checkpointSummarySchema } from "../core/model/summarySchema";

export { checkpointSummarySchema };

const count = z.number().int().nonnegative();

export const inspectResultSchema = z.object({
  summary: checkpointSummarySchema,
  provider: usedProviderSchema,
});

/** src/core/share/types.ts LayerAccounting. */
export const layerAccountingSchema = z.object({
  layer: count,
  savedUnits: count,
  parametersBefore: count,
  parametersAfter: count,
  bytesBefore: count,
  bytesAfter: count,
});

/** src/core/share/types.ts ShareResult: what writing a shared (or expanded) checkpoint produced, with exact accounting. */
export const shareResultSchema = z.object({
  format: z.enum(["compact", "dense"]),
  outDir: z.string(),
  weightsPath: z.string(),
  files: z.array(z.string()),
  ratio: z.number().min(0).max(1),
  selected: count,
  savedUnits: count,
  parametersPerUnit: count,
  bytesPerUnit: count,
  parametersBefore: count,
  parametersAfter: count,
  parametersStored: count,
  bytesBefore: count,
  bytesAfter: count,
  fileBytesBefore: count,
  fileBytesAfter: count,
  perLayer: z.array(layerAccountingSchema),
  globals: z.object({ parameters: count, bytes: count }),
  seconds: z.number().nonnegative(),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type DeepMutable<T> = T extends readonly (infer U)[] ? DeepMutable<U>[] : T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;
const _checkShare: Same<DeepMutable<ShareResult>, z.infer<typeof shareResultSchema>> = true;
export const _resultChecks = [_checkShare] as const;
