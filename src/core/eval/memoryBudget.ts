/**
 * The memory budget of an evaluation (setting `headshare.eval.memoryBudgetGiB`, CLI
 * `--memory-budget GiB`; default the smaller of 4 GiB and a quarter of this machine's memory), and
 * how the layer-streamed forward fits it: the peak is estimated before anything runs as
 *
 *   peak ≈ W_layer + R + C + K + N · (a + 8 · m · d) + V_c · (h + 12 · g · M)
 *
 *   W_layer  one layer's weights as float32 (4 bytes × its parameters, the largest layer; summed
 *            over the checkpoints scored together, e.g. a model and the one it is compared with)
 *   R        one layer's weights in their stored dtype (the read arena: the next layer's bytes are
 *            read into it while this layer runs, then widened into W_layer's reused arrays; also
 *            summed over checkpoints)
 *   C        the original values of the slices a plan overwrites in place in one layer, kept to put
 *            them back (4 bytes × the targets' q/k/v/o slices of the layer with the most targets)
 *   K        the roots' slices kept in their stored dtype from the root's layer to its last target's
 *            layer (the most alive at once); only when they fit beside the rest: else 0, and the
 *            roots are read from the file where the targets need them
 *   N        padded tokens per pass (windows scored together), a = 4 · (8d + 3·ffn) + 8 · H · c
 *            the block's activations per token (c = the attention query chunk, or the window)
 *   m, g     models scored together, and distinct hidden streams (≤ m); 8 · m · d: hidden in + out
 *   V_c, M   the vocabulary chunk of the head and the predicted tokens of a pass (≤ N); 12 · g · M:
 *            the head graph's logits, their exponentials and the KL's differences inside
 *            onnxruntime, [M, V_c] float32 each per stream (only [M, 1] statistics leave it)
 *   h        bytes per head row: two reused slots (the chunk the head runs on, and the next one read
 *            meanwhile), each its stored bytes and float32 values: 2 · (e + 4) · d, e the stored
 *            dtype's bytes (BF16: 12 · d), summed over the checkpoints scored together
 *
 * plus Node and onnxruntime themselves (≈ 150 MB, not counted). The budget picks N (as many windows
 * as fit, at least one) and V_c (a multiple of 256, at most the vocabulary and 16,384); when one window and
 * the smallest chunk do not fit, it refuses with the numbers.
 *
 * On a GPU with buffer limits (`gpu`: runtime/gpuLimits.ts) the same choice also keeps every tensor
 * of a pass within one storage binding (docs/gpu.md, "GPU memory"): N so that each block activation
 * [N, ffn], [N, H·c], [N, d] and the head's logits chunk [(m − 1)·N, 256] (the streams stacked beside the
 * reference; [N, 256] for one model) fit, and V_c so that the logits chunk
 * [N, V_c] and the head's weight chunk [V_c, d] (lm_head rows, fed per chunk: the head weight is never
 * one buffer) fit; when one window or the smallest chunk cannot, it refuses naming the tensor
 * (RuntimeError "gpu-limit"). The layer weights themselves are checked by the caller (checkGpuWeights).
 */
import os from "node:os";
import { EvalError } from "./errors";
import type { MemoryChoice } from "./results";
import { gpuLimitError, bytesText, type GpuLimits } from "../runtime/gpuLimits";
import { layerActivations, tokensThatFit, WINDOW_ADVICE } from "./gpuFit";

export const GIB = 2 ** 30;

/** Largest vocabulary chunk: logits of a big vocabulary (32k, 128k+) never exist as one [tokens, vocab] array. */
export const MAX_VOCAB_CHUNK = 16384;

/** [M, V_c] float32 arrays per stream inside the head graph (logits, exponentials, KL differences). */
const HEAD_ARRAYS = 3;

/** min(4 GiB, a quarter of this machine's memory). */
export function defaultMemoryBudget(totalBytes = os.totalmem()): number {
  return Math.min(4 * GIB, Math.floor(totalBytes / 4));
}

/** A budget in GiB from an option or setting, validated; undefined → the default. */
export function memoryBudgetBytes(gib: number | undefined): number {
  if (gib === undefined) return defaultMemoryBudget();
  if (typeof gib !== "number" || !Number.isFinite(gib) || gib <= 0)
    throw new EvalError("bad-option", `the memory budget must be a positive number of GiB, got ${gib}`);
  return Math.floor(gib * GIB);
}

export interface StreamSizes {
  /** Largest layer's weights as float32. */
  readonly layerWeightBytes: number;
  /** Largest layer's weights in their stored dtype (the read arena of the prefetch). */
  readonly readBufferBytes: number;
  /** Original values of the slices one plan overwrites in one layer (the largest). */
  readonly savedBytes: number;
  /** The plans' root slices kept in memory (their stored dtype; the most alive at once). */
  readonly rootSliceBytes: number;
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  readonly vocab: number;
  /** Models scored together (hidden streams at most). */
  readonly models: number;
  /** Longest window (padded tokens of one window) and the text's padded tokens in all. */
  readonly window: number;
  readonly totalTokens: number;
  /** Attention query chunk (0 = full attention). */
  readonly attentionChunk: number;
  /** Bytes per vocabulary row of the head's two reused slots (h above; summed over checkpoints). */
  readonly headRowBytes: number;
}

export type { MemoryChoice };

/** Bytes for a message: GiB from 0.1 GiB up, else MiB. */
export const gib = (x: number): string => (x >= 0.1 * GIB ? `${(x / GIB).toFixed(2)} GiB` : `${(x / 2 ** 20).toFixed(2)} MiB`);

export function estimatePeak(s: StreamSizes, tokens: number, vocabChunk: number): MemoryChoice["parts"] {
  const c = s.attentionChunk > 0 ? Math.min(s.attentionChunk, s.window) : s.window;
  const perToken = 4 * (8 * s.hidden + 3 * s.ffn) + 8 * s.heads * c + 8 * s.models * s.hidden;
  return {
    layerWeights: s.layerWeightBytes,
    readBuffer: s.readBufferBytes,
    planSaved: s.savedBytes,
    rootSlices: s.rootSliceBytes,
    activations: tokens * perToken,
    head: vocabChunk * (s.headRowBytes + HEAD_ARRAYS * 4 * s.models * tokens),
  };
}

const total = (p: MemoryChoice["parts"]): number => p.layerWeights + p.readBuffer + p.planSaved + p.rootSlices + p.activations + p.head;

/** chooseMemory's choice; `gpuNote` says what the GPU's limits cut (for the job's log), when they did. */
export type SizedMemory = MemoryChoice & { readonly gpuNote?: string };

/**
 * The most tokens per pass and the largest vocabulary chunk (per pass of N tokens) that the GPU's
 * storage binding allows (see the file comment); refuses naming the tensor when one window cannot fit.
 */
function gpuCaps(s: StreamSizes, gpu: GpuLimits, minChunk: number, file: string): { tokens: number; vocabChunk: (tokens: number) => number } {
  const B = gpu.maxStorageBufferBindingSize;
  const rows = 4 * minChunk * s.hidden;
  if (rows > B)
    throw gpuLimitError(
      `${file}: the head's weight chunk (lm_head rows)`,
      [minChunk, s.hidden],
      rows,
      "maxStorageBufferBindingSize",
      gpu,
      "evaluate it with --providers cpu",
    );
  const acts = layerActivations(s, s.window, s.attentionChunk);
  // the head stacks the streams beside the reference: [(m − 1)·N, V_c] logits in one binding
  const stacked = Math.max(1, s.models - 1);
  const tokens = tokensThatFit(file, [...acts, ["head's logits chunk", minChunk, (n) => [stacked * n, minChunk]]], s.window, gpu, WINDOW_ADVICE);
  return { tokens, vocabChunk: (n) => Math.floor(B / (4 * Math.max(s.hidden, stacked * n))) };
}

/**
 * Picks tokens per pass and the vocabulary chunk to fit `budget` (and, with `gpu`, the GPU's buffer
 * limits); refuses (naming `file`) when one window cannot.
 */
export function chooseMemory(sizes: StreamSizes, budget: number, file: string, gpu?: GpuLimits): SizedMemory {
  const without = chooseWith({ ...sizes, rootSliceBytes: 0 }, budget, file, gpu);
  if (sizes.rootSliceBytes === 0) return without;
  // the roots' slices are kept only when the passes stay as they are (a pass more reads every layer
  // again: far dearer than reading the roots from the file) and the head's chunk stays large
  try {
    const kept = chooseWith(sizes, budget, file, gpu);
    if (kept.tokensPerPass === without.tokensPerPass && kept.vocabChunk >= Math.min(without.vocabChunk, ROOTS_MIN_CHUNK)) return kept;
  } catch (e) {
    if (!(e instanceof EvalError && e.code === "too-large")) throw e;
  }
  return without;
}

/** The smallest vocabulary chunk the roots' slices may leave (fewer, larger head runs beat them). */
const ROOTS_MIN_CHUNK = 4096;

function chooseWith(s: StreamSizes, budget: number, file: string, gpu?: GpuLimits): SizedMemory {
  const minChunk = Math.min(s.vocab, 256);
  const floor = estimatePeak(s, s.window, minChunk);
  if (total(floor) > budget) {
    throw new EvalError(
      "too-large",
      `${file}: one layer needs about ${gib(total(floor))} (weights ${gib(floor.layerWeights)} as float32, read buffer ${gib(floor.readBuffer)}, plan's overwritten slices ${gib(floor.planSaved)}, activations of one ${s.window}-token window ${gib(floor.activations)}, head chunk ${gib(floor.head)}), more than the memory budget of ${gib(budget)}; raise --memory-budget (setting headshare.eval.memoryBudgetGiB) to at least ${Math.ceil((total(floor) / GIB) * 1000) / 1000} GiB`,
    );
  }
  const caps = gpu ? gpuCaps(s, gpu, minChunk, file) : undefined;
  // tokens: up to 3/4 of what is left after one layer; the vocabulary chunk takes the rest
  const fixed = floor.layerWeights + floor.readBuffer + floor.planSaved + floor.rootSlices;
  const perToken = estimatePeak(s, 1, 0).activations;
  const byBudget = Math.max(s.window, Math.min(s.totalTokens, Math.floor((0.75 * (budget - fixed)) / perToken)));
  let tokens = Math.min(byBudget, caps?.tokens ?? Infinity);
  let vocabChunk = 0,
    gpuCutChunk = false;
  for (;;) {
    const left = budget - fixed - tokens * perToken;
    const fromBudget = Math.floor(left / (s.headRowBytes + HEAD_ARRAYS * 4 * s.models * tokens));
    const fromGpu = caps ? caps.vocabChunk(tokens) : Infinity;
    const raw = Math.min(fromBudget, fromGpu);
    const cap = Math.min(s.vocab, MAX_VOCAB_CHUNK);
    const vc = raw >= cap ? cap : Math.floor(raw / 256) * 256;
    if (vc >= minChunk) {
      vocabChunk = vc;
      gpuCutChunk = fromGpu < fromBudget && fromGpu < cap;
      break;
    }
    tokens = Math.max(s.window, Math.floor(tokens / 2));
  }
  const parts = estimatePeak(s, tokens, vocabChunk);
  const choice: SizedMemory = { budgetBytes: budget, tokensPerPass: tokens, vocabChunk, estimatedPeakBytes: total(parts), parts };
  const cuts = [
    ...(tokens < byBudget ? [`passes cut to ${tokens} tokens (the memory budget allows ${byBudget})`] : []),
    ...(gpuCutChunk ? [`head chunks cut to ${vocabChunk} vocabulary rows`] : []),
  ];
  if (!gpu || cuts.length === 0) return choice;
  return {
    ...choice,
    gpuNote: `layer-streamed ${cuts.join(" and ")} so that each pass's activations, logits chunk [${tokens}, ${vocabChunk}] and lm_head rows [${vocabChunk}, ${s.hidden}] fit one GPU storage binding (${bytesText(gpu.maxStorageBufferBindingSize)}: ${gpu.source})`,
  };
}

/** A job's estimated peak memory and how it was estimated (the OOM report names both). */
export interface MemoryNeed {
  readonly bytes: number;
  readonly what: string;
}

/**
 * The whole-model forward's estimated peak: every model's weights as float32, plus one batch's block
 * activations (estimatePeak's per-token term) and its [tokens, vocab] float32 logits (twice when
 * compared: the log-probabilities are fetched too). Node and onnxruntime themselves are not counted.
 */
export function wholeModelNeed(
  m: { readonly f32WeightBytes: number; readonly hidden: number; readonly heads: number; readonly ffn: number; readonly vocab: number },
  window: number,
  attentionChunk: number,
  tokens: number,
  models: number,
): MemoryNeed {
  const c = attentionChunk > 0 ? Math.min(attentionChunk, window) : window;
  const activations = tokens * (4 * (8 * m.hidden + 3 * m.ffn) + 8 * m.heads * c + 8 * models * m.hidden);
  const logits = tokens * m.vocab * 4 * (models > 1 ? 2 : 1);
  return {
    bytes: m.f32WeightBytes + activations + logits,
    what: `whole-model forward: weights as float32 ${gib(m.f32WeightBytes)}, activations of a ${tokens}-token batch ${gib(activations)}, logits ${gib(logits)}`,
  };
}

/** The layer-streamed forward's estimate (chooseMemory's) in the same form. */
export function streamedNeed(c: MemoryChoice): MemoryNeed {
  const p = c.parts;
  return {
    bytes: c.estimatedPeakBytes,
    what: `layer-streamed forward within the memory budget of ${gib(c.budgetBytes)}: one layer's weights ${gib(p.layerWeights)}, read buffer ${gib(p.readBuffer)}, plan's overwritten slices ${gib(p.planSaved)}, roots' slices kept ${gib(p.rootSlices)}, activations ${gib(p.activations)}, head chunk ${gib(p.head)}`,
  };
}
