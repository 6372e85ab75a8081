/**
 * Results of the jobs whose payload is produced by other core modules: the checkpoint summary of
 * `headshare/inspect` (src/core/model) and the output accounting of `headshare/share`/`expand`
 * (src/core/share/write.ts). Loose objects: the keys below are guaranteed, the cores may add more.
 */
import { z } from "zod";
import { usedProviderSchema } from "./common";

const count = z.number().int().nonnegative();

export const inspectResultSchema = z.object({
  /** The checkpoint summary as `headshare inspect --json` prints it. */
  summary: z.looseObject({}),
  provider: usedProviderSchema,
});

/** What writing a shared (or expanded) checkpoint produced: where, which files, and the exact accounting. */
export const shareResultSchema = z.looseObject({
  parametersBefore: count.nullable().optional(),
  parametersAfter: count.nullable().optional(),
  bytesBefore: count.nullable().optional(),
  bytesAfter: count.nullable().optional(),
});
