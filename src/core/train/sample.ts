/**
 * Text sampled from a model (ancestral sampling with temperature), as token ids: post-training
 * data that follows the original model's own distribution, so post-training does not drift toward
 * (or memorise) a small text. Batched, with the KV-cache decoder graph (`graph/kvCache.ts`, the one
 * `headshare export` writes): each step feeds only the newest token, O(G·T) token-positions.
 *
 *   token [G, 1] + past [G, Hkv, t−1, dh] ─► decoder ─► logits [G, 1, V] ─► / temperature ─► softmax ─► sample ─► token; present ─► past
 */
import { buildForward } from "../graph/forward";
import { ATTENTION_MASK, cacheHeads, pastKeyName, pastValueName, POSITION_IDS, presentKeyName, presentValueName } from "../graph/kvCache";
import { INPUT_IDS, LOGITS } from "../graph/types";
import type { Checkpoint } from "../model/checkpoint";
import { serializeModel } from "../onnx/serialize";
import { createSession, Tensor, type OrtTensor, type ProviderName } from "../runtime/ort";
import { TrainError } from "./errors";
import { providerLimits } from "../runtime/gpuLimits";
import { checkSamplingGpu } from "./gpuFit";
import { Rng } from "./rng";
import { pickToken } from "../generate/sampling";

export interface SampleOptions {
  /** Sequences generated in parallel. */
  readonly batch: number;
  /** Tokens per sequence, BOS included. */
  readonly length: number;
  /** Rounds of `batch` sequences. */
  readonly rounds: number;
  readonly temperature: number;
  readonly seed: number;
  readonly bos: number;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly intraOpThreads?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Returns `rounds · batch` sequences of `length` ids each (BOS first). */
export async function sampleSequences(ckpt: Checkpoint, params: ReadonlyMap<string, Float32Array>, o: SampleOptions): Promise<Int32Array[]> {
  if (!(o.temperature > 0)) throw new TrainError("bad-options", `sampling temperature must be > 0, got ${o.temperature}`);
  if (!Number.isInteger(o.length) || o.length < 2 || o.length > ckpt.spec.maxPositions) {
    throw new TrainError("bad-options", `sampled sequence length must be an integer in 2..${ckpt.spec.maxPositions}, got ${o.length}`);
  }
  const fwd = buildForward(ckpt, { kvCache: true });
  const { session, provider, adapter } = await createSession(serializeModel(fwd.graph), {
    label: "sampling forward",
    ...(o.providers ? { providers: o.providers } : {}),
    ...(o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}),
  });
  const limits = providerLimits(provider, adapter);
  try {
    if (limits)
      checkSamplingGpu(
        ckpt,
        fwd.weights.map((w) => [w.input, w.shape] as const),
        o.batch,
        o.length,
        limits,
      );
  } catch (e) {
    await session.release();
    throw e;
  }
  const spec = ckpt.spec,
    hkv = cacheHeads(spec),
    dh = spec.headDim;
  const weights: Record<string, OrtTensor> = {};
  for (const w of fwd.weights) weights[w.input] = new Tensor("float32", params.get(w.input)!, [...w.shape]);
  const V = ckpt.spec.vocab;
  const rng = new Rng(o.seed);
  const out: Int32Array[] = [];
  try {
    for (let round = 0; round < o.rounds; round++) {
      const G = o.batch,
        L = o.length;
      const seqs = Array.from({ length: G }, () => {
        const s = new Int32Array(L);
        s[0] = o.bos;
        return s;
      });
      let past: Record<string, OrtTensor> = {};
      const empty = new Tensor("float32", new Float32Array(0), [G, hkv, 0, dh]);
      for (let l = 0; l < spec.layers; l++) {
        past[pastKeyName(l)] = empty;
        past[pastValueName(l)] = empty;
      }
      for (let t = 1; t < L; t++) {
        if (o.signal?.aborted) throw new TrainError("cancelled", "sampling cancelled");
        const ids = BigInt64Array.from(seqs, (s) => BigInt(s[t - 1]!)); // [G, 1]: the newest token
        const res = await session.run({
          ...weights,
          ...past,
          [INPUT_IDS]: new Tensor("int64", ids, [G, 1]),
          [ATTENTION_MASK]: new Tensor("int64", new BigInt64Array(G * t).fill(1n), [G, t]),
          [POSITION_IDS]: new Tensor("int64", new BigInt64Array(G).fill(BigInt(t - 1)), [G, 1]),
        });
        past = {};
        for (let l = 0; l < spec.layers; l++) {
          past[pastKeyName(l)] = res[presentKeyName(l)]!;
          past[pastValueName(l)] = res[presentValueName(l)]!;
        }
        const logits = res[LOGITS]!.data as Float32Array; // [G, 1, V]
        for (let g = 0; g < G; g++) seqs[g]![t] = pickToken(logits, g * V, V, { temperature: o.temperature, topP: 1 }, rng);
      }
      out.push(...seqs);
      o.onProgress?.(round + 1, o.rounds);
    }
  } finally {
    await session.release();
  }
  return out;
}
