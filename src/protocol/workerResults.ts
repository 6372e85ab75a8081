/**
 * Results of `headshare/inspect` (the checkpoint summary: its schema is the core's,
 * src/core/model/summarySchema.ts) and the output accounting of `headshare/share`/`expand` (the
 * core's schema, src/core/share/results.ts).
 */
import * as z from "zod";
import { usedProviderSchema } from "./common";
import { checkpointSummarySchema } from "../core/model/summarySchema";
import { layerAccountingSchema, shareResultSchema } from "../core/share/results";

export { checkpointSummarySchema, layerAccountingSchema, shareResultSchema };

export const inspectResultSchema = z.object({
  summary: checkpointSummarySchema,
  provider: usedProviderSchema,
});
