/**
 * What the runtime reports about where graphs ran (the protocol mirrors these in src/protocol/common.ts),
 * and their one-line text forms, shared by the CLI, the worker's log and the extension.
 */

export type ProviderName = "cuda" | "dml" | "coreml" | "webgpu" | "cpu";

/** One GPU adapter as far as it can be named. */
export interface GpuAdapter {
  /** "NVIDIA", "AMD", "Intel", "Apple", "Google" (SwiftShader), "Mesa" (llvmpipe), "Microsoft" (WARP), or "unknown". */
  readonly vendor: string;
  /** The device name as the driver reports it ("NVIDIA H100 80GB HBM3", "SwiftShader Device (Subzero)"). */
  readonly device: string;
  /** "vulkan", "d3d12", "metal", "cuda". */
  readonly backend: string;
  /** The driver library (Vulkan), when known. */
  readonly driver?: string;
  /** A renderer on the CPU (SwiftShader, llvmpipe/lavapipe, WARP): `auto` never picks it. */
  readonly software: boolean;
}

/** A provider that was not used, and why. */
export interface ProviderSkip {
  readonly provider: ProviderName;
  readonly reason: string;
}

/** One ONNX session a job created: its graph, provider, and (after its first run) nodes per provider. */
export interface SessionPlacement {
  /** What the graph computes ("match Gemm", "forward", "train step", ...). */
  readonly graph: string;
  readonly provider: ProviderName;
  /**
   * Nodes of the optimized graph per provider that ran them, from onnxruntime's profile of the first
   * run ("webgpu", "cpu" for nodes the GPU provider left to the CPU, …). Absent on CPU (all there).
   */
  readonly nodes?: Record<string, number>;
  /** Op types of the nodes a GPU provider left to the CPU, with counts (the 12 most frequent). */
  readonly cpuOps?: Record<string, number>;
}

/** Where a job's graphs ran: the provider and adapter of its first session, what was skipped, every session. */
export interface ComputeReport {
  readonly provider: ProviderName;
  readonly adapter?: GpuAdapter;
  readonly skipped: ProviderSkip[];
  readonly sessions: SessionPlacement[];
  /** What the job decided for the device, in words (which forward and why, batches cut to fit the GPU's limits). */
  readonly notes?: string[];
}

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
