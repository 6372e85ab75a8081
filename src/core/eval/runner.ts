/**
 * A forward graph bound to a session and its weights: weights are loaded once as ORT tensors and
 * reused for every batch; each `run` feeds token ids (and targets) of a right-padded batch.
 */
import type { Checkpoint } from "../model/checkpoint";
import { buildForward } from "../graph/forward";
import { loadWeightFeeds } from "../graph/feeds";
import { INPUT_IDS, TARGETS, type ForwardOptions } from "../graph/types";
import { serializeModel } from "../onnx/serialize";
import { createSession, Tensor, type InferenceSession, type OrtTensor, type ProviderName } from "../runtime/ort";
import type { SharingPlan } from "../share/types";

export interface RunnerOptions {
  readonly forward: ForwardOptions;
  /** A plan applied in memory to a dense checkpoint (sweep). */
  readonly plan?: SharingPlan;
  readonly providers?: readonly ProviderName[] | "auto";
  /** Intra-op threads (default: ORT's choice). */
  readonly threads?: number;
  readonly signal?: AbortSignal;
}

export interface RunOutput {
  /** float32 row-major. */
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export class ForwardRunner {
  private constructor(
    private readonly session: InferenceSession,
    private readonly weights: Record<string, OrtTensor>,
    readonly provider: ProviderName,
    readonly fallbackReason: string | undefined,
    readonly outputs: readonly string[],
    readonly hasTargets: boolean,
  ) {}

  static async create(ckpt: Checkpoint, opts: RunnerOptions): Promise<ForwardRunner> {
    const fg = buildForward(ckpt, opts.forward);
    const feeds = await loadWeightFeeds(ckpt, fg.weights, { ...(opts.plan ? { plan: opts.plan } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    const weights: Record<string, OrtTensor> = {};
    for (const f of feeds) weights[f.input] = new Tensor("float32", f.data, [...f.dims]);
    const created = await createSession(serializeModel(fg.graph), {
      ...(opts.providers ? { providers: opts.providers } : {}),
      ...(opts.threads ? { intraOpThreads: opts.threads } : {}),
    });
    return new ForwardRunner(created.session, weights, created.provider, created.fallbackReason, fg.outputs, !!opts.forward.nll);
  }

  /** ids/targets: int64 [batch, seq] row-major. Returns the requested outputs by name. */
  async run(ids: BigInt64Array, batch: number, seq: number, targets?: BigInt64Array, outputs?: readonly string[]): Promise<Record<string, RunOutput>> {
    const feeds: Record<string, OrtTensor> = { ...this.weights, [INPUT_IDS]: new Tensor("int64", ids, [batch, seq]) };
    if (this.hasTargets) feeds[TARGETS] = new Tensor("int64", targets ?? new BigInt64Array(batch * seq), [batch, seq]);
    const res = await this.session.run(feeds, outputs ? [...outputs] : [...this.outputs]);
    const out: Record<string, RunOutput> = {};
    for (const [k, t] of Object.entries(res)) out[k] = { data: t.data as Float32Array, dims: t.dims };
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
