/**
 * The whole-model forward on WebGPU, sized to the adapter's buffer limits (runtime/gpuLimits.ts)
 * before it runs: every weight must fit one buffer (a weight cannot be split: refused, naming it),
 * and a batch's activations must fit one storage binding (outputs are not split over bindings by
 * onnxruntime), which caps the tokens per batch; when one window alone does not fit, it is refused
 * naming the activation. The largest activations of a batch of N tokens are, per token:
 *
 *   logits   [N, V]        the head's output, before LogSoftmax
 *   MLP      [N, ffn]      the gate/up projections
 *   scores   [N, H · c]    the attention scores of a query chunk (c = the chunk, or the sequence)
 */
import type { Checkpoint } from "../model/checkpoint";
import type { WeightInput } from "../graph/types";
import { gpuLimitError, type GpuLimits } from "../runtime/gpuLimits";

/** Throws RuntimeError("gpu-limit") for the first weight whose float32 copy exceeds maxBufferSize. */
export function checkGpuWeights(ckpt: Checkpoint, weights: readonly WeightInput[], limits: GpuLimits): void {
  for (const w of weights) {
    const bytes = 4 * w.shape.reduce((a, b) => a * b, 1);
    if (bytes > limits.maxBufferSize)
      throw gpuLimitError(
        `${ckpt.weightsPath}: the weight ${w.tensor}`,
        w.shape,
        bytes,
        "maxBufferSize",
        limits,
        "evaluate it with --providers cpu (or, when the adapter allows larger buffers, say so with HEADSHARE_GPU_LIMITS)",
      );
  }
}

/**
 * The most tokens per batch whose activations fit one storage binding, for sequences of `seq`
 * tokens with attention query chunks of `chunk` (0: full attention). Throws RuntimeError("gpu-limit")
 * naming the activation when one sequence alone does not fit.
 */
export function gpuBatchTokens(ckpt: Checkpoint, seq: number, chunk: number, limits: GpuLimits): number {
  const { vocab, intermediate, heads, hidden } = ckpt.spec;
  const c = chunk > 0 && chunk < seq ? chunk : seq;
  const acts: [string, number][] = [
    ["logits", vocab],
    ["MLP activations", intermediate],
    ["attention scores", heads * c],
    ["hidden states", hidden],
  ];
  const [name, perToken] = acts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const cap = Math.floor(limits.maxStorageBufferBindingSize / (4 * perToken));
  if (cap < seq)
    throw gpuLimitError(
      `${ckpt.weightsPath}: the forward's ${name} of one window`,
      name === "attention scores" ? [1, heads, seq, c] : [1, seq, perToken],
      4 * seq * perToken,
      "maxStorageBufferBindingSize",
      limits,
      "use a shorter window (--window), or --providers cpu",
    );
  return cap;
}
