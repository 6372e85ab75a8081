/**
 * Seeded synthetic checkpoints shaped like Hugging Face's (config.json + real tensor names of the
 * family + safetensors weights, optionally sharded). Weights are 0.02·N(0,1) (the families' init
 * scale), norm weights 1 and norm biases 0, other biases 0.02·N(0,1), so forward passes are sane.
 * Used by tests, `npm run demo` and benchmarks. Same options and seed → byte-identical files.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { f32ToBytes } from "../safetensors/dtype";
import { writeShardedSafetensors } from "../safetensors/sharded";
import type { TensorToWrite } from "../safetensors/types";
import { writeSafetensors, writeTextAtomic } from "../safetensors/writer";
import { ModelError } from "./errors";
import { gaussian, mulberry32 } from "./rng";
import type { Family } from "./types";

export interface SyntheticOptions {
  readonly family: Family;
  readonly layers: number;
  readonly heads: number;
  /** Llama family only (GQA/MQA); others have kvHeads = heads. */
  readonly kvHeads?: number;
  readonly headDim: number;
  readonly intermediate?: number;
  readonly vocab?: number;
  readonly maxPositions?: number;
  readonly seed: number;
  readonly dtype?: "F32" | "BF16" | "F16";
  readonly shards?: number;
  /** Llama family: q/k/v biases (written as Qwen2ForCausalLM). GPT-2/BERT/NeoX always have them. */
  readonly qkvBias?: boolean;
  /** Tie the LM head to the token embedding (no head tensor stored). Default: the family's usual. */
  readonly tied?: boolean;
  /** GPT-2: the `transformer.` prefix (GPT2LMHeadModel; default true); BERT: the `bert.` prefix (BertForMaskedLM; default false). */
  readonly prefix?: boolean;
}

// The seeded PRNG lives in ./rng; re-exported here for the callers that import it with the fixtures.
export { gaussian, mulberry32 } from "./rng";

type Init = "normal" | "ones" | "zeros" | "bias";

interface Planned {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
}

function validate(dir: string, o: SyntheticOptions): void {
  const bad = (msg: string): never => {
    throw new ModelError("bad-options", dir, `synthetic model: ${msg}`);
  };
  if (!["llama", "gpt2", "bert", "gpt-neox"].includes(o.family)) bad(`family ${JSON.stringify(o.family)} is not llama, gpt2, bert or gpt-neox`);
  const posInt = (v: unknown, name: string) => {
    if (!Number.isSafeInteger(v) || (v as number) < 1) bad(`${name} = ${JSON.stringify(v)} must be a positive integer`);
  };
  posInt(o.layers, "layers");
  posInt(o.heads, "heads");
  posInt(o.headDim, "headDim");
  if (o.kvHeads !== undefined) posInt(o.kvHeads, "kvHeads");
  if (o.intermediate !== undefined) posInt(o.intermediate, "intermediate");
  if (o.vocab !== undefined) posInt(o.vocab, "vocab");
  if (o.maxPositions !== undefined) posInt(o.maxPositions, "maxPositions");
  if (o.shards !== undefined) posInt(o.shards, "shards");
  if (!Number.isSafeInteger(o.seed)) bad(`seed = ${JSON.stringify(o.seed)} must be an integer`);
  const kv = o.kvHeads ?? o.heads;
  if (o.heads % kv !== 0) bad(`kvHeads = ${kv} must divide heads = ${o.heads}`);
  if (o.family !== "llama" && kv !== o.heads) bad(`kvHeads (${kv}) != heads (${o.heads}) is only possible for the llama family`);
  if (o.dtype !== undefined && !["F32", "BF16", "F16"].includes(o.dtype)) bad(`dtype ${JSON.stringify(o.dtype)} must be F32, BF16 or F16`);
}

function plan(o: SyntheticOptions): { config: Record<string, unknown>; tensors: Planned[] } {
  const L = o.layers,
    H = o.heads,
    Hkv = o.kvHeads ?? o.heads,
    dh = o.headDim,
    d = H * dh;
  const V = o.vocab ?? 256,
    P = o.maxPositions ?? 512;
  const T: Planned[] = [];
  const w = (name: string, ...shape: number[]) => T.push({ name, shape, init: "normal" });
  const b = (name: string, n: number) => T.push({ name, shape: [n], init: "bias" });
  const ln = (name: string, withBias: boolean) => {
    T.push({ name: `${name}.weight`, shape: [d], init: "ones" });
    if (withBias) T.push({ name: `${name}.bias`, shape: [d], init: "zeros" });
  };
  const torchDtype = { F32: "float32", BF16: "bfloat16", F16: "float16" }[o.dtype ?? "F32"];
  switch (o.family) {
    case "llama": {
      const I = o.intermediate ?? Math.max(1, Math.round((8 * d) / 3));
      const tied = o.tied ?? false;
      const qwen = o.qkvBias ?? false;
      w("model.embed_tokens.weight", V, d);
      for (let l = 0; l < L; l++) {
        const p = `model.layers.${l}.`;
        ln(`${p}input_layernorm`, false);
        w(`${p}self_attn.q_proj.weight`, H * dh, d);
        if (qwen) b(`${p}self_attn.q_proj.bias`, H * dh);
        w(`${p}self_attn.k_proj.weight`, Hkv * dh, d);
        if (qwen) b(`${p}self_attn.k_proj.bias`, Hkv * dh);
        w(`${p}self_attn.v_proj.weight`, Hkv * dh, d);
        if (qwen) b(`${p}self_attn.v_proj.bias`, Hkv * dh);
        w(`${p}self_attn.o_proj.weight`, d, H * dh);
        ln(`${p}post_attention_layernorm`, false);
        w(`${p}mlp.gate_proj.weight`, I, d);
        w(`${p}mlp.up_proj.weight`, I, d);
        w(`${p}mlp.down_proj.weight`, d, I);
      }
      ln("model.norm", false);
      if (!tied) w("lm_head.weight", V, d);
      const config = {
        architectures: [qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
        model_type: qwen ? "qwen2" : "llama",
        hidden_size: d,
        intermediate_size: I,
        num_hidden_layers: L,
        num_attention_heads: H,
        num_key_value_heads: Hkv,
        head_dim: dh,
        vocab_size: V,
        max_position_embeddings: P,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        hidden_act: "silu",
        tie_word_embeddings: tied,
        bos_token_id: 1,
        eos_token_id: 2,
        ...(qwen ? {} : { attention_bias: false, mlp_bias: false }),
        torch_dtype: torchDtype,
      };
      return { config, tensors: T };
    }
    case "gpt2": {
      const I = o.intermediate ?? 4 * d;
      const px = (o.prefix ?? true) ? "transformer." : "";
      const tied = o.tied ?? true;
      w(`${px}wte.weight`, V, d);
      w(`${px}wpe.weight`, P, d);
      for (let l = 0; l < L; l++) {
        const p = `${px}h.${l}.`;
        ln(`${p}ln_1`, true);
        w(`${p}attn.c_attn.weight`, d, 3 * d);
        b(`${p}attn.c_attn.bias`, 3 * d);
        w(`${p}attn.c_proj.weight`, d, d);
        b(`${p}attn.c_proj.bias`, d);
        ln(`${p}ln_2`, true);
        w(`${p}mlp.c_fc.weight`, d, I);
        b(`${p}mlp.c_fc.bias`, I);
        w(`${p}mlp.c_proj.weight`, I, d);
        b(`${p}mlp.c_proj.bias`, d);
      }
      ln(`${px}ln_f`, true);
      if (!tied) w("lm_head.weight", V, d);
      const config = {
        architectures: [px ? "GPT2LMHeadModel" : "GPT2Model"],
        model_type: "gpt2",
        n_embd: d,
        n_head: H,
        n_layer: L,
        n_inner: I,
        n_positions: P,
        n_ctx: P,
        vocab_size: V,
        layer_norm_epsilon: 1e-5,
        activation_function: "gelu_new",
        tie_word_embeddings: tied,
        bos_token_id: V - 1,
        eos_token_id: V - 1,
        torch_dtype: torchDtype,
      };
      return { config, tensors: T };
    }
    case "bert": {
      const I = o.intermediate ?? 4 * d;
      const px = (o.prefix ?? false) ? "bert." : "";
      w(`${px}embeddings.word_embeddings.weight`, V, d);
      w(`${px}embeddings.position_embeddings.weight`, P, d);
      w(`${px}embeddings.token_type_embeddings.weight`, 2, d);
      ln(`${px}embeddings.LayerNorm`, true);
      for (let l = 0; l < L; l++) {
        const p = `${px}encoder.layer.${l}.`;
        for (const x of ["query", "key", "value"]) {
          w(`${p}attention.self.${x}.weight`, d, d);
          b(`${p}attention.self.${x}.bias`, d);
        }
        w(`${p}attention.output.dense.weight`, d, d);
        b(`${p}attention.output.dense.bias`, d);
        ln(`${p}attention.output.LayerNorm`, true);
        w(`${p}intermediate.dense.weight`, I, d);
        b(`${p}intermediate.dense.bias`, I);
        w(`${p}output.dense.weight`, d, I);
        b(`${p}output.dense.bias`, d);
        ln(`${p}output.LayerNorm`, true);
      }
      if (px) {
        b("cls.predictions.bias", V);
        w("cls.predictions.transform.dense.weight", d, d);
        b("cls.predictions.transform.dense.bias", d);
        ln("cls.predictions.transform.LayerNorm", true);
      } else {
        w("pooler.dense.weight", d, d);
        b("pooler.dense.bias", d);
      }
      const config = {
        architectures: [px ? "BertForMaskedLM" : "BertModel"],
        model_type: "bert",
        hidden_size: d,
        num_attention_heads: H,
        num_hidden_layers: L,
        intermediate_size: I,
        vocab_size: V,
        max_position_embeddings: P,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: "gelu",
        pad_token_id: 0,
        torch_dtype: torchDtype,
      };
      return { config, tensors: T };
    }
    case "gpt-neox": {
      const I = o.intermediate ?? 4 * d;
      const tied = o.tied ?? false;
      w("gpt_neox.embed_in.weight", V, d);
      for (let l = 0; l < L; l++) {
        const p = `gpt_neox.layers.${l}.`;
        ln(`${p}input_layernorm`, true);
        ln(`${p}post_attention_layernorm`, true);
        w(`${p}attention.query_key_value.weight`, 3 * d, d);
        b(`${p}attention.query_key_value.bias`, 3 * d);
        w(`${p}attention.dense.weight`, d, d);
        b(`${p}attention.dense.bias`, d);
        w(`${p}mlp.dense_h_to_4h.weight`, I, d);
        b(`${p}mlp.dense_h_to_4h.bias`, I);
        w(`${p}mlp.dense_4h_to_h.weight`, d, I);
        b(`${p}mlp.dense_4h_to_h.bias`, d);
      }
      ln("gpt_neox.final_layer_norm", true);
      if (!tied) w("embed_out.weight", V, d);
      const config = {
        architectures: ["GPTNeoXForCausalLM"],
        model_type: "gpt_neox",
        hidden_size: d,
        num_attention_heads: H,
        num_hidden_layers: L,
        intermediate_size: I,
        vocab_size: V,
        max_position_embeddings: P,
        rotary_pct: 0.25,
        rotary_emb_base: 10000,
        layer_norm_eps: 1e-5,
        hidden_act: "gelu",
        use_parallel_residual: true,
        tie_word_embeddings: tied,
        bos_token_id: 0,
        eos_token_id: 0,
        torch_dtype: torchDtype,
      };
      return { config, tensors: T };
    }
  }
}

/**
 * Writes a seeded synthetic checkpoint into `dir` (created if needed): config.json and
 * model.safetensors, or `shards` shards + model.safetensors.index.json. Stale weight files of the
 * other layout in `dir` are removed so the folder is unambiguous. Returns `dir` (absolute).
 */
export async function writeSyntheticModel(dir: string, opts: SyntheticOptions): Promise<string> {
  const abs = path.resolve(dir);
  validate(abs, opts);
  await fs.mkdir(abs, { recursive: true });
  const { config, tensors } = plan(opts);
  const dtype = opts.dtype ?? "F32";
  const rand = mulberry32(opts.seed);
  const normal = gaussian(rand);
  // Values are generated eagerly in tensor order so the stream of random numbers never depends on
  // write order; at test/demo/bench sizes this is small.
  const toWrite: TensorToWrite[] = tensors.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n); // [shape] f32 row-major
    if (t.init === "ones") v.fill(1);
    else if (t.init === "normal" || t.init === "bias") for (let i = 0; i < n; i++) v[i] = 0.02 * normal();
    return { name: t.name, dtype, shape: t.shape, data: f32ToBytes(v, dtype) };
  });
  for (const name of await fs.readdir(abs)) {
    if (name === "model.safetensors" || name === "model.safetensors.index.json" || /^model-\d+-of-\d+\.safetensors$/.test(name)) {
      await fs.rm(path.join(abs, name), { force: true });
    }
  }
  const shards = opts.shards ?? 1;
  if (shards > 1) await writeShardedSafetensors(abs, toWrite, shards, { format: "pt" });
  else await writeSafetensors(path.join(abs, "model.safetensors"), toWrite, { format: "pt" });
  await writeTextAtomic(path.join(abs, "config.json"), JSON.stringify(config, null, 2) + "\n");
  return abs;
}
