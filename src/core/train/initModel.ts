/**
 * A freshly initialised Llama-style model written as a Hugging Face folder (config.json +
 * model.safetensors): the starting point for training from scratch (the demo model) and the tiny
 * models of the gradient checks. Initialisation as GPT-2/Llama training does: N(0, σ) for
 * matrices (σ = 0.02, residual projections o/down scaled by 1/√(2L)), RMSNorm weights 1.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { writeSafetensors, writeTextAtomic } from "../safetensors/writer";
import type { TensorToWrite } from "../safetensors/types";
import { BYTE_VOCAB } from "./byteTokenizer";
import { TrainError } from "./errors";
import { Rng } from "./rng";

export interface LlamaInitOptions {
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly hidden: number;
  readonly intermediate: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly tied: boolean;
  readonly seed: number;
  readonly std?: number;
  readonly ropeTheta?: number;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
}

/** The shape of the embedded demo model (assets/demo-model/, trained by scripts/train-demo-model.ts): a byte-level Llama with GQA. */
export const DEMO_MODEL_SHAPE: Omit<LlamaInitOptions, "seed"> = {
  layers: 4,
  heads: 8,
  kvHeads: 4,
  headDim: 16,
  hidden: 128,
  intermediate: 256,
  vocab: BYTE_VOCAB,
  maxPositions: 256,
  tied: true,
};

export function llamaConfig(o: LlamaInitOptions): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: o.hidden,
    intermediate_size: o.intermediate,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads,
    head_dim: o.headDim,
    vocab_size: o.vocab,
    max_position_embeddings: o.maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: o.ropeTheta ?? 10000,
    hidden_act: "silu",
    tie_word_embeddings: o.tied,
    bos_token_id: o.bosTokenId ?? 1,
    eos_token_id: o.eosTokenId ?? 2,
    torch_dtype: "float32",
  };
}

/** Tensor name → [shape, init] of a Llama model in HF naming. */
export function llamaTensors(o: LlamaInitOptions): { name: string; shape: number[]; data: Float32Array }[] {
  const valid = [o.layers, o.heads, o.kvHeads, o.headDim, o.hidden, o.intermediate, o.vocab, o.maxPositions].every((v) => Number.isInteger(v) && v > 0);
  if (!valid || o.heads % o.kvHeads !== 0 || o.heads * o.headDim !== o.hidden || o.headDim % 2 !== 0) {
    throw new TrainError(
      "bad-options",
      `model init: sizes must be positive integers with heads divisible by kvHeads, heads·headDim = hidden and an even headDim (got ${JSON.stringify(o)})`,
    );
  }
  const rng = new Rng(o.seed);
  const std = o.std ?? 0.02;
  const resid = std / Math.sqrt(2 * o.layers);
  const mat = (name: string, shape: number[], s: number): { name: string; shape: number[]; data: Float32Array } => {
    const data = new Float32Array(shape[0]! * shape[1]!);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * s;
    return { name, shape, data };
  };
  const ones = (name: string, n: number): { name: string; shape: number[]; data: Float32Array } => ({ name, shape: [n], data: new Float32Array(n).fill(1) });
  const d = o.hidden,
    kv = o.kvHeads * o.headDim;
  const out = [mat("model.embed_tokens.weight", [o.vocab, d], std)];
  for (let l = 0; l < o.layers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      ones(`${p}input_layernorm.weight`, d),
      mat(`${p}self_attn.q_proj.weight`, [d, d], std),
      mat(`${p}self_attn.k_proj.weight`, [kv, d], std),
      mat(`${p}self_attn.v_proj.weight`, [kv, d], std),
      mat(`${p}self_attn.o_proj.weight`, [d, d], resid),
      ones(`${p}post_attention_layernorm.weight`, d),
      mat(`${p}mlp.gate_proj.weight`, [o.intermediate, d], std),
      mat(`${p}mlp.up_proj.weight`, [o.intermediate, d], std),
      mat(`${p}mlp.down_proj.weight`, [d, o.intermediate], resid),
    );
  }
  out.push(ones("model.norm.weight", d));
  if (!o.tied) out.push(mat("lm_head.weight", [o.vocab, d], std));
  return out;
}

/** Writes config.json + model.safetensors (F32) into `dir` (created if needed); returns `dir`. */
export async function writeInitialLlama(dir: string, o: LlamaInitOptions, extraFiles: Readonly<Record<string, string>> = {}): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const tensors: TensorToWrite[] = llamaTensors(o).map((t) => ({
    name: t.name,
    dtype: "F32",
    shape: t.shape,
    data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  }));
  await writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
  await writeTextAtomic(path.join(dir, "config.json"), JSON.stringify(llamaConfig(o), null, 2) + "\n");
  for (const [name, text] of Object.entries(extraFiles)) await writeTextAtomic(path.join(dir, name), text);
  return dir;
}
