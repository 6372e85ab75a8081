/**
 * Held-out scoring of in-memory weights: one forward session (weights are inputs), each held-out
 * document scored on its own — BOS + tokens truncated to the model's max positions, every token
 * after BOS predicted (the protocol of ../shared/models/README.md §1: "each story separately").
 * Optionally keeps the next-token log-probabilities to compare two models (KL, top-1 agreement).
 *
 *   doc [n] ─► input_ids [1, n−1] = doc[0:n−1], targets [1, n−1] = doc[1:n] ─► nll [1, n−1] (Σ)
 */
import { buildForward } from "../graph/forward";
import { LOGPROBS, NLL } from "../graph/types";
import type { Checkpoint } from "../model/checkpoint";
import { serializeModel } from "../onnx/serialize";
import { createSession, Tensor, type InferenceSession, type OrtTensor, type ProviderName } from "../runtime/ort";
import { TrainError } from "./errors";
import { providerLimits, type GpuLimits } from "../runtime/gpuLimits";
import { checkHeldoutGpu } from "./gpuFit";

import type { Comparison, HeldoutScore } from "./results";
export type { Comparison, HeldoutScore };

export class HeldoutScorer {
  private constructor(
    private readonly session: InferenceSession,
    private readonly weightShapes: ReadonlyMap<string, readonly number[]>,
    private readonly maxLen: number,
    readonly vocab: number,
    readonly withLogprobs: boolean,
    /** The execution provider the session runs on. */
    readonly provider: ProviderName,
    /** On a GPU with buffer limits: the model and its limits, checked before each score (gpuFit.ts). */
    private readonly fit?: { readonly ckpt: Checkpoint; readonly limits: GpuLimits },
  ) {}

  static async create(
    ckpt: Checkpoint,
    opts: { withLogprobs?: boolean; providers?: readonly ProviderName[] | "auto"; intraOpThreads?: number } = {},
  ): Promise<HeldoutScorer> {
    const fwd = buildForward(ckpt, { logits: false, nll: true, logprobs: !!opts.withLogprobs });
    const { session, provider, adapter } = await createSession(serializeModel(fwd.graph), {
      label: "held-out forward",
      ...(opts.providers ? { providers: opts.providers } : {}),
      ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}),
    });
    const limits = providerLimits(provider, adapter);
    return new HeldoutScorer(
      session,
      new Map(fwd.weights.map((w) => [w.input, w.shape])),
      ckpt.spec.maxPositions,
      ckpt.spec.vocab,
      !!opts.withLogprobs,
      provider,
      limits ? { ckpt, limits } : undefined,
    );
  }

  private feeds(params: ReadonlyMap<string, Float32Array>, doc: Int32Array): { feeds: Record<string, OrtTensor>; n: number } {
    const n = Math.min(doc.length, this.maxLen) - 1;
    const ids = new BigInt64Array(n),
      tg = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = BigInt(doc[i]!);
      tg[i] = BigInt(doc[i + 1]!);
    }
    const feeds: Record<string, OrtTensor> = { input_ids: new Tensor("int64", ids, [1, n]), targets: new Tensor("int64", tg, [1, n]) };
    for (const [name, shape] of this.weightShapes) {
      const w = params.get(name);
      if (!w) throw new TrainError("bad-options", `held-out scoring: no values for weight "${name}"`);
      feeds[name] = new Tensor("float32", w, [...shape]);
    }
    return { feeds, n };
  }

  /** Scores the documents; with `keep`, returns each document's log-probs [n−1, V]. */
  async score(
    params: ReadonlyMap<string, Float32Array>,
    docs: readonly Int32Array[],
    signal?: AbortSignal,
  ): Promise<HeldoutScore & { logprobs?: Float32Array[] }> {
    let sum = 0,
      tokens = 0;
    const kept: Float32Array[] = [];
    if (this.fit) {
      const longest = Math.min(this.maxLen, Math.max(0, ...docs.map((d) => d.length))) - 1;
      if (longest > 0) checkHeldoutGpu(this.fit.ckpt, this.weightShapes, longest, this.fit.limits);
    }
    for (const doc of docs) {
      if (signal?.aborted) throw new TrainError("cancelled", "held-out scoring cancelled");
      if (doc.length < 2) continue;
      const { feeds } = this.feeds(params, doc);
      const out = await this.session.run(feeds);
      const nll = out[NLL]!.data as Float32Array;
      for (let i = 0; i < nll.length; i++) sum += nll[i]!;
      tokens += nll.length;
      if (this.withLogprobs) kept.push(Float32Array.from(out[LOGPROBS]!.data as Float32Array));
    }
    if (tokens === 0) throw new TrainError("bad-data", "the held-out text has no document with at least 2 tokens; give more held-out text");
    const nll = sum / tokens;
    return { nll, ppl: Math.exp(nll), tokens, documents: docs.length, ...(this.withLogprobs ? { logprobs: kept } : {}) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Mean KL(P ‖ Q) and top-1 agreement from per-document log-probs [n, V] of two models. */
export function compareLogprobs(p: readonly Float32Array[], q: readonly Float32Array[], vocab: number): Comparison {
  let kl = 0,
    agree = 0,
    n = 0;
  for (let d = 0; d < p.length; d++) {
    const a = p[d]!,
      b = q[d]!;
    for (let o = 0; o < a.length; o += vocab) {
      let s = 0,
        ia = 0,
        ib = 0;
      for (let v = 0; v < vocab; v++) {
        const la = a[o + v]!,
          lb = b[o + v]!;
        s += Math.exp(la) * (la - lb);
        if (la > a[o + ia]!) ia = v;
        if (lb > b[o + ib]!) ib = v;
      }
      kl += s;
      if (ia === ib) agree++;
      n++;
    }
  }
  return { kl: n ? kl / n : 0, top1Agreement: n ? agree / n : 1 };
}
