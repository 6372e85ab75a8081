/**
 * Text protocols: how a text becomes scored windows (method.md §6 asks to state the windowing).
 *
 * documents: the text is split at `separator`; each document is trimmed, empty ones skipped, and
 *   scored on its own as ([BOS] + tokens) truncated to `window` tokens, predicting every token
 *   after the first.
 * stream: the whole text is tokenized once; window k covers tokens [k·stride, k·stride + W') with
 *   W' = window − 1 when BOS is prepended (the window is [BOS] + those tokens), else window; it
 *   predicts only the tokens no earlier window predicted, so every token is predicted once (with
 *   BOS the text's first token too, from BOS alone; without BOS it has no context and is skipped).
 */
import { EvalError } from "./errors";

export type TextProtocol =
  | { readonly kind: "documents"; readonly separator: string; readonly window: number; readonly bos: boolean }
  | { readonly kind: "stream"; readonly window: number; readonly stride: number; readonly bos: boolean };

/** One window to score: targets are tokens[i] for i in [scoreFrom, tokens.length), predicted from tokens[< i]. */
export interface ScoredWindow {
  readonly tokens: readonly number[];
  readonly scoreFrom: number;
}

export interface ProtocolInput {
  readonly documentsSeparator?: string;
  readonly window?: number;
  readonly stride?: number;
  readonly bos?: boolean;
}

/** Validates the options up front and fills defaults (window: min(maxPositions, 512); stride: window − 1). */
export function makeProtocol(input: ProtocolInput, maxPositions: number): TextProtocol {
  const window = input.window ?? Math.min(maxPositions, 512);
  const bos = input.bos ?? true;
  if (input.window === undefined && !(maxPositions >= 2)) {
    throw new EvalError(
      "bad-option",
      `the model's context (config.json "max_position_embeddings" or its equivalent) is ${maxPositions} position(s); scoring needs at least 2, so the config is wrong for a language model: fix it`,
    );
  }
  if (!Number.isInteger(window) || window < 2) throw new EvalError("bad-option", `window must be an integer ≥ 2 tokens, got ${window}`);
  if (window > maxPositions)
    throw new EvalError("bad-option", `window ${window} is longer than the model's context (${maxPositions} positions); pass --window ${maxPositions} or less`);
  if (input.documentsSeparator !== undefined) {
    if (input.documentsSeparator.length === 0) throw new EvalError("bad-option", "the documents separator must not be empty");
    if (input.stride !== undefined)
      throw new EvalError("bad-option", "--stride applies to stream windows; with --documents-separator every document is scored on its own, drop --stride");
    return { kind: "documents", separator: input.documentsSeparator, window, bos };
  }
  const maxStride = window - 1;
  const stride = input.stride ?? maxStride;
  if (!Number.isInteger(stride) || stride < 1 || stride > maxStride) {
    throw new EvalError(
      "bad-option",
      `stride must be an integer in 1..${maxStride} for window ${window} (larger strides would skip tokens), got ${input.stride}`,
    );
  }
  return { kind: "stream", window, stride, bos };
}

/**
 * The longest window a model scores exactly: its context, and for sliding-window attention
 * (Mistral `sliding_window`, unless `use_sliding_window` is false) that window, since the graphs
 * attend to the whole causal prefix.
 */
export function exactWindow(maxPositions: number, config: Readonly<Record<string, unknown>>): number {
  const sw = config.sliding_window;
  if (typeof sw === "number" && sw > 0 && config.use_sliding_window !== false) return Math.min(maxPositions, sw);
  return maxPositions;
}

/** Throws EvalError when `p.window` is longer than the model scores exactly (see exactWindow). */
export function checkWindowFits(p: TextProtocol, maxPositions: number, config: Readonly<Record<string, unknown>>, file: string): void {
  const max = exactWindow(maxPositions, config);
  if (max < 2) {
    throw new EvalError(
      "bad-option",
      `${file}: this model attends to only ${max} position(s) (config.json "max_position_embeddings" / "sliding_window"); scoring needs windows of at least 2 tokens, so the config is wrong: fix it`,
    );
  }
  if (p.window > max) {
    throw new EvalError(
      "bad-option",
      `${file}: window ${p.window} is longer than the ${max} positions this model attends to (context or sliding window); pass --window ${max} or less`,
    );
  }
}

/** Cuts tokenized text into windows. `encode` returns ids without special tokens. */
export function makeWindows(text: string, p: TextProtocol, encode: (t: string) => number[], bosId: number | undefined): ScoredWindow[] {
  if (typeof text !== "string") throw new EvalError("bad-text", `the text to score must be a string, got ${typeof text}`);
  const bos = bosTokens(p, bosId);
  if (p.kind === "stream") return streamWindows(encode(text), p, bosId);
  const out: ScoredWindow[] = [];
  for (const raw of text.split(p.separator)) {
    const w = documentWindow(raw.trim(), p, encode, bos);
    if (w) out.push(w);
  }
  return nonEmpty(out);
}

/** [BOS] when the protocol prepends it (an error when the model has none), else []. */
export function bosTokens(p: TextProtocol, bosId: number | undefined): number[] {
  if (p.bos && bosId === undefined) throw new EvalError("bad-option", "the model and its tokenizer define no BOS token; pass --no-bos");
  return p.bos ? [bosId!] : [];
}

/** A trimmed document's window ([BOS] + its tokens, truncated to the window), or undefined when it predicts nothing. */
export function documentWindow(doc: string, p: TextProtocol, encode: (t: string) => number[], bos: readonly number[]): ScoredWindow | undefined {
  if (!doc) return undefined;
  const ids = [...bos, ...encode(doc)].slice(0, p.window);
  return ids.length >= 2 ? { tokens: ids, scoreFrom: 1 } : undefined;
}

/** The stream protocol's windows over a whole text's ids (see the file comment). */
export function streamWindows(ids: ArrayLike<number>, p: Extract<TextProtocol, { kind: "stream" }>, bosId: number | undefined): ScoredWindow[] {
  const bos = bosTokens(p, bosId);
  const out: ScoredWindow[] = [];
  const span = p.bos ? p.window - 1 : p.window;
  let predictedUpTo = p.bos ? 0 : 1; // text tokens [0, predictedUpTo) are already predicted (or unpredictable)
  for (let begin = 0; predictedUpTo < ids.length; begin += p.stride) {
    const end = Math.min(begin + span, ids.length);
    const tokens = [...bos];
    for (let i = begin; i < end; i++) tokens.push(ids[i]!);
    const scoreFrom = Math.max(1, predictedUpTo - begin + bos.length);
    if (tokens.length > scoreFrom) out.push({ tokens, scoreFrom });
    predictedUpTo = end;
  }
  return nonEmpty(out);
}

/** The windows, or the error saying the text has nothing to predict. */
export function nonEmpty(out: ScoredWindow[]): ScoredWindow[] {
  if (out.length === 0) throw new EvalError("bad-text", "the text yields no token to predict (it is empty or a single token)");
  return out;
}

/** Throws EvalError("mismatch") when a token id is outside the model's vocabulary. */
export function checkIds(ws: readonly ScoredWindow[], vocab: number, tokenizerPath: string): void {
  for (const w of ws)
    for (const id of w.tokens) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new EvalError(
          "mismatch",
          `${tokenizerPath}: the tokenizer produced id ${id}, outside the model's vocabulary of ${vocab}; use the tokenizer that belongs to the model`,
        );
      }
    }
}

/** Predicted tokens over all windows. */
export function predictedCount(ws: readonly ScoredWindow[]): number {
  return ws.reduce((a, w) => a + w.tokens.length - w.scoreFrom, 0);
}

/** The protocol in words, e.g. "documents split at "<|endoftext|>", window 512, BOS each". */
export function describeProtocol(p: TextProtocol): string {
  const bos = p.bos ? "BOS each" : "no BOS";
  return p.kind === "documents"
    ? `documents split at ${JSON.stringify(p.separator)}, trimmed, ${bos}, truncated to ${p.window} tokens`
    : `stream windows of ${p.window} tokens (${bos}), stride ${p.stride}, each token predicted once`;
}

export interface Batch {
  readonly windows: readonly ScoredWindow[];
  readonly batch: number;
  readonly seq: number;
  /** int64 [batch, seq] inputs (right-padded with 0) and targets (next token; 0 where unscored). */
  readonly ids: BigInt64Array;
  readonly targets: BigInt64Array;
}

/**
 * Groups windows (longest first) into right-padded batches of at most `maxTokens` padded tokens
 * (at least one window per batch). The input of a window of n tokens is tokens[0..n−1).
 */
export function makeBatches(ws: readonly ScoredWindow[], maxTokens: number): Batch[] {
  const order = longestFirst(ws);
  const batches: Batch[] = [];
  for (let i = 0; i < order.length; i += batches[batches.length - 1]!.batch) batches.push(makeBatch(order, i, maxTokens));
  return batches;
}

/** Windows longest first (the order batches take them in). */
export function longestFirst(ws: readonly ScoredWindow[]): ScoredWindow[] {
  return [...ws].sort((a, b) => b.tokens.length - a.tokens.length);
}

/** The batch starting at order[i] (order: longestFirst) of at most `maxTokens` padded tokens, at least one window. */
export function makeBatch(order: readonly ScoredWindow[], i: number, maxTokens: number): Batch {
  const seq = order[i]!.tokens.length - 1;
  const batch = Math.max(1, Math.min(order.length - i, Math.floor(maxTokens / seq)));
  const windows = order.slice(i, i + batch);
  const ids = new BigInt64Array(batch * seq),
    targets = new BigInt64Array(batch * seq);
  windows.forEach((w, r) => {
    for (let t = 0; t < w.tokens.length - 1; t++) {
      ids[r * seq + t] = BigInt(w.tokens[t]!);
      targets[r * seq + t] = BigInt(w.tokens[t + 1]!);
    }
  });
  return { windows, batch, seq, ids, targets };
}
