/**
 * The Llama-family forward graph (Llama, Mistral, Qwen2 with q/k/v biases): RMSNorm, RoPE
 * (rotate-half, config theta), grouped-query attention, SwiGLU, tied or untied embeddings.
 */
import { OnnxError } from "../onnx/errors";
import type { ModelSpec } from "../model/types";
import { rmsNorm, ropeInvFreq, ropeTables, swiGlu, type AttentionOut } from "./blocks";
import { attentionLinear, decoderAttention, type CompactShapes } from "./compact";
import { llamaNames, type LlamaLayerNames, type TensorLookup } from "./names";
import { finishDecoder, layerAttention, stackLayers, startDecoder, type LayerContext } from "./decoderStack";
import { chunking, type ForwardGraph, type ForwardOptions } from "./types";
import { definedOnly } from "../defined";

type AttnTensor = "q" | "k" | "v" | "o" | "qBias" | "kBias" | "vBias";

export interface LlamaContext extends LayerContext {
  readonly rope: { readonly cos: string; readonly sin: string };
  /** The layer's projection edge (dense, or assembled from a compact checkpoint). */
  readonly proj: (l: number, p: AttnTensor) => string | undefined;
}

/** The graph's MLP is SwiGLU (SiLU): another hidden_act would be evaluated as SiLU without a word, so it is refused by name. */
export function checkLlamaActivation(spec: ModelSpec, file: string): void {
  if (spec.activation !== undefined && spec.activation !== "silu" && spec.activation !== "swish") {
    throw new OnnxError(
      "unsupported",
      `${file}: config.json "hidden_act" is ${JSON.stringify(spec.activation)}; the Llama forward graph implements only "silu" (SwiGLU), so this model cannot be evaluated as configured`,
    );
  }
}

/** HF's rope_scaling variants that only change inv_freq. */
export function llamaInvFreq(spec: ModelSpec): Float32Array {
  const theta = spec.ropeTheta ?? 10000;
  const base = ropeInvFreq(spec.headDim, theta);
  const scaling = spec.config.rope_scaling as Record<string, unknown> | null | undefined;
  if (!scaling) return base;
  const type = String(scaling.rope_type ?? scaling.type ?? "");
  if (type === "default") return base;
  if (type === "linear") {
    const f = Number(scaling.factor);
    return base.map((x) => x / f);
  }
  if (type === "llama3") {
    const factor = Number(scaling.factor),
      low = Number(scaling.low_freq_factor),
      high = Number(scaling.high_freq_factor);
    const orig = Number(scaling.original_max_position_embeddings);
    const lowWl = orig / low,
      highWl = orig / high;
    return base.map((f) => {
      const wl = (2 * Math.PI) / f;
      if (wl < highWl) return f;
      if (wl > lowWl) return f / factor;
      const smooth = (orig / wl - low) / (high - low);
      return (1 - smooth) * (f / factor) + smooth * f;
    });
  }
  throw new OnnxError("unsupported", `rope_scaling type "${type}" is not supported (supported: default, linear, llama3)`);
}

//   x [N,d] ─┬─► RMSNorm(input_layernorm) ─► q/k/v_proj (Gemm) ─► attention ─► o_proj ─► Add ─┬─► RMSNorm(post) ─► SwiGLU ─► Add ─► y
//            └─────────────────────────────────────────────────────────────────────────┘      └────────────────────────┘
export function llamaLayer(c: LlamaContext, x: string, l: number, n: LlamaLayerNames): { out: string; probs: string; present?: AttentionOut["present"] } {
  const { b, w, spec } = c;
  const p = c.prefix ?? `/model/layers.${l}`;
  const lin = c.lin ?? attentionLinear(b, (_l, t) => w.get(t), undefined);
  const h = rmsNorm(b, x, w.get(n.inputNorm), spec.normEps, `${p}/input_layernorm`);
  const q = lin(l, n.q, h, c.proj(l, "qBias"), `${p}/attn/q_proj`, "linear");
  const k = lin(l, n.k, h, c.proj(l, "kBias"), `${p}/attn/k_proj`, "linear");
  const v = lin(l, n.v, h, c.proj(l, "vBias"), `${p}/attn/v_proj`, "linear");
  const att = layerAttention(c, l, q, k, v, { heads: spec.heads, kvHeads: spec.kvHeads, headDim: spec.headDim, rope: c.rope }, p);
  const o = lin(l, n.o, att.out, n.oBias ? w.get(n.oBias) : undefined, `${p}/attn/o_proj`, "linear");
  const r1 = b.op("Add", [x, o], `${p}/residual_add_1/Add`);
  const h2 = rmsNorm(b, r1, w.get(n.postNorm), spec.normEps, `${p}/post_attention_layernorm`);
  const opt = (t: string | undefined): string | undefined => (t ? w.get(t) : undefined);
  const m = swiGlu(
    b,
    h2,
    w.get(n.gate),
    w.get(n.up),
    w.get(n.down),
    `${p}/mlp`,
    definedOnly({ gate: opt(n.gateBias), up: opt(n.upBias), down: opt(n.downBias) }),
  );
  return { out: b.op("Add", [r1, m], `${p}/residual_add_2/Add`), probs: att.probs, present: att.present };
}

//   input_ids ─► Gather(embed_tokens) ─► Reshape [N, d] ─► layer 0 … layer L−1 ─► RMSNorm(norm) ─► lm_head ─► logits / logprobs / nll
export function buildLlamaGraph(spec: ModelSpec, src: TensorLookup, shapes: CompactShapes, opts: ForwardOptions, file: string): ForwardGraph {
  if (spec.family !== "llama") throw new OnnxError("unsupported", `${file}: buildLlamaGraph needs a llama-family model, got ${spec.family}`);
  if (spec.headDim % 2 !== 0) throw new OnnxError("unsupported", `${file}: RoPE needs an even head size, got ${spec.headDim}`);
  checkLlamaActivation(spec, file);
  const names = llamaNames(spec, src, file);
  const { b, w, io, dims, kv, mask } = startDecoder(spec, shapes.stored, opts, file);
  const rope = ropeTables(b, dims, llamaInvFreq(spec), kv?.positionIds);
  const { attn, lin } = decoderAttention(b, w, spec, shapes, opts, file);
  const proj = (l: number, p: AttnTensor): string | undefined => {
    const t = names.layers[l]![p];
    return t === undefined ? undefined : attn(l, t);
  };
  const emb = b.op("Gather", [w.get(names.embed), io.inputIds], "/model/embed_tokens/Gather"); // [B, S, d]
  const x = b.op("Reshape", [emb, b.i64s([-1, spec.hidden])], "/model/embed_tokens/Reshape"); // [N, d]
  const c: LlamaContext = { b, w, spec, dims, mask, rope, proj, lin, chunk: chunking(opts, spec.maxPositions), ...(kv ? { kv } : {}) };
  const stack = stackLayers(spec.layers, x, (h, l) => llamaLayer(c, h, l, names.layers[l]!));
  const xf = rmsNorm(b, stack.out, w.get(names.finalNorm), spec.normEps, "/model/norm");
  return finishDecoder(b, w, spec, dims, xf, w.get(names.lmHead), io, opts, !!kv, stack);
}
