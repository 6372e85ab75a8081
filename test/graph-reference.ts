// Plain float64 reference forward passes (slow and obvious, one position at a time) for the
// graph tests. They read the checkpoint's tensors and follow the Hugging Face modelling code
// (GPT2LMHeadModel, LlamaForCausalLM / Qwen2ForCausalLM) line by line.
import fs from "node:fs/promises";
import path from "node:path";
import type { ModelSpec } from "../src/core/model/types";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel, type SyntheticOptions } from "../src/core/model/synthetic";
import { writeSafetensors } from "../src/core/safetensors/writer";
import { f32ToBytes } from "../src/core/safetensors/dtype";

export type Weights = (name: string) => Float64Array;

/** y[o] = Σ_i W[o, i]·x[i] (+ b[o]) for W stored [out, in] (nn.Linear). */
function linearOI(W: Float64Array, x: Float64Array, out: number, b?: Float64Array): Float64Array {
  const n = x.length,
    y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < n; i++) s += W[o * n + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

/** y[o] = Σ_i x[i]·W[i, o] (+ b[o]) for W stored [in, out] (Conv1D). */
function linearIO(W: Float64Array, x: Float64Array, out: number, b?: Float64Array): Float64Array {
  const n = x.length,
    y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < n; i++) s += x[i]! * W[i * out + o]!;
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Float64Array, g: Float64Array, b: Float64Array, eps: number): Float64Array {
  const n = x.length;
  let m = 0;
  for (const v of x) m += v;
  m /= n;
  let v2 = 0;
  for (const v of x) v2 += (v - m) ** 2;
  v2 /= n;
  return x.map((v, i) => ((v - m) / Math.sqrt(v2 + eps)) * g[i]! + b[i]!);
}

function rmsNorm(x: Float64Array, g: Float64Array, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  ms /= x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * g[i]!);
}

const add = (a: Float64Array, b: Float64Array): Float64Array => a.map((v, i) => v + b[i]!);

/** Causal attention for position t given per-position q [H·dh] and k/v [Hkv·dh] lists. */
function attend(q: Float64Array, ks: Float64Array[], vs: Float64Array[], H: number, Hkv: number, dh: number, scale = 1 / Math.sqrt(dh)): Float64Array {
  const out = new Float64Array(H * dh),
    g = H / Hkv;
  for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / g);
    const scores = ks.map((k) => {
      let s = 0;
      for (let i = 0; i < dh; i++) s += q[h * dh + i]! * k[kh * dh + i]!;
      return s * scale;
    });
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let s = 0; s < ks.length; s++) for (let i = 0; i < dh; i++) out[h * dh + i]! += (e[s]! / z) * vs[s]![kh * dh + i]!;
  }
  return out;
}

function lmHead(x: Float64Array, E: Float64Array, V: number): Float64Array {
  return linearOI(E, x, V);
}

/** GPT-2 logits [S, V] of one sequence. */
export function gpt2Reference(spec: ModelSpec, W: Weights, ids: readonly number[], prefix: string): Float64Array[] {
  const d = spec.hidden,
    H = spec.heads,
    dh = spec.headDim,
    V = spec.vocab;
  const wte = W(`${prefix}wte.weight`),
    wpe = W(`${prefix}wpe.weight`);
  const ks: Float64Array[][] = Array.from({ length: spec.layers }, () => []);
  const vs: Float64Array[][] = Array.from({ length: spec.layers }, () => []);
  const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  return ids.map((id, t) => {
    let x: Float64Array = new Float64Array(d).map((_, i) => wte[id * d + i]! + wpe[t * d + i]!);
    for (let l = 0; l < spec.layers; l++) {
      const p = `${prefix}h.${l}.`;
      const h = layerNorm(x, W(`${p}ln_1.weight`), W(`${p}ln_1.bias`), spec.normEps);
      const qkv = linearIO(W(`${p}attn.c_attn.weight`), h, 3 * d, W(`${p}attn.c_attn.bias`));
      ks[l]!.push(qkv.slice(d, 2 * d));
      vs[l]!.push(qkv.slice(2 * d));
      // GPT2Attention: / √dh unless scale_attn_weights is false; / (layer + 1) with scale_attn_by_inverse_layer_idx
      let scale = spec.config.scale_attn_weights === false ? 1 : 1 / Math.sqrt(dh);
      if (spec.config.scale_attn_by_inverse_layer_idx === true) scale /= l + 1;
      const a = attend(qkv.slice(0, d), ks[l]!, vs[l]!, H, H, dh, scale);
      x = add(x, linearIO(W(`${p}attn.c_proj.weight`), a, d, W(`${p}attn.c_proj.bias`)));
      const h2 = layerNorm(x, W(`${p}ln_2.weight`), W(`${p}ln_2.bias`), spec.normEps);
      const f = linearIO(W(`${p}mlp.c_fc.weight`), h2, spec.intermediate, W(`${p}mlp.c_fc.bias`)).map(gelu);
      x = add(x, linearIO(W(`${p}mlp.c_proj.weight`), f, d, W(`${p}mlp.c_proj.bias`)));
    }
    return lmHead(layerNorm(x, W(`${prefix}ln_f.weight`), W(`${prefix}ln_f.bias`), spec.normEps), wte, V);
  });
}

/** Rotate-half RoPE of one head vector at position t (every dim rotated). */
function rope(x: Float64Array, off: number, dh: number, t: number, theta: number): void {
  ropePartial(x, off, dh, t, theta);
}

/**
 * Llama / Qwen2 / Mistral logits [S, V] of one sequence (names "model.layers.{l}.…"); with `window`
 * (Mistral's sliding_window) position t attends to the last `window` positions only (t − j < window).
 */
export function llamaReference(spec: ModelSpec, W: Weights, ids: readonly number[], has: (n: string) => boolean, window = Infinity): Float64Array[] {
  const d = spec.hidden,
    H = spec.heads,
    Hkv = spec.kvHeads,
    dh = spec.headDim,
    V = spec.vocab,
    theta = spec.ropeTheta ?? 10000;
  const E = W("model.embed_tokens.weight");
  const head = has("lm_head.weight") ? W("lm_head.weight") : E;
  const opt = (n: string): Float64Array | undefined => (has(n) ? W(n) : undefined);
  const ks: Float64Array[][] = Array.from({ length: spec.layers }, () => []);
  const vs: Float64Array[][] = Array.from({ length: spec.layers }, () => []);
  return ids.map((id, t) => {
    let x: Float64Array = E.slice(id * d, (id + 1) * d);
    for (let l = 0; l < spec.layers; l++) {
      const p = `model.layers.${l}.`;
      const h = rmsNorm(x, W(`${p}input_layernorm.weight`), spec.normEps);
      const q = linearOI(W(`${p}self_attn.q_proj.weight`), h, H * dh, opt(`${p}self_attn.q_proj.bias`));
      const k = linearOI(W(`${p}self_attn.k_proj.weight`), h, Hkv * dh, opt(`${p}self_attn.k_proj.bias`));
      const v = linearOI(W(`${p}self_attn.v_proj.weight`), h, Hkv * dh, opt(`${p}self_attn.v_proj.bias`));
      for (let hh = 0; hh < H; hh++) rope(q, hh * dh, dh, t, theta);
      for (let hh = 0; hh < Hkv; hh++) rope(k, hh * dh, dh, t, theta);
      ks[l]!.push(k);
      vs[l]!.push(v);
      const from = Math.max(0, t + 1 - window);
      const a = attend(q, ks[l]!.slice(from), vs[l]!.slice(from), H, Hkv, dh);
      x = add(x, linearOI(W(`${p}self_attn.o_proj.weight`), a, d));
      const h2 = rmsNorm(x, W(`${p}post_attention_layernorm.weight`), spec.normEps);
      const gate = linearOI(W(`${p}mlp.gate_proj.weight`), h2, spec.intermediate);
      const up = linearOI(W(`${p}mlp.up_proj.weight`), h2, spec.intermediate);
      const m = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      x = add(x, linearOI(W(`${p}mlp.down_proj.weight`), m, d));
    }
    return lmHead(rmsNorm(x, W("model.norm.weight"), spec.normEps), head, V);
  });
}

/** A synthetic model with its non-norm weights scaled up (×scale) so attention is peaked, not uniform. */
export async function scaledSynthetic(root: string, opts: SyntheticOptions, scale: number): Promise<string> {
  const base = await writeSyntheticModel(path.join(root, "base"), opts);
  const ck = await openCheckpoint(base);
  const out = path.join(root, "scaled");
  await fs.mkdir(out, { recursive: true });
  try {
    const tensors = [];
    for (const t of ck.source.tensors) {
      const x = await ck.source.readF32(t.name);
      const keep = /norm|ln_/.test(t.name);
      tensors.push({ name: t.name, dtype: "F32" as const, shape: t.shape, data: f32ToBytes(keep ? x : x.map((v) => v * scale), "F32") });
    }
    await writeSafetensors(path.join(out, "model.safetensors"), tensors, { format: "pt" });
    await fs.copyFile(path.join(base, "config.json"), path.join(out, "config.json"));
  } finally {
    await ck.close();
  }
  return out;
}

/** erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), enough for a 1e-4 comparison. */
function erf(x: number): number {
  const s = Math.sign(x),
    a = Math.abs(x),
    t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Rotate-half RoPE over the first r dims of one head vector at position t (GPT-NeoX partial rotary). */
function ropePartial(x: Float64Array, off: number, r: number, t: number, theta: number): void {
  const half = r / 2;
  for (let i = 0; i < half; i++) {
    const f = t / Math.pow(theta, (2 * i) / r);
    const c = Math.cos(f),
      s = Math.sin(f);
    const a = x[off + i]!,
      b = x[off + i + half]!;
    x[off + i] = a * c - b * s;
    x[off + i + half] = b * c + a * s;
  }
}

/** GPT-NeoX logits [S, V] of one sequence (names "gpt_neox.layers.{l}.…", HF GPTNeoXForCausalLM). */
export function neoxReference(spec: ModelSpec, W: Weights, ids: readonly number[]): Float64Array[] {
  const d = spec.hidden,
    H = spec.heads,
    dh = spec.headDim,
    V = spec.vocab,
    theta = spec.ropeTheta ?? 10000;
  const r = Math.floor(dh * (spec.config.rotary_pct as number));
  const parallel = spec.config.use_parallel_residual !== false;
  const E = W("gpt_neox.embed_in.weight");
  const ks: Float64Array[][] = Array.from({ length: spec.layers }, () => []);
  const vs: Float64Array[][] = Array.from({ length: spec.layers }, () => []);
  const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
  return ids.map((id, t) => {
    let x: Float64Array = E.slice(id * d, (id + 1) * d);
    for (let l = 0; l < spec.layers; l++) {
      const p = `gpt_neox.layers.${l}.`;
      const mlp = (y: Float64Array): Float64Array => {
        const h2 = layerNorm(y, W(`${p}post_attention_layernorm.weight`), W(`${p}post_attention_layernorm.bias`), spec.normEps);
        const f = linearOI(W(`${p}mlp.dense_h_to_4h.weight`), h2, spec.intermediate, W(`${p}mlp.dense_h_to_4h.bias`)).map(gelu);
        return linearOI(W(`${p}mlp.dense_4h_to_h.weight`), f, d, W(`${p}mlp.dense_4h_to_h.bias`));
      };
      const h = layerNorm(x, W(`${p}input_layernorm.weight`), W(`${p}input_layernorm.bias`), spec.normEps);
      const qkv = linearOI(W(`${p}attention.query_key_value.weight`), h, 3 * d, W(`${p}attention.query_key_value.bias`));
      const q = new Float64Array(d),
        k = new Float64Array(d),
        v = new Float64Array(d);
      for (let hh = 0; hh < H; hh++)
        for (let i = 0; i < dh; i++) {
          q[hh * dh + i] = qkv[hh * 3 * dh + i]!;
          k[hh * dh + i] = qkv[hh * 3 * dh + dh + i]!;
          v[hh * dh + i] = qkv[hh * 3 * dh + 2 * dh + i]!;
        }
      for (let hh = 0; hh < H; hh++) {
        ropePartial(q, hh * dh, r, t, theta);
        ropePartial(k, hh * dh, r, t, theta);
      }
      ks[l]!.push(k);
      vs[l]!.push(v);
      const o = linearOI(W(`${p}attention.dense.weight`), attend(q, ks[l]!, vs[l]!, H, H, dh), d, W(`${p}attention.dense.bias`));
      if (parallel) x = add(add(x, o), mlp(x));
      else {
        x = add(x, o);
        x = add(x, mlp(x));
      }
    }
    const xf = layerNorm(x, W("gpt_neox.final_layer_norm.weight"), W("gpt_neox.final_layer_norm.bias"), spec.normEps);
    return lmHead(xf, W(spec.tiedEmbeddings ? "gpt_neox.embed_in.weight" : "embed_out.weight"), V);
  });
}
