/**
 * The KV-cache decoder interface (`ForwardOptions.kvCache`), in the names and layout Hugging Face
 * Optimum exports and transformers.js / `ORTModelForCausalLM` feed:
 *
 * Inputs:  input_ids                  int64   [batch, sequence]
 *          attention_mask             int64   [batch, past_sequence + sequence]   (1 = token, 0 = padding)
 *          position_ids               int64   [batch, sequence]
 *          past_key_values.{l}.key    float32 [batch, Hkv, past_sequence, dh]     (past_sequence may be 0)
 *          past_key_values.{l}.value  float32 [batch, Hkv, past_sequence, dh]
 * Outputs: logits                     float32 [batch, sequence, vocab]
 *          present.{l}.key / .value   float32 [batch, Hkv, past_sequence + sequence, dh]
 */
import type { GraphBuilder } from "../onnx/builder";
import type { ModelSpec } from "../model/types";
import type { SeqDims } from "./blocks";
import { OnnxError } from "../onnx/errors";
import { LOGITS } from "./types";

export const ATTENTION_MASK = "attention_mask";
export const POSITION_IDS = "position_ids";
export const pastKeyName = (l: number): string => `past_key_values.${l}.key`;
export const pastValueName = (l: number): string => `past_key_values.${l}.value`;
export const presentKeyName = (l: number): string => `present.${l}.key`;
export const presentValueName = (l: number): string => `present.${l}.value`;

/** KV heads of the cache (= query heads for GPT-2 and GPT-NeoX). */
export function cacheHeads(spec: ModelSpec): number {
  return spec.family === "llama" ? spec.kvHeads : spec.heads;
}

export interface KvCacheInputs {
  readonly attentionMask: string;
  readonly positionIds: string;
  /** Per layer: the past key/value inputs. */
  readonly past: readonly { readonly pastKey: string; readonly pastValue: string }[];
  /** Additive mask [B, 1, S, P+S]: causal over the cache, padding (attention_mask 0) masked. */
  readonly mask: string;
}

/**
 * The attention window of a sliding-window model, as Hugging Face applies it (query i sees key j
 * iff i − j < window): Mistral's (and any llama-family config's) `sliding_window`, unless
 * `use_sliding_window` is false; Qwen2/Qwen3 only with `use_sliding_window: true` (their default is
 * off), and then on every layer only when `max_window_layers` is 0 (HF windows the layers from
 * `max_window_layers` on; a per-layer mix is refused). Undefined: full causal attention.
 */
export function slidingWindow(spec: ModelSpec, file: string): number | undefined {
  if (spec.family !== "llama") return undefined;
  const c = spec.config;
  const sw = c.sliding_window;
  if (typeof sw !== "number" || !(sw > 0) || c.use_sliding_window === false) return undefined;
  if (!Number.isInteger(sw)) throw new OnnxError("bad-graph", `${file}: config.json "sliding_window" must be a whole number of positions, got ${sw}`);
  if (typeof c.model_type === "string" && /^qwen/.test(c.model_type)) {
    if (c.use_sliding_window !== true) return undefined;
    const from = typeof c.max_window_layers === "number" ? c.max_window_layers : 0;
    if (from >= spec.layers) return undefined;
    if (from > 0) {
      throw new OnnxError(
        "unsupported",
        `${file}: sliding-window attention on layers ${from}..${spec.layers - 1} only (config.json "max_window_layers" ${from}) is not supported; the decoder applies one window to every layer or none`,
      );
    }
  }
  return sw < spec.maxPositions ? sw : undefined;
}

/** Declares the decoder inputs besides input_ids and builds the padded causal mask (sliding-window when the config sets one). */
export function declareKvCache(b: GraphBuilder, spec: ModelSpec, dims: SeqDims, file = spec.architecture): KvCacheInputs {
  const attentionMask = b.input(ATTENTION_MASK, "int64", ["batch", "total_sequence"]);
  const positionIds = b.input(POSITION_IDS, "int64", ["batch", "sequence"]);
  const hkv = cacheHeads(spec),
    dh = spec.headDim;
  const past = Array.from({ length: spec.layers }, (_, l) => ({
    pastKey: b.input(pastKeyName(l), "float32", ["batch", hkv, "past_sequence", dh]),
    pastValue: b.input(pastValueName(l), "float32", ["batch", hkv, "past_sequence", dh]),
  }));
  return { attentionMask, positionIds, past, mask: paddedCausalMask(b, dims, attentionMask, slidingWindow(spec, file)) };
}

//   attention_mask [B,T] ─► Shape ─► T ─► Sub(S) ─► P
//   Range(0,S) + P ─► Unsqueeze(1) row [S,1] ─┐
//   Range(0,T) ─► Unsqueeze(0) col [1,T] ─────┴─► Greater(col, row) future [S,T] ─┬─(window W: Or Less(col, row − (W−1)) too old)
//   attention_mask ─► Equal(0) ─► Unsqueeze [B,1,1,T] padding ───────────────────┴─► Or [B,1,S,T] ─► Where(−1e9, 0) ─► mask
/**
 * Query i (absolute position P + i) sees key j iff j ≤ P + i and attention_mask[b, j] = 1, and with
 * a sliding `window` also P + i − j < window. A padded query row (left padding) sees nothing: −1e9
 * everywhere, a uniform (finite) softmax whose output nothing reads.
 */
export function paddedCausalMask(b: GraphBuilder, dims: SeqDims, attentionMask: string, window?: number): string {
  const p = "/model/attn_mask";
  const t1 = b.op("Slice", [b.op("Shape", [attentionMask], `${p}/total/Shape`), b.i64s([1]), b.i64s([2])], `${p}/total/Slice`); // [1]
  const t0 = b.op("Squeeze", [t1, b.i64s([0])], `${p}/total/Squeeze`); // []
  const past = b.op("Sub", [t0, dims.s0], `${p}/past/Sub`); // [] P = T − S
  const q = b.op("Range", [b.constant("int64", 0), dims.s0, b.constant("int64", 1)], `${p}/rows/Range`);
  const qAbs = b.op("Add", [q, past], `${p}/rows/Add`); // [S]
  const row = b.op("Unsqueeze", [qAbs, b.i64s([1])], `${p}/row/Unsqueeze`); // [S, 1]
  const k = b.op("Range", [b.constant("int64", 0), t0, b.constant("int64", 1)], `${p}/cols/Range`);
  const col = b.op("Unsqueeze", [k, b.i64s([0])], `${p}/col/Unsqueeze`); // [1, T]
  let future = b.op("Greater", [col, row], `${p}/Greater`); // [S, T]
  if (window !== undefined) {
    const oldest = b.op("Sub", [row, b.constant("int64", window - 1)], `${p}/window/Sub`); // [S, 1] first key a query still sees
    const old = b.op("Less", [col, oldest], `${p}/window/Less`); // [S, T]
    future = b.op("Or", [future, old], `${p}/window/Or`); // [S, T] hidden regardless of padding
  }
  const pad = b.op("Equal", [attentionMask, b.constant("int64", 0)], `${p}/pad/Equal`); // [B, T]
  const pad4 = b.op("Unsqueeze", [pad, b.i64s([1, 2])], `${p}/pad/Unsqueeze`); // [B, 1, 1, T]
  const hidden = b.op("Or", [future, pad4], `${p}/Or`); // [B, 1, S, T]
  return b.op("Where", [hidden, b.f32(-1e9), b.f32(0)], `${p}/Where`);
}

/** Declares `logits` and every layer's `present.{l}.key/value` as the graph's outputs. */
export function declareKvOutputs(
  b: GraphBuilder,
  spec: ModelSpec,
  logits: string,
  presents: readonly ({ readonly key: string; readonly value: string } | undefined)[],
): string[] {
  const hkv = cacheHeads(spec),
    dh = spec.headDim;
  b.alias(logits, LOGITS);
  b.output(LOGITS, "float32", ["batch", "sequence", spec.vocab]);
  const out = [LOGITS];
  presents.forEach((pr, l) => {
    if (!pr) throw new OnnxError("bad-graph", `layer ${l} of the decoder graph produced no KV cache`);
    for (const [edge, name] of [
      [pr.key, presentKeyName(l)],
      [pr.value, presentValueName(l)],
    ] as const) {
      b.alias(edge, name);
      b.output(name, "float32", ["batch", hkv, "total_sequence", dh]);
      out.push(name);
    }
  });
  return out;
}
