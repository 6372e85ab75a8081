/** Small schemas every protocol file uses. */
import * as z from "zod";
import { PROVIDER_NAMES, providerNameSchema } from "../core/runtime/types";

/** An absolute path (POSIX `/…`, Windows `C:\…` or `\\server\…`): the worker resolves nothing against its own cwd. */
export const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^(\/|[A-Za-z]:[\\/]|\\\\)/, "an absolute path");
/** Execution providers the worker knows: the core's own schema (src/core/runtime/types.ts). */
export { providerNameSchema, gpuAdapterSchema, PROVIDER_NAMES } from "../core/runtime/types";
/** "auto" = the platform's default order (CUDA/DirectML/CoreML, then CPU). */
export const providersSchema = z.union([z.literal("auto"), z.array(providerNameSchema).min(1).max(5)]);
/** The execution providers a job may try, in order, or "auto". */
export type Providers = z.output<typeof providersSchema>;
/** The provider a job actually ran on, or "none" when it ran no ONNX graph. */
export const usedProviderSchema = z.enum([...PROVIDER_NAMES, "none"]);
/** Where a job's graphs ran: the core's ComputeReport (src/core/runtime/types.ts), as the protocol names it. */
export { computeReportSchema as computeSchema } from "../core/runtime/types";
export type { ComputeReport as ComputeInfo } from "../core/runtime/types";
export { adapterLabel, computeText, sessionsText } from "../core/runtime/types";
/** A finite number (NaN and ±Infinity refused). */
export const finite = z.number().refine(Number.isFinite, "a finite number");
/** α: the fraction of all L·U units to share (the model-dependent maximum (L−1)/L is checked by the planner). */
export const ratioSchema = z.number().min(0).max(1);
/** Another writer holds the output folder's lock: wait for it (true, or at most this many ms) instead of refusing. */
export const waitSchema = z.union([z.boolean(), z.number().int().min(0)]);
