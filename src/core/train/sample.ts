/**
 * Text sampled from a model (ancestral sampling with temperature), as token ids: post-training
 * data that follows the original model's own distribution, so post-training does not drift toward
 * (or memorise) a small text. Batched; no KV cache (each new token re-runs the prefix — fine for
 * the small models we post-train, O(G·T²) token-positions in all).
 *
 *   seqs [G, t] ─► forward ─► logits [G, t, V] ─► Slice: last position [G, 1, V] ─► / temperature ─► softmax ─► sample ─► seqs [G, t+1]
 */
import { buildForward } from "../graph/forward";
import { LOGITS } from "../graph/types";
import type { Checkpoint } from "../model/checkpoint";
import type { IrGraph, IrTensor } from "../onnx/ir";
import { serializeModel } from "../onnx/serialize";
import { createSession, Tensor, type OrtTensor, type ProviderName } from "../runtime/ort";
import { TrainError } from "./errors";
import { Rng } from "./rng";

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
  const fwd = buildForward(ckpt, { logits: true });
  // Only the last position's logits leave the session: [G, 1, V] instead of [G, t, V].
  const LAST = "last_logits";
  const ints = (name: string, v: number[]): IrTensor => ({ name, type: "int64", dims: [v.length], data: BigInt64Array.from(v, (x) => BigInt(x)) });
  const graph: IrGraph = {
    ...fwd.graph,
    nodes: [...fwd.graph.nodes, { name: "/sample/last/Slice", op: "Slice", inputs: [LOGITS, "/sample/last/start", "/sample/last/end", "/sample/last/axes"], outputs: [LAST] }],
    initializers: [...fwd.graph.initializers, ints("/sample/last/start", [-1]), ints("/sample/last/end", [2 ** 62]), ints("/sample/last/axes", [1])],
    outputs: [{ name: LAST, type: "float32", shape: ["batch", 1, ckpt.spec.vocab] }],
  };
  const { session } = await createSession(serializeModel(graph), {
    label: "sampling forward",
    ...(o.providers ? { providers: o.providers } : {}),
    ...(o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}),
  });
  const V = ckpt.spec.vocab;
  const rng = new Rng(o.seed);
  const out: Int32Array[] = [];
  const probs = new Float64Array(V);
  try {
    for (let round = 0; round < o.rounds; round++) {
      const G = o.batch, L = o.length;
      const seqs = Array.from({ length: G }, () => { const s = new Int32Array(L); s[0] = o.bos; return s; });
      for (let t = 1; t < L; t++) {
        if (o.signal?.aborted) throw new TrainError("cancelled", "sampling cancelled");
        const ids = new BigInt64Array(G * t);
        for (let g = 0; g < G; g++) for (let i = 0; i < t; i++) ids[g * t + i] = BigInt(seqs[g]![i]!);
        const feeds: Record<string, OrtTensor> = { input_ids: new Tensor("int64", ids, [G, t]) };
        for (const w of fwd.weights) feeds[w.input] = new Tensor("float32", params.get(w.input)!, [...w.shape]);
        const res = await session.run(feeds);
        const logits = res[LAST]!.data as Float32Array; // [G, 1, V]
        for (let g = 0; g < G; g++) {
          const base = g * V;
          let max = -Infinity;
          for (let v = 0; v < V; v++) max = Math.max(max, logits[base + v]! / o.temperature);
          let z = 0;
          for (let v = 0; v < V; v++) { probs[v] = Math.exp(logits[base + v]! / o.temperature - max); z += probs[v]!; }
          let u = rng.next() * z, pick = V - 1;
          for (let v = 0; v < V; v++) { u -= probs[v]!; if (u <= 0) { pick = v; break; } }
          seqs[g]![t] = pick;
        }
      }
      out.push(...seqs);
      o.onProgress?.(round + 1, o.rounds);
    }
  } finally {
    await session.release();
  }
  return out;
}
