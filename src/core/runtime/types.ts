/**
 * What the runtime reports about where graphs ran: zod schemas with the types inferred from them (the
 * worker protocol validates with these same schemas), and their one-line text forms, shared by the
 * CLI, the worker's log and the extension. Pure: the extension host bundles this file.
 */
import * as z from "zod";

/** The execution providers headshare knows, in no particular order ("auto" picks among them). */
export const PROVIDER_NAMES = ["cuda", "dml", "coreml", "webgpu", "cpu"] as const;
export const providerNameSchema = z.enum(PROVIDER_NAMES);
export type ProviderName = z.infer<typeof providerNameSchema>;

/** One GPU adapter as far as it can be named. */
export const gpuAdapterSchema = z.object({
  /** "NVIDIA", "AMD", "Intel", "Apple", "Google" (SwiftShader), "Mesa" (llvmpipe), "Microsoft" (WARP), or "unknown". */
  vendor: z.string().max(200),
  /** The device name as the driver reports it ("NVIDIA H100 80GB HBM3", "SwiftShader Device (Subzero)"). */
  device: z.string().max(500),
  /** "vulkan", "d3d12", "metal", "cuda". */
  backend: z.string().max(50),
  /** The driver library (Vulkan), when known. */
  driver: z.string().max(4096).optional(),
  /** A renderer on the CPU (SwiftShader, llvmpipe/lavapipe, WARP): `auto` never picks it. */
  software: z.boolean(),
});
export type GpuAdapter = z.infer<typeof gpuAdapterSchema>;

/** A provider that was not used, and why. */
export const providerSkipSchema = z.object({ provider: providerNameSchema, reason: z.string().max(4000) });
export type ProviderSkip = z.infer<typeof providerSkipSchema>;

const nodeCounts = z.record(z.string().max(100), z.number().int().nonnegative());

/** One ONNX session a job created: its graph, provider, and (after its first run) nodes per provider. */
export const sessionPlacementSchema = z.object({
  /** What the graph computes ("match Gemm", "forward", "train step", ...). */
  graph: z.string().max(200),
  provider: providerNameSchema,
  /**
   * Nodes of the optimized graph per provider that ran them, from onnxruntime's profile of the first
   * run ("webgpu", "cpu" for nodes the GPU provider left to the CPU, …). Absent on CPU (all there).
   */
  nodes: nodeCounts.optional(),
  /** Op types of the nodes a GPU provider left to the CPU, with counts (the 12 most frequent). */
  cpuOps: nodeCounts.optional(),
});
export type SessionPlacement = z.infer<typeof sessionPlacementSchema>;

/** Where a job's graphs ran: the provider and adapter of its first session, what was skipped, every session. */
export const computeReportSchema = z.object({
  provider: providerNameSchema,
  adapter: gpuAdapterSchema.optional(),
  skipped: z.array(providerSkipSchema).max(8),
  sessions: z.array(sessionPlacementSchema).max(32),
  /** What the job decided for the device, in words (which forward and why, batches cut to fit the GPU's limits). */
  notes: z.array(z.string().max(2000)).max(16).optional(),
});
export type ComputeReport = z.infer<typeof computeReportSchema>;

/** One execution provider of this machine (src/core/runtime/devices.ts checks it). */
export const computeDeviceSchema = z.object({
  provider: providerNameSchema,
  available: z.boolean(),
  adapter: gpuAdapterSchema.optional(),
  /** Why it is not available, or (available) why `auto` passes it over. */
  reason: z.string().max(4000).optional(),
});
export type ComputeDevice = z.infer<typeof computeDeviceSchema>;

/** The compute devices here: each provider checked, what `auto` runs on (and skipped), the WebGPU adapters listed. */
export const computeDevicesSchema = z.object({
  devices: z.array(computeDeviceSchema).max(8),
  /** What `auto` runs on, and what it skipped. */
  auto: computeReportSchema.pick({ provider: true, adapter: true, skipped: true }),
  /** Every WebGPU adapter the Vulkan loader listed (Linux), the one WebGPU uses among them. */
  adapters: z.array(gpuAdapterSchema).max(32),
});
export type ComputeDevices = z.infer<typeof computeDevicesSchema>;

/** `SwiftShader Device (Subzero) (Google, vulkan, software renderer)`. */
export function adapterLabel(a: GpuAdapter): string {
  return `${a.device} (${[a.vendor !== "unknown" ? a.vendor : "", a.backend, a.software ? "software renderer" : ""].filter(Boolean).join(", ")})`;
}

/** `webgpu: 41 nodes, cpu: 3 nodes`. */
export function placementText(nodes: Readonly<Record<string, number>>): string {
  return Object.entries(nodes)
    .sort((a, b) => b[1] - a[1])
    .map(([p, n]) => `${p}: ${n} node${n === 1 ? "" : "s"}`)
    .join(", ");
}

/** `webgpu — NVIDIA H100 80GB HBM3 (NVIDIA, vulkan)`, then `; cuda skipped: …` for each provider passed over. */
export function computeText(c: Pick<ComputeReport, "provider" | "adapter" | "skipped">): string {
  const head = c.adapter ? `${c.provider} — ${adapterLabel(c.adapter)}` : c.provider;
  return [head, ...c.skipped.map((s) => `${s.provider} skipped: ${s.reason}`)].join("; ");
}

/** `match Gemm on webgpu (webgpu: 1 node); forward on webgpu (webgpu: 40 nodes, cpu: 2 nodes)`. */
export function sessionsText(sessions: readonly SessionPlacement[]): string {
  return sessions
    .map(
      (s) =>
        `${s.graph} on ${s.provider}${
          s.nodes
            ? ` (${placementText(s.nodes)}${
                s.cpuOps
                  ? `; on the CPU: ${Object.entries(s.cpuOps)
                      .map(([op, n]) => `${op} ×${n}`)
                      .join(", ")}`
                  : ""
              })`
            : ""
        }`,
    )
    .join("; ");
}
