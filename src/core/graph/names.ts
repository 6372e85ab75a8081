/**
 * Resolves the checkpoint tensors a forward graph reads, by role, from the canonical `ModelSpec`
 * plus Hugging Face naming under each layer's prefix (the spec's `other` roles are used when they
 * name a tensor with the expected suffix). Missing tensors are an error naming the tensor.
 */
import type { AttentionTensors, LayerTensors, ModelSpec } from "../model/types";
import { OnnxError } from "../onnx/errors";

export interface TensorLookup {
  has(name: string): boolean;
}

/** Finds the tensor that ends with `suffix`: first among the spec's candidates, then `prefix + suffix`. */
function find(src: TensorLookup, candidates: readonly string[], prefix: string, suffix: string, what: string, file: string): string {
  for (const c of candidates) if (c.endsWith(suffix) && src.has(c)) return c;
  const guess = prefix + suffix;
  if (src.has(guess)) return guess;
  throw new OnnxError("bad-graph", `${file}: the ${what} tensor "${guess}" is missing; the checkpoint does not match its config.json`);
}

function findOptional(src: TensorLookup, candidates: readonly string[], prefix: string, suffix: string): string | undefined {
  for (const c of candidates) if (c.endsWith(suffix) && src.has(c)) return c;
  return src.has(prefix + suffix) ? prefix + suffix : undefined;
}

/** Prefix of a layer's tensors, e.g. "model.layers.3." from "model.layers.3.self_attn.q_proj.weight". */
function layerPrefix(name: string, marker: string): string {
  const i = name.lastIndexOf(marker);
  return i >= 0 ? name.slice(0, i) : "";
}

/** Prefix of the model's tensors, from layer 0's q tensor up to `marker` (e.g. "model." before "layers.0."). */
function modelPrefix(spec: ModelSpec, marker: string): string {
  return layerPrefix(spec.layerTensors[0]?.q ?? "", marker);
}

/**
 * Finders of layer `l`'s other tensors by suffix (the spec's `other` roles first, then the layer's
 * prefix, its q tensor's name up to `marker`, + suffix): `need` throws naming the tensor, `opt` gives undefined.
 */
function layerFinder(
  src: TensorLookup,
  t: LayerTensors,
  l: number,
  marker: string,
  file: string,
): { need: (suffix: string, what: string) => string; opt: (suffix: string) => string | undefined } {
  const other = Object.values(t.other);
  const prefix = layerPrefix(t.q, marker);
  return {
    need: (suffix, what) => find(src, other, prefix, suffix, `layer ${l} ${what}`, file),
    opt: (suffix) => findOptional(src, other, prefix, suffix),
  };
}

export interface LlamaLayerNames extends AttentionTensors {
  readonly inputNorm: string;
  readonly postNorm: string;
  readonly gate: string;
  readonly up: string;
  readonly down: string;
  /** MLP biases (config mlp_bias: true). */
  readonly gateBias?: string;
  readonly upBias?: string;
  readonly downBias?: string;
}

export interface LlamaNames {
  readonly embed: string;
  readonly finalNorm: string;
  /** The lm_head weight [V, d]: the embedding when tied. */
  readonly lmHead: string;
  readonly layers: readonly LlamaLayerNames[];
}

export function llamaNames(spec: ModelSpec, src: TensorLookup, file: string): LlamaNames {
  const globals = Object.values(spec.globals);
  const root = modelPrefix(spec, "layers.0.");
  const embed = find(src, globals, root, "embed_tokens.weight", "token embedding", file);
  const finalNorm = find(
    src,
    globals.filter((g) => !/layers\.\d+\./.test(g)),
    root,
    "norm.weight",
    "final norm",
    file,
  );
  const lmHead = spec.tiedEmbeddings ? embed : find(src, globals, "", "lm_head.weight", "lm_head", file);
  const layers = spec.layerTensors.map((t, l) => {
    const { need, opt } = layerFinder(src, t, l, "self_attn.", file);
    const names: LlamaLayerNames = {
      q: t.q,
      k: t.k,
      v: t.v,
      o: t.o,
      ...(t.qBias ? { qBias: t.qBias } : {}),
      ...(t.kBias ? { kBias: t.kBias } : {}),
      ...(t.vBias ? { vBias: t.vBias } : {}),
      ...(t.oBias ? { oBias: t.oBias } : {}),
      inputNorm: need("input_layernorm.weight", "input norm"),
      postNorm: need("post_attention_layernorm.weight", "post-attention norm"),
      gate: need("mlp.gate_proj.weight", "gate_proj"),
      up: need("mlp.up_proj.weight", "up_proj"),
      down: need("mlp.down_proj.weight", "down_proj"),
    };
    const gateBias = opt("mlp.gate_proj.bias");
    const upBias = opt("mlp.up_proj.bias");
    const downBias = opt("mlp.down_proj.bias");
    const withBiases: LlamaLayerNames = { ...names, ...(gateBias ? { gateBias } : {}), ...(upBias ? { upBias } : {}), ...(downBias ? { downBias } : {}) };
    for (const n of [t.q, t.k, t.v, t.o]) {
      if (!src.has(n)) throw new OnnxError("bad-graph", `${file}: layer ${l} attention tensor "${n}" is missing`);
    }
    return withBiases;
  });
  return { embed, finalNorm, lmHead, layers };
}

export interface Gpt2LayerNames {
  readonly ln1: string;
  readonly ln1Bias: string;
  readonly cAttn: string;
  readonly cAttnBias?: string;
  readonly cProj: string;
  readonly cProjBias?: string;
  readonly ln2: string;
  readonly ln2Bias: string;
  readonly fc: string;
  readonly fcBias?: string;
  readonly mlpProj: string;
  readonly mlpProjBias?: string;
}

export interface Gpt2Names {
  readonly wte: string;
  readonly wpe: string;
  readonly lnF: string;
  readonly lnFBias: string;
  /** [V, d]; wte when tied. */
  readonly lmHead: string;
  readonly layers: readonly Gpt2LayerNames[];
}

export function gpt2Names(spec: ModelSpec, src: TensorLookup, file: string): Gpt2Names {
  const globals = Object.values(spec.globals);
  const root = modelPrefix(spec, "h.0.");
  const wte = find(src, globals, root, "wte.weight", "token embedding", file);
  const wpe = find(src, globals, root, "wpe.weight", "position embedding", file);
  const lnF = find(src, globals, root, "ln_f.weight", "final LayerNorm", file);
  const lnFBias = find(src, globals, root, "ln_f.bias", "final LayerNorm bias", file);
  const lmHead = spec.tiedEmbeddings || !src.has("lm_head.weight") ? wte : "lm_head.weight";
  const layers = spec.layerTensors.map((t, l) => {
    const { need, opt } = layerFinder(src, t, l, "attn.", file);
    const cAttnBias = t.qBias ?? opt("attn.c_attn.bias");
    const cProjBias = t.oBias ?? opt("attn.c_proj.bias");
    const fcBias = opt("mlp.c_fc.bias");
    const mlpProjBias = opt("mlp.c_proj.bias");
    return {
      ln1: need("ln_1.weight", "ln_1"),
      ln1Bias: need("ln_1.bias", "ln_1 bias"),
      cAttn: t.q,
      ...(cAttnBias ? { cAttnBias } : {}),
      cProj: t.o,
      ...(cProjBias ? { cProjBias } : {}),
      ln2: need("ln_2.weight", "ln_2"),
      ln2Bias: need("ln_2.bias", "ln_2 bias"),
      fc: need("mlp.c_fc.weight", "mlp.c_fc"),
      ...(fcBias ? { fcBias } : {}),
      mlpProj: need("mlp.c_proj.weight", "mlp.c_proj"),
      ...(mlpProjBias ? { mlpProjBias } : {}),
    };
  });
  return { wte, wpe, lnF, lnFBias, lmHead, layers };
}
