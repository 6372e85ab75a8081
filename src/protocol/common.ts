/** Small schemas every protocol file uses. */
import * as z from "zod";

/** An absolute path (POSIX `/…`, Windows `C:\…` or `\\server\…`): the worker resolves nothing against its own cwd. */
export const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^(\/|[A-Za-z]:[\\/]|\\\\)/, "an absolute path");
/** Execution providers the worker knows (mirrors `ProviderName` in src/core/runtime/ort.ts). */
export const providerNameSchema = z.enum(["cuda", "dml", "coreml", "webgpu", "cpu"]);
/** "auto" = the platform's default order (CUDA/DirectML/CoreML, then CPU). */
export const providersSchema = z.union([z.literal("auto"), z.array(providerNameSchema).min(1).max(5)]);
/** The execution providers a job may try, in order, or "auto". */
export type Providers = z.output<typeof providersSchema>;
/** The provider a job actually ran on, or "none" when it ran no ONNX graph. */
export const usedProviderSchema = z.enum(["cuda", "dml", "coreml", "webgpu", "cpu", "none"]);
/** A GPU adapter as far as it could be named (src/core/runtime/types.ts GpuAdapter). */
export const gpuAdapterSchema = z.object({
  vendor: z.string().max(200),
  device: z.string().max(500),
  backend: z.string().max(50),
  driver: z.string().max(4096).optional(),
  software: z.boolean(),
});
/**
 * Where a job's graphs ran (src/core/runtime/types.ts ComputeReport): the provider and adapter of its
 * first session, the providers skipped before it with why, and each session with nodes per provider.
 */
export const computeSchema = z.object({
  provider: providerNameSchema,
  adapter: gpuAdapterSchema.optional(),
  skipped: z.array(z.object({ provider: providerNameSchema, reason: z.string().max(4000) })).max(8),
  sessions: z
    .array(
      z.object({
        graph: z.string().max(200),
        provider: providerNameSchema,
        nodes: z.record(z.string().max(100), z.number().int().nonnegative()).optional(),
        cpuOps: z.record(z.string().max(100), z.number().int().nonnegative()).optional(),
      }),
    )
    .max(32),
  notes: z.array(z.string().max(2000)).max(16).optional(),
});
export type ComputeInfo = z.infer<typeof computeSchema>;
export { adapterLabel, computeText, sessionsText } from "../core/runtime/types";
/** A finite number (NaN and ±Infinity refused). */
export const finite = z.number().refine(Number.isFinite, "a finite number");
/** α: the fraction of all L·U units to share (the model-dependent maximum (L−1)/L is checked by the planner). */
export const ratioSchema = z.number().min(0).max(1);
