/**
 * Attention-map similarity of heads on a text (the paper's Fig. 1 motivation, method.md §6), to set
 * beside the weight-similarity match table.
 *
 * Measure: for query heads (l, h) and (l', h'), the mean over query positions t ≥ 1 of every
 * sampled window of the cosine between their attention rows A[t, 0..t] (row 0 is trivially equal
 * for all heads and is skipped). For every head of layers 1..L−1 the best strictly-lower-layer
 * head by that measure is reported (ties: lowest (layer, head)), as a layer × head table.
 * The sums are one matrix product in the forward graph (`attentionGram`): the attention maps
 * never leave onnxruntime, only an [L·H, L·H] matrix per window does.
 */
import type { Checkpoint } from "../model/checkpoint";
import { ATTENTION_GRAM } from "../graph/types";
import type { ProviderName } from "../runtime/ort";
import { checkGpuTensors, largestFitting, type GpuLimits, type GpuTensor } from "../runtime/gpuLimits";
import { layerActivations } from "./gpuFit";
import { EvalError } from "./errors";
import { GIB, gib, memoryBudgetBytes } from "./memoryBudget";
import { modelSize } from "./sizes";
import { checkIds, checkWindowFits, type TextProtocol } from "./windows";
import { ForwardRunner } from "./runner";
import { bosId, loadTokenizer, type TextTokenizer } from "./tokenizer";
import { sourceWindows, type TextSource } from "./textFile";

export interface AttentionSimilarityOptions {
  readonly tokenizer?: TextTokenizer;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly threads?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: { readonly done: number; readonly total: number }) => void;
  /** Query positions to average over, from the text's first windows (default 2048). */
  readonly maxPositions?: number;
  /** GiB the run may use (default: min(4 GiB, a quarter of the machine's memory)); see `checkAttentionFits`. */
  readonly memoryBudgetGiB?: number;
}

/**
 * Attention-map similarity is not layer-streamed: every head's map is compared with every lower
 * layer's, so the whole model runs as one graph (float32 weights) and all L·H maps of a window exist
 * together. Refuses up front, naming the file, when that does not fit the memory budget:
 *
 *   peak ≈ 4 · parameters + 2 · 4 · L · H · S²   (S = the window; the maps and their concatenation)
 */
export function checkAttentionFits(ckpt: Checkpoint, protocol: TextProtocol, memoryBudgetGiB: number | undefined): void {
  const budget = memoryBudgetBytes(memoryBudgetGiB);
  const S = protocol.window,
    spec = ckpt.spec;
  const weights = 4 * modelSize(ckpt).parameters,
    maps = 2 * 4 * spec.layers * spec.heads * S * S;
  if (weights + maps <= budget) return;
  const need = Math.ceil(((weights + maps) / GIB) * 1000) / 1000;
  throw new EvalError(
    "too-large",
    `${ckpt.weightsPath}: attention-map similarity runs the whole model at once (every head's map is compared with every lower layer's, so it is not layer-streamed) and needs about ${gib(weights + maps)} (weights ${gib(weights)} as float32, attention maps of a ${S}-token window ${gib(maps)}), more than the memory budget of ${gib(budget)}; raise --memory-budget (setting headshare.eval.memoryBudgetGiB) to at least ${need} GiB if the machine has it, use a shorter --window, or leave out --attention (NLL, KL and the rest are layer-streamed)`,
  );
}

/**
 * The tensors of one S-token window on a GPU with buffer limits: the attention maps of every layer
 * together (the Concat, Pow and Div outputs, and R = [L·H, S·S] and its transpose), and one layer's
 * activations (full attention: the graph's attention is not chunked when it returns its maps).
 */
export function attentionGpuTensors(ckpt: Checkpoint, S: number): GpuTensor[] {
  const { layers: L, heads: H, hidden, intermediate: ffn } = ckpt.spec;
  return [
    { what: `${ckpt.weightsPath}: the attention maps of every layer of one window`, shape: [L, H, S, S], kind: "activation" },
    ...layerActivations({ hidden, heads: H, ffn }, S, 0).map(([name, , shape]): GpuTensor => ({
      what: `${ckpt.weightsPath}: the forward's ${name} of one window`,
      shape: shape(S),
      kind: "activation",
    })),
  ];
}

/** Refuses (RuntimeError "gpu-limit") a window of S tokens whose attention tensors do not fit the GPU's limits, saying which window would. */
export function checkAttentionGpu(ckpt: Checkpoint, S: number, limits: GpuLimits): void {
  const fits = largestFitting(S, (n) => attentionGpuTensors(ckpt, n), limits);
  if (fits >= S) return;
  checkGpuTensors(
    attentionGpuTensors(ckpt, S),
    limits,
    // a window of W tokens runs W − 1 of them (the last is only a target)
    fits >= 2 ? `use a shorter window (--window ${fits + 1}), leave out --attention, or use --providers cpu` : "leave out --attention, or use --providers cpu",
  );
}

/**
 * The windows run and their lengths: inputs tokens[0..S), query positions 1..S−1 count, each window
 * cut to the positions left of `budget` (known before any runs, so that a GPU's limits are checked first).
 */
function attentionRuns(windows: readonly { readonly tokens: readonly number[] }[], budget: number): { tokens: readonly number[]; S: number }[] {
  const runs: { tokens: readonly number[]; S: number }[] = [];
  let positions = 0;
  for (const w of windows) {
    if (positions >= budget) break;
    const S = Math.min(w.tokens.length - 1, budget - positions + 1);
    if (S < 2) continue;
    runs.push({ tokens: w.tokens, S });
    positions += S - 1;
  }
  return runs;
}

import type { AttentionMatch, AttentionSimilarity } from "./results";
export type { AttentionMatch, AttentionSimilarity };

export const ATTENTION_MEASURE = "mean over query positions t ≥ 1 of cos(A_head[t, 0..t], A_other[t, 0..t]); best strictly-lower-layer head";

export async function attentionMapSimilarity(
  ckpt: Checkpoint,
  text: TextSource,
  protocol: TextProtocol,
  opts: AttentionSimilarityOptions = {},
): Promise<AttentionSimilarity> {
  const spec = ckpt.spec;
  const L = spec.layers,
    H = spec.heads,
    LH = L * H;
  if (L < 2) throw new EvalError("bad-option", `${ckpt.weightsPath}: attention-map similarity needs at least 2 layers (heads are matched to lower layers)`);
  const budget = opts.maxPositions ?? 2048;
  if (!Number.isInteger(budget) || budget < 1) throw new EvalError("bad-option", `maxPositions must be a positive integer, got ${opts.maxPositions}`);
  checkWindowFits(protocol, ckpt.spec.maxPositions, ckpt.spec.config, ckpt.weightsPath);
  checkAttentionFits(ckpt, protocol, opts.memoryBudgetGiB);
  const tok = opts.tokenizer ?? (await loadTokenizer(ckpt.dir));
  const windows = await sourceWindows(text, protocol, (t) => tok.encode(t), bosId(spec, tok), opts.signal);
  checkIds(windows, spec.vocab, tok.path);
  const runner = await ForwardRunner.create(ckpt, {
    label: "attention maps",
    forward: { logits: false, attentionGram: true },
    ...(opts.providers ? { providers: opts.providers } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  // sum[a·LH + b]: Σ over query positions of the cosine between heads a and b (the graph's attention_gram)
  const sum = new Float64Array(LH * LH);
  let positions = 0,
    used = 0;
  try {
    const runs = attentionRuns(windows, budget);
    if (runner.limits) checkAttentionGpu(ckpt, Math.max(0, ...runs.map((r) => r.S)), runner.limits);
    for (const { tokens, S } of runs) {
      if (opts.signal?.aborted) throw new EvalError("aborted", "attention similarity was cancelled");
      const ids = BigInt64Array.from(tokens.slice(0, S), BigInt);
      const gram = (await runner.run(ids, 1, S, undefined, [ATTENTION_GRAM]))[ATTENTION_GRAM]!.data; // [L·H, L·H]
      for (let i = 0; i < sum.length; i++) sum[i]! += gram[i]!;
      positions += S - 1;
      used++;
      opts.onProgress?.({ done: Math.min(positions, budget), total: budget });
    }
  } finally {
    await runner.release();
  }
  if (positions === 0) throw new EvalError("bad-text", "the text gives no query position to compare attention maps on");
  const entries: AttentionMatch[] = [];
  const best: (number | null)[][] = Array.from({ length: L }, () => new Array<number | null>(H).fill(null));
  for (let l = 1; l < L; l++)
    for (let h = 0; h < H; h++) {
      let bs = -Infinity,
        bl = 0,
        bh = 0;
      for (let l2 = 0; l2 < l; l2++)
        for (let h2 = 0; h2 < H; h2++) {
          const v = sum[(l * H + h) * LH + l2 * H + h2]! / positions;
          if (v > bs) {
            bs = v;
            bl = l2;
            bh = h2;
          }
        }
      entries.push({ layer: l, head: h, sourceLayer: bl, sourceHead: bh, score: bs });
      best[l]![h] = bs;
    }
  return {
    format: "headshare.attention-similarity",
    version: 1,
    measure: ATTENTION_MEASURE,
    layers: L,
    heads: H,
    positions,
    windows: used,
    entries,
    best,
    provider: runner.provider,
  };
}
