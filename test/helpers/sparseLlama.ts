/**
 * A Llama-2-7B-shaped checkpoint (width 4096, 32 heads, MLP 11008, vocab 32000, untied) whose BF16 data
 * region is one sparse hole: multi-GB on paper, a few kB on disk. For tests and benchmarks that must show
 * that inspecting or planning reads headers only. Used by test/cli-inspect.test.ts and bench/safetensors.bench.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { encodeHeader } from "../../src/core/safetensors/writer";

export interface SparseLlama {
  /** The model folder (config.json + model.safetensors). */
  readonly dir: string;
  readonly file: string;
  /** Bytes of the JSON header (padded), as written after the 8-byte length. */
  readonly headerBytes: number;
  /** Bytes the data region claims: every tensor's elements × 2 (BF16). */
  readonly dataBytes: number;
}

/** Writes `dir/config.json` and a sparse `dir/model.safetensors` of `layers` Llama-2-7B-shaped layers. */
export function writeSparseLlama(dir: string, layers: number): SparseLlama {
  const d = 4096,
    H = 32,
    V = 32000,
    I = 11008;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: d,
      intermediate_size: I,
      num_hidden_layers: layers,
      num_attention_heads: H,
      num_key_value_heads: H,
      vocab_size: V,
      tie_word_embeddings: false,
      torch_dtype: "bfloat16",
    }),
  );
  const shapes: [string, number[]][] = [["model.embed_tokens.weight", [V, d]]];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    shapes.push(
      [`${p}input_layernorm.weight`, [d]],
      [`${p}self_attn.q_proj.weight`, [d, d]],
      [`${p}self_attn.k_proj.weight`, [d, d]],
      [`${p}self_attn.v_proj.weight`, [d, d]],
      [`${p}self_attn.o_proj.weight`, [d, d]],
      [`${p}post_attention_layernorm.weight`, [d]],
      [`${p}mlp.gate_proj.weight`, [I, d]],
      [`${p}mlp.up_proj.weight`, [I, d]],
      [`${p}mlp.down_proj.weight`, [d, I]],
    );
  }
  shapes.push(["model.norm.weight", [d]], ["lm_head.weight", [V, d]]);
  const header = encodeHeader(shapes.map(([name, shape]) => ({ name, dtype: "BF16" as const, shape })));
  const dataBytes = shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1) * 2, 0);
  const file = path.join(dir, "model.safetensors");
  const fd = fs.openSync(file, "w");
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.byteLength));
    fs.writeSync(fd, len, 0, 8, 0);
    fs.writeSync(fd, header, 0, header.byteLength, 8);
    fs.ftruncateSync(fd, 8 + header.byteLength + dataBytes);
  } finally {
    fs.closeSync(fd);
  }
  return { dir, file, headerBytes: header.byteLength, dataBytes };
}
