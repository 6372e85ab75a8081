/**
 * `evaluate`: mean NLL / perplexity of a model on a text under a stated protocol, and with
 * `compare` the regression metrics of method.md §6 against another model on the same windows:
 * mean KL(P_model ‖ P_other) per predicted token, top-1 agreement, per-layer hidden-state cosine
 * (mean over predicted positions of the cosine between the two residual streams after each layer),
 * the other model's NLL/ppl, and both models' parameters and bytes.
 */
import { describeNonFinite } from "../model/finite";
import type { Checkpoint } from "../model/checkpoint";
import { hiddenStateName, LOGPROBS, NLL, type ForwardOptions } from "../graph/types";
import type { ProviderName } from "../runtime/ort";
import type { SharingPlan } from "../share/types";
import { EvalError } from "./errors";
import { argmaxRow, cosineRows, klFromLogprobs } from "./metrics";
import {
  checkIds,
  checkWindowFits,
  describeProtocol,
  makeBatches,
  makeWindows,
  predictedCount,
  type Batch,
  type ScoredWindow,
  type TextProtocol,
} from "./windows";
import { ForwardRunner, type RunOutput } from "./runner";
import { gpuBatchTokens } from "./gpuFit";
import { noteCompute } from "../runtime/computeLog";
import { bytesText, type GpuLimits } from "../runtime/gpuLimits";
import { CANCEL_SECONDS, PacedBatches } from "./pacing";
import { memoryBudgetBytes, wholeModelNeed, type MemoryNeed } from "./memoryBudget";
import { runStreamed, type StreamedModel } from "./streamed";
import { modelSize, type ModelSize } from "./sizes";
import { unitCost } from "../share/match";
import { bosId, loadTokenizer, type TextTokenizer } from "./tokenizer";
import { fileStamps } from "./fileStamps";
import { sourceWindows, type TextSource } from "./textFile";

export interface EvalProgress {
  readonly done: number; // predicted tokens scored so far (layer-streamed: layer steps)
  readonly total: number;
  /** Layer-streamed: "layers", with e.g. "pass 1/2 (4 windows): layer 3/32". */
  readonly phase?: string;
  readonly message?: string;
  /** Sent once the forward path is chosen: the estimated peak memory (the worker client's OOM report names it). */
  readonly memoryNeed?: MemoryNeed;
}

export interface EvalOptions {
  readonly compare?: Checkpoint;
  /** Default: `tokenizer.json` beside the model. */
  readonly tokenizer?: TextTokenizer;
  /** A sharing plan applied in memory to `ckpt` (dense checkpoints only). */
  readonly plan?: SharingPlan;
  /** A sharing plan applied in memory to `compare` (quick eval: compare = the model itself, shared). */
  readonly comparePlan?: SharingPlan;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly threads?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: EvalProgress) => void;
  /** Padded tokens per batch (default 2048; lowered with --compare for large vocabularies so log-probs stay ≤ 64 MB). */
  readonly batchTokens?: number;
  /** Query chunk of the blocked causal attention (default 64; 0 = plain full attention). */
  readonly attentionChunk?: number;
  /** Which forward runs (default "auto": the whole-model graph when every weight fits a quarter of the budget as float32). */
  readonly forward?: ForwardPath | "auto";
  /** Memory budget in GiB (default: min(4 GiB, a quarter of this machine's memory)). */
  readonly memoryBudgetGiB?: number;
}

/** The two forwards: one graph of the whole model (weights loaded once), or one layer at a time. */

/**
 * "auto": the whole-model graph (faster: weights loaded once, one run per batch) when the float32
 * weights of every model fit in a quarter of the budget; otherwise layer-streamed.
 */
export function chooseForward(requested: ForwardPath | "auto" | undefined, ckpts: readonly Checkpoint[], budgetBytes: number): ForwardPath {
  if (requested === "whole-model" || requested === "layer-streamed") return requested;
  if (requested !== undefined && requested !== "auto")
    throw new EvalError("bad-option", `forward must be "auto", "whole-model" or "layer-streamed", got ${JSON.stringify(requested)}`);
  const f32 = [...new Set(ckpts)].reduce((a, c) => a + 4 * modelSize(c).parameters, 0);
  return f32 <= budgetBytes / 4 ? "whole-model" : "layer-streamed";
}

/** Why chooseForward picked `path`, for the job's log (`--debug`, the extension's output channel). */
export function forwardReason(requested: ForwardPath | "auto" | undefined, ckpts: readonly Checkpoint[], budgetBytes: number, path: ForwardPath): string {
  if (requested === "whole-model" || requested === "layer-streamed") return `forward: ${path} (asked for)`;
  const f32 = [...new Set(ckpts)].reduce((a, c) => a + 4 * modelSize(c).parameters, 0);
  const gib = (x: number): string => `${(x / 2 ** 30).toFixed(2)} GiB`;
  return `forward: ${path} (auto: the weights as float32, ${gib(f32)}, ${path === "whole-model" ? "fit" : "exceed"} a quarter of the ${gib(budgetBytes)} memory budget)`;
}

/** Default padded tokens per batch for a vocabulary (log-probs of one batch ≤ 64 MB when compared). */
export function defaultBatchTokens(window: number, vocab: number, compare: boolean): number {
  return Math.max(window, compare ? Math.min(2048, Math.floor((16 << 20) / vocab)) : 2048);
}

/**
 * The most tokens one whole-model batch may hold: `batchTokens`, or fewer when a runner on WebGPU
 * needs its activations within one storage binding (gpuFit.ts).
 */
export function gpuBatchCap(
  batchTokens: number,
  window: number,
  chunk: number,
  runners: readonly (readonly [Checkpoint, ForwardRunner | undefined])[],
): number {
  let cap = batchTokens;
  let limits: GpuLimits | undefined;
  for (const [c, r] of runners) {
    if (!r?.limits) continue;
    cap = Math.min(cap, gpuBatchTokens(c, window, chunk, r.limits));
    limits = r.limits;
  }
  if (cap >= batchTokens || !limits) return batchTokens;
  noteCompute(
    `forward batches cut to ${cap} tokens (from ${batchTokens}) so that each batch's activations fit one GPU storage binding (${bytesText(limits.maxStorageBufferBindingSize)}: ${limits.source})`,
  );
  return cap;
}

/** Forward options of a scoring pass (blocked attention sized to the protocol's window). */
export function scoringForward(window: number, chunk: number | undefined, extra: ForwardOptions): ForwardOptions {
  const size = chunk ?? 64;
  return { ...extra, ...(size > 0 && size < window ? { attentionChunk: size, maxSequence: window } : {}) };
}

import type { EvalResult, ForwardPath, ProtocolFacts } from "./results";
export type { EvalResult, ForwardPath, ProtocolFacts };

export function protocolFacts(p: TextProtocol, windows: number): ProtocolFacts {
  return {
    kind: p.kind,
    window: p.window,
    bos: p.bos,
    windows,
    description: describeProtocol(p),
    ...(p.kind === "stream" ? { stride: p.stride } : { separator: p.separator }),
  };
}

/** Prepared windows and batches of a text (shared by evaluate and sweep). */
export interface PreparedText {
  readonly protocol: TextProtocol;
  readonly scored: ScoredWindow[];
  readonly batches: Batch[];
  readonly tokens: number;
  readonly windows: number;
}

export function prepareText(
  text: string,
  protocol: TextProtocol,
  tok: TextTokenizer,
  bosId: number | undefined,
  batchTokens: number,
  vocab: number,
): PreparedText {
  checkBatchTokens(batchTokens);
  return prepareWindows(
    makeWindows(text, protocol, (t) => tok.encode(t), bosId),
    protocol,
    tok,
    batchTokens,
    vocab,
  );
}

function checkBatchTokens(batchTokens: number): void {
  if (!Number.isInteger(batchTokens) || batchTokens < 1) throw new EvalError("bad-option", `batchTokens must be a positive integer, got ${batchTokens}`);
}

/** prepareText for a text given as a string or a file (read and tokenized in pieces: textFile.ts). */
export async function prepareSource(
  text: TextSource,
  protocol: TextProtocol,
  tok: TextTokenizer,
  bosId: number | undefined,
  batchTokens: number,
  vocab: number,
  signal?: AbortSignal,
): Promise<PreparedText> {
  checkBatchTokens(batchTokens);
  return prepareWindows(await sourceWindows(text, protocol, (t) => tok.encode(t), bosId, signal), protocol, tok, batchTokens, vocab);
}

function prepareWindows(windows: ScoredWindow[], protocol: TextProtocol, tok: TextTokenizer, batchTokens: number, vocab: number): PreparedText {
  checkIds(windows, vocab, tok.path);
  return { protocol, scored: windows, batches: makeBatches(windows, batchTokens), tokens: predictedCount(windows), windows: windows.length };
}

/** Calls f(row, t) for every predicted position: input position t of window row predicts token t+1. */
export function forEachScored(b: Batch, f: (row: number, t: number) => void): void {
  b.windows.forEach((w, r) => {
    for (let t = w.scoreFrom - 1; t < w.tokens.length - 1; t++) f(r, t);
  });
}

/** Sum of −log p over the predicted positions of a batch (from the graph's nll output [B, S]). */
export function sumNll(b: Batch, nll: RunOutput): number {
  let s = 0;
  forEachScored(b, (r, t) => {
    s += nll.data[r * b.seq + t]!;
  });
  return s;
}

function checkCompatible(a: Checkpoint, b: Checkpoint): void {
  if (a.spec.vocab !== b.spec.vocab) {
    throw new EvalError(
      "mismatch",
      `${b.weightsPath}: vocabulary ${b.spec.vocab} differs from ${a.weightsPath}'s ${a.spec.vocab}; compare models that share a tokenizer`,
    );
  }
}

/** Accumulates the comparison metrics over batches. */
export class CompareAccumulator {
  klSum = 0;
  agree = 0;
  count = 0;
  readonly cos: Float64Array;
  constructor(
    readonly layers: number,
    readonly hidden: number,
    readonly vocab: number,
  ) {
    this.cos = new Float64Array(layers);
  }
  add(b: Batch, mine: Record<string, RunOutput>, other: Record<string, RunOutput>): void {
    const V = this.vocab,
      d = this.hidden;
    const lp = mine[LOGPROBS]!.data,
      lq = other[LOGPROBS]!.data;
    forEachScored(b, (r, t) => {
      const o = (r * b.seq + t) * V;
      this.klSum += klFromLogprobs(lp, lq, o, V);
      if (argmaxRow(lp, o, V) === argmaxRow(lq, o, V)) this.agree++;
      for (let l = 0; l < this.layers; l++) {
        const h = (r * b.seq + t) * d;
        this.cos[l]! += cosineRows(mine[hiddenStateName(l)]!.data, h, other[hiddenStateName(l)]!.data, h, d);
      }
      this.count++;
    });
  }
  result(): { kl: number; top1Agreement: number; hiddenCosine: number[] } {
    return { kl: this.klSum / this.count, top1Agreement: this.agree / this.count, hiddenCosine: Array.from(this.cos, (c) => c / this.count) };
  }
}

/** Output names a comparison needs from each model. */
export function compareOutputs(layers: number, hiddenCosine: boolean): string[] {
  return [NLL, LOGPROBS, ...(hiddenCosine ? Array.from({ length: layers }, (_, l) => hiddenStateName(l)) : [])];
}

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EvalError("aborted", "evaluation was cancelled");
}

export async function evaluate(ckpt: Checkpoint, text: TextSource, protocol: TextProtocol, opts: EvalOptions = {}): Promise<EvalResult> {
  const t0 = performance.now();
  const other = opts.compare;
  // stamped before the first await: a change from here on is refused by either forward
  fileStamps(ckpt);
  if (other) fileStamps(other);
  if (opts.comparePlan && !other) throw new EvalError("bad-option", "comparePlan needs a compare model (quick eval: compare = the model itself)");
  if (other) checkCompatible(ckpt, other);
  checkWindowFits(protocol, ckpt.spec.maxPositions, ckpt.spec.config, ckpt.weightsPath);
  if (other) checkWindowFits(protocol, other.spec.maxPositions, other.spec.config, other.weightsPath);
  const tok = opts.tokenizer ?? (await loadTokenizer(ckpt.dir));
  const bos = bosId(ckpt.spec, tok);
  const V = ckpt.spec.vocab;
  const batchTokens = opts.batchTokens ?? defaultBatchTokens(protocol.window, V, !!other);
  const prepared = await prepareSource(text, protocol, tok, bos, batchTokens, V, opts.signal);
  const sameShape = !!other && other.spec.layers === ckpt.spec.layers && other.spec.hidden === ckpt.spec.hidden;
  const budget = memoryBudgetBytes(opts.memoryBudgetGiB);
  const path = chooseForward(opts.forward, other ? [ckpt, other] : [ckpt], budget);
  noteCompute(forwardReason(opts.forward, other ? [ckpt, other] : [ckpt], budget, path));
  if (path === "layer-streamed") return evaluateStreamed(ckpt, prepared, budget, t0, opts);
  const common = {
    ...(opts.providers ? { providers: opts.providers } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  const forward = scoringForward(
    protocol.window,
    opts.attentionChunk,
    other ? { logits: false, nll: true, logprobs: true, hiddenStates: sameShape } : { logits: false, nll: true },
  );
  const models = other && other !== ckpt ? [ckpt, other] : [ckpt];
  opts.onProgress?.({
    done: 0,
    total: prepared.tokens,
    message: "estimated the memory",
    memoryNeed: wholeModelNeed(
      {
        f32WeightBytes: models.reduce((a, c) => a + 4 * modelSize(c).parameters, 0),
        hidden: ckpt.spec.hidden,
        heads: ckpt.spec.heads,
        ffn: ckpt.spec.intermediate,
        vocab: V,
      },
      protocol.window,
      forward.attentionChunk ?? 0,
      batchTokens,
      other ? 2 : 1,
    ),
  });
  const mine = await ForwardRunner.create(ckpt, { forward, ...(opts.plan ? { plan: opts.plan } : {}), ...common });
  let theirs: ForwardRunner | undefined;
  try {
    if (other)
      theirs = await ForwardRunner.create(other, {
        forward,
        ...(opts.comparePlan ? { plan: opts.comparePlan } : {}),
        ...common,
        label: "forward (compared model)",
      });
    const acc = other ? new CompareAccumulator(sameShape ? ckpt.spec.layers : 0, ckpt.spec.hidden, V) : undefined;
    let nllSum = 0,
      otherNll = 0,
      done = 0;
    // Batches fit the GPU's storage bindings (WebGPU); with a signal (the worker's jobs) and the default
    // batch size, runs are paced so a cancel lands within ~CANCEL_SECONDS.
    const cap = gpuBatchCap(batchTokens, protocol.window, forward.attentionChunk ?? 0, [
      [ckpt, mine],
      [other ?? ckpt, theirs],
    ]);
    const paced = new PacedBatches(prepared.scored, cap, opts.signal && opts.batchTokens === undefined ? CANCEL_SECONDS : undefined);
    for (let b = paced.next(); b; b = paced.next()) {
      aborted(opts.signal);
      const tb = performance.now();
      const a = await mine.run(b.ids, b.batch, b.seq, b.targets);
      nllSum += sumNll(b, a[NLL]!);
      if (theirs && acc) {
        aborted(opts.signal);
        const o = await theirs.run(b.ids, b.batch, b.seq, b.targets);
        otherNll += sumNll(b, o[NLL]!);
        acc.add(b, a, o);
      }
      paced.took(b, (performance.now() - tb) / 1000);
      done += predictedCount(b.windows);
      opts.onProgress?.({ done, total: prepared.tokens });
    }
    const nll = nllSum / prepared.tokens;
    // NaN/Inf weights (or an overflow) give a non-finite NLL: name the tensor instead of failing a schema later.
    if (!Number.isFinite(nll)) throw new EvalError("non-finite", await describeNonFinite(ckpt, "the negative log-likelihood", opts.signal));
    if (other && !Number.isFinite(otherNll))
      throw new EvalError("non-finite", await describeNonFinite(other, "the compared model's negative log-likelihood", opts.signal));
    const size = modelSize(ckpt);
    const base: EvalResult = {
      tokens: prepared.tokens,
      nll,
      ppl: Math.exp(nll),
      protocol: protocolFacts(protocol, prepared.windows),
      provider: mine.provider,
      seconds: (performance.now() - t0) / 1000,
      parameters: size.parameters,
      bytes: size.bytes,
      forward: "whole-model",
    };
    if (!other || !acc) return base;
    const m = acc.result();
    const oNll = otherNll / prepared.tokens;
    const oSize = compareSize(other, opts.comparePlan);
    return {
      ...base,
      kl: m.kl,
      klDirection: "KL(P_model ‖ P_compare)",
      top1Agreement: m.top1Agreement,
      ...(sameShape ? { hiddenCosine: m.hiddenCosine } : {}),
      compare: { nll: oNll, ppl: Math.exp(oNll), parameters: oSize.parameters, bytes: oSize.bytes },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await mine.release();
    await theirs?.release();
  }
}

/** `evaluate` on the layer-streamed forward: the model (with its plan) and `compare` in lockstep. */
async function evaluateStreamed(ckpt: Checkpoint, prepared: PreparedText, budgetBytes: number, t0: number, opts: EvalOptions): Promise<EvalResult> {
  const other = opts.compare;
  const models: StreamedModel[] = [
    { ckpt, ...(opts.plan ? { plan: opts.plan } : {}) },
    ...(other ? [{ ckpt: other, ...(opts.comparePlan ? { plan: opts.comparePlan } : {}) }] : []),
  ];
  const r = await runStreamed(models, prepared.scored, {
    budgetBytes,
    hiddenCosine: !!other,
    ...(opts.attentionChunk !== undefined ? { attentionChunk: opts.attentionChunk } : {}),
    ...(opts.providers ? { providers: opts.providers } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const n = r.count,
    nll = r.scores[0]!.nllSum / n,
    size = modelSize(ckpt);
  if (!Number.isFinite(nll)) throw new EvalError("non-finite", await describeNonFinite(ckpt, "the negative log-likelihood", opts.signal));
  if (other && !Number.isFinite(r.scores[1]!.nllSum))
    throw new EvalError("non-finite", await describeNonFinite(other, "the compared model's negative log-likelihood", opts.signal));
  const base: EvalResult = {
    tokens: n,
    nll,
    ppl: Math.exp(nll),
    protocol: protocolFacts(prepared.protocol, prepared.windows),
    provider: r.provider,
    seconds: (performance.now() - t0) / 1000,
    parameters: size.parameters,
    bytes: size.bytes,
    forward: "layer-streamed",
    memory: r.memory,
  };
  if (!other) return base;
  const o = r.scores[1]!,
    oNll = o.nllSum / n,
    oSize = compareSize(other, opts.comparePlan);
  return {
    ...base,
    kl: o.klSum / n,
    klDirection: "KL(P_model ‖ P_compare)",
    top1Agreement: o.agree / n,
    ...(o.cosSum.length ? { hiddenCosine: o.cosSum.map((c) => c / n) } : {}),
    compare: { nll: oNll, ppl: Math.exp(oNll), parameters: oSize.parameters, bytes: oSize.bytes },
  };
}

/** The compare model's size: with a plan, what its compact checkpoint would store. */
function compareSize(other: Checkpoint, plan: SharingPlan | undefined): ModelSize {
  const size = modelSize(other);
  if (!plan) return size;
  const cost = unitCost(other, plan.granularity);
  return { parameters: size.parameters - plan.savedUnits * cost.params, bytes: size.bytes - plan.savedUnits * cost.bytes };
}
