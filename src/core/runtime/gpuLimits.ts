/**
 * The WebGPU adapter's buffer limits that jobs size their tensors to before running (docs/gpu.md,
 * "GPU memory"). onnxruntime-node reports none of the device's limits (it asks Dawn for the
 * adapter's own maxBufferSize and maxStorageBufferBindingSize, but no API, option or log line gives
 * them back), so the limits are, in order:
 *
 *   1. HEADSHARE_GPU_LIMITS="maxBufferSize=2GiB,maxStorageBufferBindingSize=1GiB" (bytes, or with
 *      KiB/MiB/GiB), for a user who knows their adapter, and for the tests (a small limit forces splits;
 *      when set it sizes the jobs on every provider, CPU included: providerLimits);
 *   2. the limits Dawn gives a known adapter, from Dawn's source (vulkan.PhysicalDeviceVk,
 *      d3d12.PhysicalDeviceD3D12): NVIDIA on Vulkan caps one storage binding at 2 GiB − 4 (NVIDIA's
 *      driver reports maxStorageBufferRange 4 GiB − 1 and a maintenance4 maxBufferSize above it);
 *      D3D12 (every vendor but Qualcomm) reports 2 GiB for both;
 *   3. otherwise WebGPU's guaranteed minimums: maxBufferSize 256 MiB, maxStorageBufferBindingSize 128 MiB.
 *
 * A tensor must fit one buffer (maxBufferSize). An input larger than one binding is split by
 * onnxruntime over several bindings; outputs are not, so what a job can size (the match Gemm's
 * blocks, activations) is kept within maxStorageBufferBindingSize. CPU and CUDA have no such limits.
 */
import type { GpuAdapter, ProviderName } from "./types";
import { RuntimeError } from "./errors";

export interface GpuLimits {
  /** Largest buffer, bytes. */
  readonly maxBufferSize: number;
  /** Largest storage-buffer binding, bytes. */
  readonly maxStorageBufferBindingSize: number;
  /** Where these numbers come from, for messages ("WebGPU's guaranteed minimum", …). */
  readonly source: string;
}

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** WebGPU's guaranteed limits (every adapter allows at least these). */
export const SPEC_GPU_LIMITS: GpuLimits = {
  maxBufferSize: 256 * MIB,
  maxStorageBufferBindingSize: 128 * MIB,
  source: "WebGPU's guaranteed minimum (onnxruntime-node does not report the adapter's own limits; set HEADSHARE_GPU_LIMITS if yours allows more)",
};

export const GPU_LIMITS_ENV = "HEADSHARE_GPU_LIMITS";

const UNITS: Record<string, number> = { "": 1, b: 1, kib: 1024, mib: MIB, gib: GIB };

function parseBytes(text: string, key: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const v = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(v) || v < 4)
    throw new RuntimeError("bad-providers", `${GPU_LIMITS_ENV}: ${key}=${text} is not a size in bytes (write e.g. ${key}=268435456 or ${key}=256MiB)`);
  return v;
}

/** HEADSHARE_GPU_LIMITS parsed, or undefined when unset; throws RuntimeError("bad-providers") on a bad value. */
export function gpuLimitsFromEnv(value: string | undefined = process.env[GPU_LIMITS_ENV]): GpuLimits | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const out: Record<string, number> = {};
  for (const part of value.split(",")) {
    const [k, v] = part.split("=").map((s) => s.trim());
    if ((k !== "maxBufferSize" && k !== "maxStorageBufferBindingSize") || v === undefined)
      throw new RuntimeError(
        "bad-providers",
        `${GPU_LIMITS_ENV}: "${part}" is not maxBufferSize=BYTES or maxStorageBufferBindingSize=BYTES (comma-separated; e.g. maxBufferSize=2GiB,maxStorageBufferBindingSize=1GiB)`,
      );
    out[k] = parseBytes(v, k);
  }
  const maxBufferSize = out.maxBufferSize ?? Math.max(SPEC_GPU_LIMITS.maxBufferSize, out.maxStorageBufferBindingSize ?? 0);
  const maxStorageBufferBindingSize = Math.min(out.maxStorageBufferBindingSize ?? SPEC_GPU_LIMITS.maxStorageBufferBindingSize, maxBufferSize);
  return { maxBufferSize, maxStorageBufferBindingSize, source: `${GPU_LIMITS_ENV}=${value}` };
}

/** The limits jobs size WebGPU tensors to on `adapter` (see the file comment). */
export function gpuLimits(adapter: GpuAdapter | undefined, env: string | undefined = process.env[GPU_LIMITS_ENV]): GpuLimits {
  const fromEnv = gpuLimitsFromEnv(env);
  if (fromEnv) return fromEnv;
  if (adapter && !adapter.software) {
    if (adapter.backend === "vulkan" && adapter.vendor === "NVIDIA")
      return { maxBufferSize: 2 * GIB - 4, maxStorageBufferBindingSize: 2 * GIB - 4, source: "Dawn's limits for NVIDIA on Vulkan (2 GiB − 4)" };
    if (adapter.backend === "d3d12" && adapter.vendor !== "unknown" && !/qualcomm/i.test(adapter.vendor))
      return { maxBufferSize: 2 * GIB, maxStorageBufferBindingSize: 2 * GIB, source: "Dawn's limits on D3D12 (2 GiB)" };
  }
  return SPEC_GPU_LIMITS;
}

/**
 * The per-buffer limits a job on `provider` sizes its tensors to, or undefined where there are none:
 * the one place that decides which providers are sized, so that every job (match, eval, attention
 * maps, generate, training) asks the same question. WebGPU always has limits (gpuLimits). CPU, CUDA,
 * DirectML and CoreML have none known, unless HEADSHARE_GPU_LIMITS is set: sizing changes how a job
 * is cut, never its result, so a run on them then takes the path a GPU with those limits would (how
 * the tests check the sizing without a GPU); the source says so, for messages.
 */
export function providerLimits(
  provider: ProviderName,
  adapter: GpuAdapter | undefined,
  env: string | undefined = process.env[GPU_LIMITS_ENV],
): GpuLimits | undefined {
  if (provider === "webgpu") return gpuLimits(adapter, env);
  const fromEnv = gpuLimitsFromEnv(env);
  return fromEnv && { ...fromEnv, source: `${fromEnv.source}, applied on ${provider} too: unset it to run without these limits` };
}

/**
 * A tensor a job puts on the GPU: a weight (fed or resident; onnxruntime spreads an input over
 * several bindings, so it must fit one buffer) or an activation (an output of some node: one binding).
 */
export interface GpuTensor {
  readonly what: string;
  readonly shape: readonly number[];
  readonly kind: "weight" | "activation";
}

/** The limit a tensor of this kind must keep to. */
export function limitOf(kind: GpuTensor["kind"]): keyof Omit<GpuLimits, "source"> {
  return kind === "weight" ? "maxBufferSize" : "maxStorageBufferBindingSize";
}

const bytesOf = (t: GpuTensor): number => 4 * t.shape.reduce((a, b) => a * b, 1);

/** The first of `tensors` (float32) above its limit, or undefined when all fit. */
export function firstTooLarge(tensors: Iterable<GpuTensor>, limits: GpuLimits): GpuTensor | undefined {
  for (const t of tensors) if (bytesOf(t) > limits[limitOf(t.kind)]) return t;
  return undefined;
}

/** Throws gpuLimitError (with `advice`) for the first of `tensors` (float32) above its limit. */
export function checkGpuTensors(tensors: Iterable<GpuTensor>, limits: GpuLimits, advice: string): void {
  const t = firstTooLarge(tensors, limits);
  if (t) throw gpuLimitError(t.what, t.shape, bytesOf(t), limitOf(t.kind), limits, advice);
}

/**
 * The largest n in [1, max] for which every tensor of `tensorsAt(n)` fits (their sizes grow with
 * n), or 0 when none does: a job's longest window, most new tokens, or largest prefill piece.
 */
export function largestFitting(max: number, tensorsAt: (n: number) => GpuTensor[], limits: GpuLimits): number {
  let lo = 0,
    hi = max;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (firstTooLarge(tensorsAt(mid), limits)) hi = mid - 1;
    else lo = mid;
  }
  return lo;
}

/** `1.50 GiB`, `128 MiB`, `4096 bytes`. */
export function bytesText(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(2).replace(/\.00$/, "")} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(2).replace(/\.00$/, "")} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(2).replace(/\.00$/, "")} KiB`;
  return `${n} bytes`;
}

/** A tensor that cannot be split to fit: RuntimeError("gpu-limit") naming it, its size, the limit and what to do. */
export function gpuLimitError(
  what: string,
  shape: readonly number[],
  bytes: number,
  limitName: keyof Omit<GpuLimits, "source">,
  limits: GpuLimits,
  advice: string,
): RuntimeError {
  return new RuntimeError(
    "gpu-limit",
    `${what} [${shape.join(", ")}] float32 takes ${bytesText(bytes)}, more than the GPU allows (${limitName} ${bytesText(limits[limitName])}: ${limits.source}), and cannot be split further; ${advice}`,
  );
}
