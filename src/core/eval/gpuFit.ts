/**
 * The forwards on a GPU with buffer limits (runtime/gpuLimits.ts), sized before they run: every
 * weight must fit one buffer (a weight cannot be split: refused, naming it), and a batch's
 * activations must fit one storage binding (outputs are not split over bindings by onnxruntime),
 * which caps the tokens per batch; when one window alone does not fit, it is refused naming the
 * activation. The largest activations of a batch of N tokens are, per token:
 *
 *   logits   [N, V]        the head's output, before LogSoftmax (whole-model; the layer-streamed
 *                          head runs in vocabulary chunks [M, Vc] instead: memoryBudget.ts)
 *   MLP      [N, ffn]      the gate/up projections
 *   scores   [N, H · c]    the attention scores of a query chunk (c = the chunk, or the sequence)
 *   hidden   [N, d]        the residual stream
 */
import type { Checkpoint } from "../model/checkpoint";
import type { WeightInput } from "../graph/types";
import { checkGpuTensors, gpuLimitError, type GpuLimits } from "../runtime/gpuLimits";

/** The sizes of a forward that set its activations. */
export interface ForwardSizes {
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  readonly vocab: number;
}

/** An activation: its name, float32 values per token, and its shape for `seq` tokens of one window. */
export type TokenActivation = readonly [name: string, perToken: number, shape: (seq: number) => number[]];

/** One decoder layer's largest activations per token, for sequences of `seq` with query chunks `chunk` (0: full attention). */
export function layerActivations(s: Omit<ForwardSizes, "vocab">, seq: number, chunk: number): TokenActivation[] {
  const c = chunk > 0 && chunk < seq ? chunk : seq;
  return [
    ["MLP activations", s.ffn, (n) => [1, n, s.ffn]],
    ["attention scores", s.heads * c, (n) => [1, s.heads, n, c]],
    ["hidden states", s.hidden, (n) => [1, n, s.hidden]],
  ];
}

/**
 * The most tokens per batch whose activations `acts` each fit one storage binding. Throws
 * RuntimeError("gpu-limit") naming the largest (prefixed by `file`) when `seq` tokens alone do not fit.
 */
export function tokensThatFit(file: string, acts: readonly TokenActivation[], seq: number, limits: GpuLimits, advice: string): number {
  const [name, perToken, shape] = acts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const cap = Math.floor(limits.maxStorageBufferBindingSize / (4 * perToken));
  if (cap < seq)
    throw gpuLimitError(`${file}: the forward's ${name} of one window`, shape(seq), 4 * seq * perToken, "maxStorageBufferBindingSize", limits, advice);
  return cap;
}

export const WINDOW_ADVICE = "use a shorter window (--window), or --providers cpu";

/** Throws RuntimeError("gpu-limit") for the first weight whose float32 copy exceeds maxBufferSize. */
export function checkGpuWeights(ckpt: Checkpoint, weights: readonly WeightInput[], limits: GpuLimits): void {
  checkGpuTensors(
    weights.map((w) => ({ what: `${ckpt.weightsPath}: the weight ${w.tensor}`, shape: w.shape, kind: "weight" as const })),
    limits,
    "evaluate it with --providers cpu (or, when the adapter allows larger buffers, say so with HEADSHARE_GPU_LIMITS)",
  );
}

/**
 * The most tokens per whole-model batch whose activations fit one storage binding, for sequences
 * of `seq` tokens with attention query chunks of `chunk` (0: full attention). Throws
 * RuntimeError("gpu-limit") naming the activation when one sequence alone does not fit.
 */
export function gpuBatchTokens(ckpt: Checkpoint, seq: number, chunk: number, limits: GpuLimits): number {
  const { vocab, intermediate, heads, hidden } = ckpt.spec;
  const acts: TokenActivation[] = [["logits", vocab, (n) => [1, n, vocab]], ...layerActivations({ hidden, heads, ffn: intermediate }, seq, chunk)];
  return tokensThatFit(ckpt.weightsPath, acts, seq, limits, WINDOW_ADVICE);
}
