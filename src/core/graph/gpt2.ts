/**
 * The GPT-2 forward graph: learned positions, pre-LayerNorm blocks, fused Conv1D c_attn
 * ([d, 3d], q|k|v column blocks), multi-head attention, GELU (tanh approximation for
 * "gelu_new"), tied lm_head.
 */
import { OnnxError } from "../onnx/errors";
import type { ModelSpec } from "../model/types";
import { gelu, layerNorm, linear, type AttentionOut } from "./blocks";
import { finishDecoder, layerAttention, stackLayers, startDecoder, type LayerContext } from "./decoderStack";
import { gpt2Names, type Gpt2LayerNames, type TensorLookup } from "./names";
import { chunking, type ForwardGraph, type ForwardOptions } from "./types";
import { attentionLinear, decoderAttention, type CompactShapes } from "./compact";

export const GPT2_GELU_KIND: Readonly<Record<string, "tanh" | "erf">> = {
  gelu_new: "tanh",
  gelu_pytorch_tanh: "tanh",
  gelu_fast: "tanh",
  gelu: "erf",
};

/** The GELU variant of a GPT-2 config's `activation_function`; an activation the graph does not implement is refused by name. */
export function gpt2Activation(spec: ModelSpec, file: string): "tanh" | "erf" {
  const act = GPT2_GELU_KIND[spec.activation];
  if (!act)
    throw new OnnxError(
      "unsupported",
      `${file}: activation "${spec.activation}" is not supported for GPT-2 (supported: ${Object.keys(GPT2_GELU_KIND).join(", ")})`,
    );
  return act;
}

export interface Gpt2Context extends LayerContext {
  readonly act: "tanh" | "erf";
  /** A layer's attention tensor: the input, or assembled from a compact checkpoint. */
  readonly attn: (l: number, tensor: string) => string;
}

//   x [N,d] ─┬─► LayerNorm(ln_1) ─► c_attn (Gemm) [N,3d] ─► Slice q | k | v ─► attention ─► c_proj ─► Add ─┬─► LayerNorm(ln_2) ─► c_fc ─► GELU ─► c_proj ─► Add ─► y
//            └─────────────────────────────────────────────────────────────────────────────────────┘      └──────────────────────────────────────────────┘
export function gpt2Layer(c: Gpt2Context, x: string, l: number, n: Gpt2LayerNames): { out: string; probs: string; present?: AttentionOut["present"] } {
  const { b, w, spec } = c;
  const lin = c.lin ?? attentionLinear(b, c.attn, undefined);
  const d = spec.hidden;
  const p = c.prefix ?? `/model/layers.${l}`;
  const opt = (t: string | undefined): string | undefined => (t ? w.get(t) : undefined);
  const h = layerNorm(b, x, w.get(n.ln1), w.get(n.ln1Bias), spec.normEps, `${p}/ln_1`);
  const qkv = lin(l, n.cAttn, h, n.cAttnBias ? c.attn(l, n.cAttnBias) : undefined, `${p}/attn/c_attn`, "conv1d"); // [N, 3d]
  const part = (i: number, nm: string): string => b.op("Slice", [qkv, b.i64s([i * d]), b.i64s([(i + 1) * d]), b.i64s([1])], `${p}/attn/${nm}/Slice`);
  // HF GPT2Attention: scores / √dh when scale_attn_weights (default), and / (layer + 1) when scale_attn_by_inverse_layer_idx
  const cfg = spec.config;
  const scale = (cfg.scale_attn_weights === false ? 1 : 1 / Math.sqrt(spec.headDim)) / (cfg.scale_attn_by_inverse_layer_idx === true ? l + 1 : 1);
  const att = layerAttention(c, l, part(0, "q"), part(1, "k"), part(2, "v"), { heads: spec.heads, kvHeads: spec.heads, headDim: spec.headDim, scale }, p);
  const o = lin(l, n.cProj, att.out, opt(n.cProjBias), `${p}/attn/c_proj`, "conv1d");
  const r1 = b.op("Add", [x, o], `${p}/residual_add_1/Add`);
  const h2 = layerNorm(b, r1, w.get(n.ln2), w.get(n.ln2Bias), spec.normEps, `${p}/ln_2`);
  const f = linear(b, h2, w.get(n.fc), opt(n.fcBias), `${p}/mlp/c_fc`, "conv1d");
  const g = gelu(b, f, c.act, `${p}/mlp/act`);
  const m = linear(b, g, w.get(n.mlpProj), opt(n.mlpProjBias), `${p}/mlp/c_proj`, "conv1d");
  return { out: b.op("Add", [r1, m], `${p}/residual_add_2/Add`), probs: att.probs, present: att.present };
}

//   input_ids ─► Gather(wte) ─┐
//   Range(S) ─► Gather(wpe) ──┴─► Add ─► Reshape [N, d] ─► layer 0 … L−1 ─► LayerNorm(ln_f) ─► lm_head (wte) ─► logits / logprobs / nll
export function buildGpt2Graph(spec: ModelSpec, src: TensorLookup, shapes: CompactShapes, opts: ForwardOptions, file: string): ForwardGraph {
  if (spec.family !== "gpt2") throw new OnnxError("unsupported", `${file}: buildGpt2Graph needs a GPT-2 model, got ${spec.family}`);
  const act = gpt2Activation(spec, file);
  const names = gpt2Names(spec, src, file);
  const { b, w, io, dims, kv, mask } = startDecoder(spec, shapes.stored, opts, file);
  const { attn, lin } = decoderAttention(b, w, spec, shapes, opts, file);
  const tok = b.op("Gather", [w.get(names.wte), io.inputIds], "/model/wte/Gather"); // [B, S, d]
  const r = kv ? kv.positionIds : b.op("Range", [b.constant("int64", 0), dims.s0, b.constant("int64", 1)], "/model/wpe/Range");
  const pos = b.op("Gather", [w.get(names.wpe), r], "/model/wpe/Gather"); // [S, d] (decoder: [B, S, d])
  const emb = b.op("Add", [tok, pos], "/model/embed/Add"); // [B, S, d]
  const x = b.op("Reshape", [emb, b.i64s([-1, spec.hidden])], "/model/embed/Reshape"); // [N, d]
  const c: Gpt2Context = {
    b,
    w,
    spec,
    dims,
    mask,
    act,
    attn,
    lin,
    chunk: chunking(opts, spec.maxPositions),
    ...(kv ? { kv } : {}),
  };
  const stack = stackLayers(spec.layers, x, (h, l) => gpt2Layer(c, h, l, names.layers[l]!));
  const xf = layerNorm(b, stack.out, w.get(names.lnF), w.get(names.lnFBias), spec.normEps, "/model/ln_f");
  return finishDecoder(b, w, spec, dims, xf, w.get(names.lmHead), io, opts, !!kv, stack);
}
