/**
 * The only module that imports onnxruntime-node. Creates sessions on the first execution provider
 * that works: onnxruntime throws (instead of falling back) when a provider's binaries are missing,
 * so each provider is tried in order and the one actually used is reported.
 */
import "./noTelemetry"; // before onnxruntime-node loads
import * as ort from "onnxruntime-node";
import { RuntimeError } from "./errors";

export type ProviderName = "cuda" | "dml" | "coreml" | "webgpu" | "cpu";

export const PROVIDER_NAMES: readonly ProviderName[] = ["cuda", "dml", "coreml", "webgpu", "cpu"];

export { Tensor } from "onnxruntime-node";
export type { InferenceSession } from "onnxruntime-node";
/** The ORT tensor type (re-exported so no other module imports onnxruntime-node). */
export type OrtTensor = ort.Tensor;

/** Default order: CUDA on Linux/Windows, DirectML on Windows, CoreML on macOS, then CPU. */
export function defaultProviders(platform: NodeJS.Platform = process.platform): ProviderName[] {
  switch (platform) {
    case "win32": return ["cuda", "dml", "cpu"];
    case "darwin": return ["coreml", "cpu"];
    case "linux": return ["cuda", "cpu"];
    default: return ["cpu"];
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
}

export interface CreatedSession {
  readonly session: ort.InferenceSession;
  /** The provider the session actually runs on. */
  readonly provider: ProviderName;
  /** Why earlier providers were skipped (absent when the first choice worked). */
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

/** Creates an InferenceSession on the first provider that loads; falls back to CPU. */
export async function createSession(model: Uint8Array, opts: CreateSessionOptions = {}): Promise<CreatedSession> {
  if (!(model instanceof Uint8Array) || model.length === 0) {
    throw new RuntimeError("bad-model", "createSession needs the serialized ONNX model as a non-empty Uint8Array");
  }
  const threads = opts.intraOpThreads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0 || threads > 1024)) {
    throw new RuntimeError("bad-threads", `intraOpThreads must be an integer in 0..1024 (0 = ORT default), got ${threads}`);
  }
  if (!loggingConfigured) { configureLogging(); loggingConfigured = true; }
  const order = resolveProviders(opts.providers);
  if (!order.includes("cpu")) order.push("cpu");
  const failures: string[] = [];
  for (const provider of order) {
    const known = unavailable.get(provider);
    if (known) { failures.push(`${provider}: ${known}`); continue; }
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [provider],
        graphOptimizationLevel: "all",
        // a missing provider library is expected and reported through fallbackReason: keep ORT quiet
        ...(provider === "cpu" ? {} : { logSeverityLevel: 4 as const }),
        ...(threads ? { intraOpNumThreads: threads } : {}),
        ...(opts.allowSpinning === false ? { extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } } } : {}),
      });
      return failures.length ? { session, provider, fallbackReason: failures.join("; ") } : { session, provider };
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
      // A provider whose library cannot load will not load later in this process either.
      if (provider !== "cpu" && /load|not (?:supported|available|registered)|unknown|invalid/i.test(msg)) unavailable.set(provider, msg);
      failures.push(`${provider}: ${msg}`);
    }
  }
  throw new RuntimeError("no-provider", `no execution provider could load the model (${failures.join("; ")})`);
}
