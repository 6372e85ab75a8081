/**
 * Generation on a GPU with buffer limits (runtime/gpuLimits.ts), sized before the first step. A
 * step feeding n tokens after a cache of T − n holds, per layer (each one tensor, outputs: one
 * storage binding each):
 *
 *   present key / value   [1, Hkv, T, dh]   the KV cache: grows with every new token
 *   attention scores      [1, H, n, T]
 *   logits                [1, n, V]
 *   MLP                   [1, n, ffn]
 *
 * T is at most prompt + max tokens − 1 (and the model's context). When the last decode step (n = 1)
 * cannot fit, the job is refused, saying how many new tokens would; a prompt whose prefill does not
 * fit is fed in pieces through the cache (each piece's logits are discarded but the last's).
 * Without the cache (the reference loop) every step feeds the whole sequence: refused when it does not fit.
 */
import type { Checkpoint } from "../model/checkpoint";
import { cacheHeads } from "../graph/kvCache";
import { noteCompute } from "../runtime/computeLog";
import { bytesText, checkGpuTensors, firstTooLarge, largestFitting, type GpuLimits, type GpuTensor } from "../runtime/gpuLimits";

/** The tensors of one step feeding n tokens to each of `batch` sequences with a cache (past + n) of T. */
export function generationGpuTensors(ckpt: Checkpoint, T: number, n: number, batch = 1): GpuTensor[] {
  const { heads: H, headDim: dh, vocab: V, intermediate: ffn, hidden: d } = ckpt.spec;
  const f = ckpt.weightsPath;
  return [
    { what: `${f}: one layer's KV cache (present key or value)`, shape: [batch, cacheHeads(ckpt.spec), T, dh], kind: "activation" },
    { what: `${f}: one layer's attention scores`, shape: [batch, H, n, T], kind: "activation" },
    { what: `${f}: the logits`, shape: [batch, n, V], kind: "activation" },
    { what: `${f}: the MLP activations`, shape: [batch, n, ffn], kind: "activation" },
    { what: `${f}: the hidden states`, shape: [batch, n, d], kind: "activation" },
  ];
}

/**
 * Checks a generation of up to `maxTokens` new tokens after a prompt of `prompt` tokens against
 * `limits`; returns the most prompt tokens one step may feed (Infinity: no limit). Throws
 * RuntimeError("gpu-limit") naming the tensor when the run cannot fit.
 */
export function generationGpuPlan(ckpt: Checkpoint, prompt: number, maxTokens: number, cached: boolean, limits: GpuLimits): number {
  if (maxTokens === 0) return Infinity;
  const context = ckpt.spec.maxPositions;
  const cacheAt = (k: number): number => Math.min(prompt + k - 1, context); // the longest cache after k new tokens
  const T = cacheAt(maxTokens);
  const stepAt = (k: number): GpuTensor[] => (cached ? generationGpuTensors(ckpt, cacheAt(k), 1) : generationGpuTensors(ckpt, cacheAt(k), cacheAt(k)));
  if (firstTooLarge(stepAt(maxTokens), limits)) {
    const k = largestFitting(maxTokens, stepAt, limits);
    checkGpuTensors(
      stepAt(maxTokens),
      limits,
      k > 0
        ? `generate at most ${k} new tokens after this ${prompt}-token prompt (--max-tokens ${k}), or use --providers cpu`
        : `the ${prompt}-token prompt alone does not fit${cached ? "" : " without the KV cache"}: shorten it, or use --providers cpu`,
    );
  }
  if (!cached) return Infinity;
  const piece = largestFitting(prompt, (n) => generationGpuTensors(ckpt, T, n), limits); // ≥ 1: a decode step fits
  if (piece < prompt)
    noteCompute(
      `generate: the ${prompt}-token prompt is prefilled in pieces of ${piece} tokens so that each step's logits and attention scores fit one GPU storage binding (${bytesText(limits.maxStorageBufferBindingSize)}: ${limits.source})`,
    );
  return piece;
}
