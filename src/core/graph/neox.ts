/**
 * The GPT-NeoX forward graph (Pythia): LayerNorm, fused query_key_value with rows interleaved per
 * head as [H, 3, dh], partial rotary (rotate-half over the first rotary_pct·dh dims of each head,
 * base rotary_emb_base), exact or tanh GELU, parallel residual (use_parallel_residual, default
 * true) or sequential, untied embed_out.
 */
import { OnnxError } from "../onnx/errors";
import type { ModelSpec } from "../model/types";
import { gelu, layerNorm, linear, ropeInvFreq, ropeTables, type AttentionOut } from "./blocks";
import { attentionLinear, decoderAttention, type CompactShapes } from "./compact";
import { finishDecoder, layerAttention, stackLayers, startDecoder, type LayerContext } from "./decoderStack";
import type { TensorLookup } from "./names";
import { chunking, type ForwardGraph, type ForwardOptions } from "./types";

export const NEOX_GELU_KIND: Readonly<Record<string, "tanh" | "erf">> = { gelu: "erf", gelu_new: "tanh", gelu_fast: "tanh", gelu_pytorch_tanh: "tanh" };

export interface NeoxNames {
  readonly embed: string;
  readonly lnF: string;
  readonly lnFBias: string;
  readonly head: string;
  readonly layers: readonly Readonly<Record<"ln1" | "ln1b" | "ln2" | "ln2b" | "qkv" | "qkvb" | "dense" | "denseb" | "fc" | "fcb" | "proj" | "projb", string>>[];
}

export function neoxNames(spec: ModelSpec, src: TensorLookup, file: string): NeoxNames {
  const need = (n: string, what: string): string => {
    if (!src.has(n)) throw new OnnxError("bad-graph", `${file}: the ${what} tensor "${n}" is missing; the checkpoint does not match its config.json`);
    return n;
  };
  const embed = spec.globals.embed ?? "";
  const root = embed.slice(0, embed.length - "embed_in.weight".length);
  const layers = spec.layerTensors.map((t, l) => {
    const p = t.q.slice(0, t.q.length - "attention.query_key_value.weight".length);
    const w = (suffix: string): string => need(p + suffix, `layer ${l} ${suffix}`);
    return {
      ln1: w("input_layernorm.weight"),
      ln1b: w("input_layernorm.bias"),
      ln2: w("post_attention_layernorm.weight"),
      ln2b: w("post_attention_layernorm.bias"),
      qkv: t.q,
      qkvb: w("attention.query_key_value.bias"),
      dense: t.o,
      denseb: w("attention.dense.bias"),
      fc: w("mlp.dense_h_to_4h.weight"),
      fcb: w("mlp.dense_h_to_4h.bias"),
      proj: w("mlp.dense_4h_to_h.weight"),
      projb: w("mlp.dense_4h_to_h.bias"),
    };
  });
  const head = spec.tiedEmbeddings ? embed : need(spec.globals.lmHead ?? "embed_out.weight", "embed_out");
  return {
    embed: need(embed, "embed_in"),
    lnF: need(`${root}final_layer_norm.weight`, "final LayerNorm"),
    lnFBias: need(`${root}final_layer_norm.bias`, "final LayerNorm bias"),
    head,
    layers,
  };
}

export interface NeoxContext extends LayerContext {
  readonly rope: { readonly cos: string; readonly sin: string };
  readonly rotaryDims: number;
  readonly act: "tanh" | "erf";
  readonly parallel: boolean;
  /** A layer's attention tensor: the input, or assembled from a compact checkpoint. */
  readonly attn: (l: number, t: string) => string;
}

//   x ─┬─► LayerNorm(ln1) ─► query_key_value ─► Reshape [N,H,3,dh] ─► Slice q | k | v ─► attention (partial RoPE) ─► dense ─┐
//      ├─► LayerNorm(ln2) ─► dense_h_to_4h ─► GELU ─► dense_4h_to_h ─────────────────────────────────────────────┐      │
//      └──────────────────────────────────────────────────────────────────────────────────────────────► Add ◄──┴──────┘ ─► y   (parallel)
//   (sequential: y = h + mlp(ln2(h)), h = x + attention(ln1(x)))
export function neoxLayer(
  c: NeoxContext,
  x: string,
  l: number,
  n: NeoxNames["layers"][number],
): { out: string; probs: string; present?: AttentionOut["present"] } {
  const { b, w, spec } = c;
  const lin = c.lin ?? attentionLinear(b, c.attn, undefined);
  const H = spec.heads,
    dh = spec.headDim,
    p = c.prefix ?? `/model/layers.${l}`;
  const h = layerNorm(b, x, w.get(n.ln1), w.get(n.ln1b), spec.normEps, `${p}/input_layernorm`);
  const qkv = lin(l, n.qkv, h, c.attn(l, n.qkvb), `${p}/attn/query_key_value`, "linear"); // [N, 3d]
  const per = b.op("Reshape", [qkv, b.i64s([-1, H, 3, dh])], `${p}/attn/qkv/Reshape`); // [N, H, 3, dh]
  const part = (i: number, nm: string): string => {
    const s = b.op("Slice", [per, b.i64s([i]), b.i64s([i + 1]), b.i64s([2])], `${p}/attn/qkv_split/${nm}/Slice`); // [N, H, 1, dh]
    return b.op("Reshape", [s, b.i64s([-1, H * dh])], `${p}/attn/qkv_split/${nm}/Reshape`); // [N, H·dh]
  };
  const att = layerAttention(c, l, part(0, "q"), part(1, "k"), part(2, "v"), { heads: H, kvHeads: H, headDim: dh, rope: c.rope, rotaryDims: c.rotaryDims }, p);
  const o = lin(l, n.dense, att.out, w.get(n.denseb), `${p}/attn/dense`, "linear");
  const mlp = (y: string): string => {
    const h2 = layerNorm(b, y, w.get(n.ln2), w.get(n.ln2b), spec.normEps, `${p}/post_attention_layernorm`);
    const f = linear(b, h2, w.get(n.fc), w.get(n.fcb), `${p}/mlp/dense_h_to_4h`, "linear");
    return linear(b, gelu(b, f, c.act, `${p}/mlp/act`), w.get(n.proj), w.get(n.projb), `${p}/mlp/dense_4h_to_h`, "linear");
  };
  if (c.parallel) {
    const ao = b.op("Add", [o, mlp(x)], `${p}/parallel/Add`);
    return { out: b.op("Add", [x, ao], `${p}/residual/Add`), probs: att.probs, present: att.present };
  }
  const r1 = b.op("Add", [x, o], `${p}/residual_add_1/Add`);
  return { out: b.op("Add", [r1, mlp(r1)], `${p}/residual_add_2/Add`), probs: att.probs, present: att.present };
}

/** Leading dims of each head that RoPE rotates (rotary_pct · dh), validated. */
export function neoxRotaryDims(spec: ModelSpec, file: string): number {
  const pct = typeof spec.config.rotary_pct === "number" ? spec.config.rotary_pct : 1;
  const rotaryDims = Math.floor(spec.headDim * pct);
  if (rotaryDims < 2 || rotaryDims % 2 !== 0)
    throw new OnnxError("unsupported", `${file}: rotary_pct ${pct} gives ${rotaryDims} rotary dims per head; an even number ≥ 2 is needed`);
  return rotaryDims;
}

//   input_ids ─► Gather(embed_in) ─► Reshape [N, d] ─► layer 0 … L−1 ─► LayerNorm(final_layer_norm) ─► embed_out ─► logits / logprobs / nll
/** The GELU variant of a GPT-NeoX config's `hidden_act`; an activation the graph does not implement is refused by name. */
export function neoxActivation(spec: ModelSpec, file: string): "tanh" | "erf" {
  const act = NEOX_GELU_KIND[spec.activation];
  if (!act)
    throw new OnnxError(
      "unsupported",
      `${file}: hidden_act "${spec.activation}" is not supported for GPT-NeoX (supported: ${Object.keys(NEOX_GELU_KIND).join(", ")})`,
    );
  return act;
}

export function buildNeoxGraph(spec: ModelSpec, src: TensorLookup, shapes: CompactShapes, opts: ForwardOptions, file: string): ForwardGraph {
  if (spec.family !== "gpt-neox") throw new OnnxError("unsupported", `${file}: buildNeoxGraph needs a GPT-NeoX model, got ${spec.family}`);
  const act = neoxActivation(spec, file);
  const rotaryDims = neoxRotaryDims(spec, file);
  const names = neoxNames(spec, src, file);
  const { b, w, io, dims, kv, mask } = startDecoder(spec, shapes.stored, opts, file);
  const { attn, lin } = decoderAttention(b, w, spec, shapes, opts, file);
  const c: NeoxContext = {
    b,
    w,
    spec,
    dims,
    mask,
    rope: ropeTables(b, dims, ropeInvFreq(rotaryDims, spec.ropeTheta ?? 10000), kv?.positionIds),
    rotaryDims,
    act,
    parallel: spec.config.use_parallel_residual !== false,
    attn,
    lin,
    chunk: chunking(opts, spec.maxPositions),
    ...(kv ? { kv } : {}),
  };
  const emb = b.op("Gather", [w.get(names.embed), io.inputIds], "/model/embed_in/Gather"); // [B, S, d]
  const x = b.op("Reshape", [emb, b.i64s([-1, spec.hidden])], "/model/embed_in/Reshape"); // [N, d]
  const stack = stackLayers(spec.layers, x, (h, l) => neoxLayer(c, h, l, names.layers[l]!));
  const xf = layerNorm(b, stack.out, w.get(names.lnF), w.get(names.lnFBias), spec.normEps, "/model/final_layer_norm");
  return finishDecoder(b, w, spec, dims, xf, w.get(names.head), io, opts, !!kv, stack);
}
