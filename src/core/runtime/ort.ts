/**
 * The only module that imports onnxruntime-node. Creates sessions on the first execution provider
 * that works: onnxruntime throws (instead of falling back) when a provider's binaries are missing,
 * so each provider is tried in order and the one actually used is reported, with the GPU adapter
 * and why the providers before it were skipped.
 *
 * `auto` = CUDA where its libraries are installed, then WebGPU on a hardware adapter, then DirectML
 * (Windows) / CoreML (macOS), then CPU. A software adapter (SwiftShader, llvmpipe, WARP) is never
 * chosen by `auto`; it runs only when `webgpu` is asked for by name.
 */
import "./noTelemetry"; // before onnxruntime-node loads
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { webGpuProbe } from "./adapter";
import { currentComputeLog } from "./computeLog";
import { cudaLibraries } from "./cuda";
import { RuntimeError } from "./errors";
import { adapterLabel, type GpuAdapter, type ProviderName, type ProviderSkip } from "./types";

export type { ProviderName } from "./types";

export const PROVIDER_NAMES: readonly ProviderName[] = ["cuda", "dml", "coreml", "webgpu", "cpu"];

export { Tensor } from "onnxruntime-node";
/** The ORT tensor type (re-exported so no other module imports onnxruntime-node). */
export type OrtTensor = ort.Tensor;

/** The part of an onnxruntime session the core uses. */
export type InferenceSession = Pick<ort.InferenceSession, "run" | "release" | "inputNames" | "outputNames">;

/** `auto`'s order: CUDA, WebGPU, DirectML (Windows) / CoreML (macOS), then CPU. */
export function defaultProviders(platform: NodeJS.Platform = process.platform): ProviderName[] {
  switch (platform) {
    case "win32":
      return ["cuda", "webgpu", "dml", "cpu"];
    case "darwin":
      return ["webgpu", "coreml", "cpu"];
    case "linux":
      return ["cuda", "webgpu", "cpu"];
    default:
      return ["cpu"];
  }
}

export interface CreateSessionOptions {
  /** Providers to try in order, or "auto" (= defaultProviders()). CPU is always tried last. */
  readonly providers?: readonly ProviderName[] | "auto";
  /** Intra-op threads (default: ORT's choice, all cores). */
  readonly intraOpThreads?: number;
  /**
   * Let idle intra-op threads spin between ops (ORT's default: true). Turn off for sessions run
   * between long stretches of JS work, so idle threads do not take the cores from it.
   */
  readonly allowSpinning?: boolean;
  /** What the graph computes, for reports and errors ("match Gemm", "forward", ...). Default "graph". */
  readonly label?: string;
  /** The bytes of initializers stored as ONNX external data, by their `location` (no file is read). */
  readonly externalData?: readonly { readonly path: string; readonly data: Uint8Array }[];
}

export interface CreatedSession {
  readonly session: InferenceSession;
  /** The provider the session actually runs on. */
  readonly provider: ProviderName;
  /** The GPU adapter (WebGPU, CUDA) when it could be named. */
  readonly adapter?: GpuAdapter;
  /** Providers skipped before this one, with why. */
  readonly skipped: readonly ProviderSkip[];
  /** The same as one line (`cuda: …; webgpu: …`); absent when the first choice worked. */
  readonly fallbackReason?: string;
}

/** Validates a providers option; throws RuntimeError("bad-providers") naming the bad entry. */
export function resolveProviders(providers: readonly ProviderName[] | "auto" | undefined): ProviderName[] {
  if (providers === undefined || providers === "auto") return defaultProviders();
  if (!Array.isArray(providers) || providers.length === 0) {
    throw new RuntimeError("bad-providers", `execution providers must be "auto" or a non-empty list of ${PROVIDER_NAMES.join(", ")}`);
  }
  const out: ProviderName[] = [];
  for (const p of providers) {
    if (!PROVIDER_NAMES.includes(p)) {
      throw new RuntimeError("bad-providers", `unknown execution provider ${JSON.stringify(p)}: use one of ${PROVIDER_NAMES.join(", ")} or "auto"`);
    }
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/**
 * ORT logs a missing provider library as an error on stderr before throwing; the fallback reports
 * it instead (fallbackReason), so ORT's own log is kept to fatal messages unless
 * HEADSHARE_ORT_LOG_LEVEL (verbose|info|warning|error|fatal) asks for more. Errors still throw.
 */
const LOG_LEVELS = ["verbose", "info", "warning", "error", "fatal"] as const;
function configureLogging(): void {
  const wanted = process.env.HEADSHARE_ORT_LOG_LEVEL;
  ort.env.logLevel = LOG_LEVELS.find((l) => l === wanted) ?? "fatal";
}
let loggingConfigured = false;

/** Providers that failed to load in this process, with the reason (not retried). */
const unavailable = new Map<ProviderName, string>();

/** The NVIDIA GPU's name from the driver's /proc files (Linux), for the CUDA provider's report. */
function cudaAdapter(): GpuAdapter {
  try {
    const dir = "/proc/driver/nvidia/gpus";
    for (const d of fs.readdirSync(dir)) {
      const m = /Model:\s*(.+)/.exec(fs.readFileSync(path.join(dir, d, "information"), "utf8"));
      if (m) return { vendor: "NVIDIA", device: m[1]!.trim(), backend: "cuda", software: false };
    }
  } catch {
    /* not Linux, or no NVIDIA driver files */
  }
  return { vendor: "NVIDIA", device: "a CUDA device", backend: "cuda", software: false };
}

/** Checks before creating a session on `provider`: a reason to skip it, or the adapter it will use. */
export async function precheck(provider: ProviderName, auto: boolean): Promise<{ skip: string } | { adapter?: GpuAdapter }> {
  switch (provider) {
    case "cuda": {
      const libs = cudaLibraries();
      return libs.present ? { adapter: cudaAdapter() } : { skip: libs.reason! };
    }
    case "webgpu": {
      const probe = await webGpuProbe();
      if (!probe.ok) return { skip: probe.reason };
      if (probe.adapter.software && auto) {
        return {
          skip: `the only adapter is ${adapterLabel(probe.adapter)}, slower than the CPU provider; auto never picks a software adapter (name it: --providers webgpu)`,
        };
      }
      return { adapter: probe.adapter };
    }
    case "dml":
      return process.platform === "win32" ? {} : { skip: "DirectML runs on Windows only" };
    case "coreml":
      return process.platform === "darwin" ? {} : { skip: "CoreML runs on macOS only" };
    case "cpu":
      return {};
  }
}

/**
 * The provider createSession will most likely land on (the first in the order that its checks let
 * through), and its adapter: for choices made before a session exists (a GPU forward keeps its
 * weights resident). A session creation can still fail and fall back; the session says what ran.
 */
export async function likelyProvider(providers: readonly ProviderName[] | "auto" | undefined): Promise<{ provider: ProviderName; adapter?: GpuAdapter }> {
  const auto = providers === undefined || providers === "auto";
  for (const provider of resolveProviders(providers)) {
    if (unavailable.has(provider)) continue;
    const pre = await precheck(provider, auto);
    if (!("skip" in pre)) return { provider, ...(pre.adapter ? { adapter: pre.adapter } : {}) };
  }
  return { provider: "cpu" };
}

/** onnxruntime's provider names in profiles → ours. */
const EP_NAMES: Readonly<Record<string, string>> = {
  WebGpuExecutionProvider: "webgpu",
  CUDAExecutionProvider: "cuda",
  CPUExecutionProvider: "cpu",
  DmlExecutionProvider: "dml",
  CoreMLExecutionProvider: "coreml",
  TensorrtExecutionProvider: "tensorrt",
};

/**
 * Nodes per provider from an onnxruntime profile (one "Node" event per kernel run), and the op types
 * of the nodes left to the CPU. Exported for tests.
 */
export function placementFromProfile(json: string): { nodes: Record<string, number>; cpuOps: Record<string, number> } {
  const events = JSON.parse(json) as { cat?: string; name?: string; args?: { provider?: string; op_name?: string } }[];
  const seen = new Map<string, { provider: string; op: string }>();
  for (const e of events) {
    if (e.cat !== "Node" || !e.args?.provider || !e.name) continue;
    seen.set(e.name.replace(/_kernel_time$/, ""), { provider: EP_NAMES[e.args.provider] ?? e.args.provider, op: e.args.op_name ?? "?" });
  }
  const nodes: Record<string, number> = {},
    cpuOps: Record<string, number> = {};
  for (const { provider, op } of seen.values()) {
    nodes[provider] = (nodes[provider] ?? 0) + 1;
    if (provider === "cpu") cpuOps[op] = (cpuOps[op] ?? 0) + 1;
  }
  return { nodes, cpuOps };
}

/** A GPU run error that means the tensors did not fit the adapter (size limits or memory). */
const GPU_MEMORY =
  /Too many storage buffers|invalid due to a previous error|OUT_OF_DEVICE_MEMORY|out of memory|Allocation size too large|exceeds the max(?:imum)? (?:buffer|storage)|maxBufferSize|maxStorageBufferBindingSize|CUDA error.*memory|cudaErrorMemoryAllocation|Failed to allocate/i;

/** Profiles the first run (GPU providers: which nodes ran where) and turns GPU memory failures into a clear error. */
class ProviderSession implements InferenceSession {
  private profileDir: string | undefined;
  constructor(
    private readonly inner: ort.InferenceSession,
    private readonly provider: ProviderName,
    private readonly label: string,
    private readonly adapter: GpuAdapter | undefined,
    profileDir: string | undefined,
    private readonly placed: ((nodes: Record<string, number>, cpuOps: Record<string, number>) => void) | undefined,
  ) {
    this.profileDir = profileDir;
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  run: ort.InferenceSession["run"] = (async (feeds: ort.InferenceSession.FeedsType, fetches?: unknown, options?: unknown) => {
    let out;
    try {
      out = await (this.inner.run as (f: unknown, a?: unknown, b?: unknown) => Promise<ort.InferenceSession.ReturnType>)(feeds, fetches, options);
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
      const hit = this.provider !== "cpu" ? GPU_MEMORY.exec(msg) : null;
      if (hit) {
        const on = this.adapter ? `${this.provider} on ${adapterLabel(this.adapter)}` : this.provider;
        const node = /running (\S+) node\. Name:'([^']*)'/.exec(msg);
        const what = msg
          .slice(hit.index, hit.index + 160)
          .replace(/\s+/g, " ")
          .trim();
        throw new RuntimeError(
          "gpu-memory",
          `the ${this.label} graph does not fit the GPU (${on})${node ? ` at its ${node[1]} node ${node[2]}` : ""}: ${describeFeeds(feeds)}; a tensor was larger than the adapter allows in one buffer, or its memory ran out (${what}). Use a smaller window or batch, or run on the CPU (--providers cpu)`,
        );
      }
      throw e;
    } finally {
      this.collectPlacement();
    }
    return out;
  }) as ort.InferenceSession["run"];

  private collectPlacement(): void {
    const dir = this.profileDir;
    if (!dir) return;
    this.profileDir = undefined;
    try {
      this.inner.endProfiling();
      const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json"));
      const nodes: Record<string, number> = {},
        cpuOps: Record<string, number> = {};
      for (const f of files) {
        const p = placementFromProfile(fs.readFileSync(path.join(dir, f), "utf8"));
        for (const [k, n] of Object.entries(p.nodes)) nodes[k] = (nodes[k] ?? 0) + n;
        for (const [k, n] of Object.entries(p.cpuOps)) cpuOps[k] = (cpuOps[k] ?? 0) + n;
      }
      if (Object.keys(nodes).length) this.placed?.(nodes, cpuOps);
    } catch {
      /* placement is a report, never a failure */
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async release(): Promise<void> {
    if (this.profileDir) {
      fs.rmSync(this.profileDir, { recursive: true, force: true });
      this.profileDir = undefined;
    }
    await this.inner.release();
  }
}

/** The feeds' largest tensor, for the memory error. */
function describeFeeds(feeds: ort.InferenceSession.FeedsType): string {
  let biggest: { name: string; bytes: number; dims: readonly number[] } | undefined;
  let total = 0;
  for (const [name, t] of Object.entries(feeds)) {
    const bytes =
      (t as ort.Tensor).data instanceof ArrayBuffer || ArrayBuffer.isView((t as ort.Tensor).data) ? ((t as ort.Tensor).data as ArrayBufferView).byteLength : 0;
    total += bytes;
    if (!biggest || bytes > biggest.bytes) biggest = { name, bytes, dims: (t as ort.Tensor).dims };
  }
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return biggest ? `its inputs hold ${mib(total)}, the largest ${biggest.name} [${biggest.dims.join(", ")}] ${mib(biggest.bytes)}` : "no inputs";
}

/** Creates an InferenceSession on the first provider that loads; falls back to CPU. */
export async function createSession(model: Uint8Array, opts: CreateSessionOptions = {}): Promise<CreatedSession> {
  if (!(model instanceof Uint8Array) || model.length === 0) {
    throw new RuntimeError("bad-model", "createSession needs the serialized ONNX model as a non-empty Uint8Array");
  }
  const threads = opts.intraOpThreads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0 || threads > 1024)) {
    throw new RuntimeError("bad-threads", `intraOpThreads must be an integer in 0..1024 (0 = ORT default), got ${threads}`);
  }
  if (!loggingConfigured) {
    configureLogging();
    loggingConfigured = true;
  }
  const auto = opts.providers === undefined || opts.providers === "auto";
  const order = resolveProviders(opts.providers);
  if (!order.includes("cpu")) order.push("cpu");
  const label = opts.label ?? "graph";
  const skipped: ProviderSkip[] = [];
  for (const provider of order) {
    const known = unavailable.get(provider);
    if (known) {
      skipped.push({ provider, reason: known });
      continue;
    }
    const pre = await precheck(provider, auto);
    if ("skip" in pre) {
      skipped.push({ provider, reason: pre.skip });
      continue;
    }
    const profileDir = provider === "cpu" ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), "headshare-ort-profile-"));
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [provider],
        graphOptimizationLevel: "all",
        // a missing provider library is expected and reported through fallbackReason: keep ORT quiet
        ...(provider === "cpu" ? {} : { logSeverityLevel: 4 as const, enableProfiling: true, profileFilePrefix: path.join(profileDir!, "profile") }),
        ...(threads ? { intraOpNumThreads: threads } : {}),
        ...(opts.externalData ? { externalData: opts.externalData.map((d) => ({ path: d.path, data: d.data })) } : {}),
        ...(opts.allowSpinning === false ? { extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } } } : {}),
      });
      const placed = currentComputeLog()?.session(label, provider, pre.adapter, skipped);
      const wrapped = new ProviderSession(session, provider, label, pre.adapter, profileDir, placed);
      return {
        session: wrapped,
        provider,
        ...(pre.adapter ? { adapter: pre.adapter } : {}),
        skipped,
        ...(skipped.length ? { fallbackReason: skipped.map((s) => `${s.provider}: ${s.reason}`).join("; ") } : {}),
      };
    } catch (e) {
      if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
      const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
      // A provider whose library cannot load will not load later in this process either.
      if (provider !== "cpu" && /load|not (?:supported|available|registered)|unknown|invalid/i.test(msg)) unavailable.set(provider, msg);
      skipped.push({ provider, reason: msg });
    }
  }
  throw new RuntimeError("no-provider", `no execution provider could load the model (${skipped.map((s) => `${s.provider}: ${s.reason}`).join("; ")})`);
}
