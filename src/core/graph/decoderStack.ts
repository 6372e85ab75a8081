/**
 * What every decoder forward graph (GPT-2, GPT-NeoX, Llama) does around its family's own layer: the
 * layers in order, each one's output feeding the next, and after the final norm the LM head and the
 * graph's declared outputs (logits and every layer's KV present for a cached decoder, else the
 * outputs `opts` asks for).
 *
 *   x [N, d] ─► layer 0 ─► layer 1 ─► … ─► layer L−1 ─► (family's final norm) ─► lm_head ─► outputs
 */
import { GraphBuilder } from "../onnx/builder";
import type { ModelSpec } from "../model/types";
import { attention, causalMask, lmHead, seqDims, type AttentionOut, type AttentionSpec, type SeqDims } from "./blocks";
import type { AttentionLinear } from "./compact";
import { declareOutputs, declareTokenInputs } from "./io";
import { declareKvCache, declareKvOutputs, type KvCacheInputs } from "./kvCache";
import type { ForwardGraph, ForwardOptions, ShapeOf } from "./types";
import { WeightInputs } from "./weightInputs";

/** A decoder graph's start, before its embedding: the builder, the weight inputs, the token inputs, the sequence dims, the KV cache inputs (cached decoders) and the attention mask. */
export interface DecoderStart {
  readonly b: GraphBuilder;
  readonly w: WeightInputs;
  readonly io: { readonly inputIds: string; readonly targets?: string };
  readonly dims: SeqDims;
  readonly kv: KvCacheInputs | undefined;
  /** Additive: causal [S, S], or with the KV cache causal over the cache and padding [B, 1, S, P+S]. */
  readonly mask: string;
}

//   input_ids (, targets) ─► seqDims ─► causal mask          (cached: attention_mask, position_ids, past.{l} ─► padded causal mask)
export function startDecoder(spec: ModelSpec, stored: ShapeOf, opts: ForwardOptions, file: string): DecoderStart {
  const b = new GraphBuilder(`${spec.architecture}-forward`, 17);
  const w = new WeightInputs(b, stored);
  const io = declareTokenInputs(b, opts);
  const dims = seqDims(b, io.inputIds);
  const kv = opts.kvCache ? declareKvCache(b, spec, dims, file) : undefined;
  return { b, w, io, dims, kv, mask: kv ? kv.mask : causalMask(b, dims) };
}

/** What a family's layer function (`gpt2Layer`, `neoxLayer`, `llamaLayer`) reads besides its family's own fields. */
export interface LayerContext {
  readonly b: GraphBuilder;
  readonly w: WeightInputs;
  readonly spec: ModelSpec;
  readonly dims: SeqDims;
  readonly mask: string;
  /** x · W (+ bias) of a layer's attention weight tensor (activation-side on compact checkpoints in the decoder); default: Gemm on the weight. */
  readonly lin?: AttentionLinear;
  readonly chunk: { readonly size: number; readonly count: number } | undefined;
  /** The decoder's KV cache inputs (ForwardOptions.kvCache). */
  readonly kv?: KvCacheInputs;
  /** Node-name prefix of the layer (default `/model/layers.{l}`; a block graph uses one for every layer). */
  readonly prefix?: string;
}

/** Layer l's attention (`attention` in blocks.ts) over the context's mask and sequence dims, in its query chunks or on its KV cache; nodes under `${p}/attn`. */
export function layerAttention(
  c: LayerContext,
  l: number,
  q: string,
  k: string,
  v: string,
  a: Omit<AttentionSpec, "chunk" | "cache">,
  p: string,
): AttentionOut {
  return attention(c.b, q, k, v, c.mask, c.dims, { ...a, ...(c.chunk ? { chunk: c.chunk } : {}), ...(c.kv ? { cache: c.kv.past[l]! } : {}) }, `${p}/attn`);
}

export interface LayerStack {
  /** The last layer's output [N, d]. */
  readonly out: string;
  /** Each layer's output [N, d] and attention probabilities [B, H, S, S]. */
  readonly hidden: string[];
  readonly probs: string[];
  /** Each layer's KV present (cached decoders only). */
  readonly presents: AttentionOut["present"][];
}

/** What a family's layer returns: its output [N, d], its attention probabilities, its KV present when cached (else undefined). */
export interface LayerOut {
  readonly out: string;
  readonly probs: string;
  readonly present?: AttentionOut["present"];
}

/** Runs `layer` for l = 0 … layers−1 on `x`, each on the previous one's output. */
export function stackLayers(layers: number, x: string, layer: (x: string, l: number) => LayerOut): LayerStack {
  const hidden: string[] = [],
    probs: string[] = [],
    presents: AttentionOut["present"][] = [];
  let out = x;
  for (let l = 0; l < layers; l++) {
    const r = layer(out, l);
    out = r.out;
    hidden.push(out);
    probs.push(r.probs);
    presents.push(r.present);
  }
  return { out, hidden, probs, presents };
}

/** The LM head (`headWeight`, [V, d]) on the final normed hidden state `xf` [N, d], the outputs declared, the graph built. */
export function finishDecoder(
  b: GraphBuilder,
  w: WeightInputs,
  spec: ModelSpec,
  dims: SeqDims,
  xf: string,
  headWeight: string,
  io: { readonly targets?: string },
  opts: ForwardOptions,
  cached: boolean,
  stack: LayerStack,
): ForwardGraph {
  const head = lmHead(b, xf, headWeight, "linear", dims, spec.vocab, {
    ...opts,
    logits: opts.logits ?? true,
    ...(io.targets ? { targets: io.targets } : {}),
  });
  const outputs = cached ? declareKvOutputs(b, spec, head.logits!, stack.presents) : declareOutputs(b, spec, dims, head, stack.hidden, stack.probs, opts);
  return { graph: b.build(), weights: w.list, outputs };
}
