/**
 * What `headshare export --format onnx` wrote (src/core/export/exportOnnx.ts builds it): the zod schema
 * and the type inferred from it. The worker protocol (src/protocol/workerExport.ts) validates the
 * result with it. Pure: the extension host bundles this file.
 */
import * as z from "zod";
import type { SharingPlan } from "../share/types";

const count = z.number().int().nonnegative();

export const EXPORT_DTYPES = ["fp32", "fp16"] as const;
export const exportDtypeSchema = z.enum(EXPORT_DTYPES);
export type ExportDtype = z.infer<typeof exportDtypeSchema>;

export const exportResultSchema = z.object({
  outDir: z.string(),
  /** Files written, relative to outDir. */
  files: z.array(z.string()),
  family: z.string(),
  architecture: z.string(),
  dtype: exportDtypeSchema,
  externalData: z.boolean(),
  /** The plan exported (absent for the original model; the protocol checks it with `parseSharingPlan`). */
  plan: z.custom<SharingPlan>((v) => typeof v === "object" && v !== null, "a sharing plan").optional(),
  /** Parameters stored in the ONNX file, and the dense model's. */
  parameters: count,
  parametersDense: count,
  /** Bytes of model.onnx (+ its external data). */
  bytes: count,
  /** The execution provider the match table ran on (only when a ratio was given). */
  matchProvider: z.string().optional(),
  seconds: z.number().nonnegative(),
});
export type ExportResult = z.infer<typeof exportResultSchema>;
