/**
 * Llama-style models: Llama, Mistral, Qwen2 (q/k/v biases). nn.Linear weights [out, in]:
 *   q_proj [H·dh, d], k_proj/v_proj [Hkv·dh, d], o_proj [d, H·dh]; query head h reads kv head h / (H/Hkv).
 */
import type { ConfigReader } from "../config";
import { ModelError } from "../errors";
import type { ModelSpec } from "../types";
import { definedOnly } from "../../defined";
import {
  type Adapter,
  type AdapterContext,
  checkBiasConsistency,
  collectOthers,
  detectPrefix,
  optionalTensor,
  requireDivides,
  requireTensor,
  resolveTied,
  layerCount,
} from "./common";

export const llamaAdapter: Adapter = {
  family: "llama",
  architectures: ["LlamaForCausalLM", "LlamaModel", "MistralForCausalLM", "MistralModel", "Qwen2ForCausalLM", "Qwen2Model"],
  modelTypes: ["llama", "mistral", "qwen2"],
  buildSpec(ctx: AdapterContext): ModelSpec {
    const c = ctx.config;
    const d = c.int(["hidden_size"]);
    const H = c.int(["num_attention_heads"]);
    const Hkv = c.int(["num_key_value_heads"], H);
    const L = layerCount(ctx, ["num_hidden_layers"]);
    requireDivides(ctx, H, "num_attention_heads", Hkv, "num_key_value_heads");
    if (c.raw.head_dim === undefined || c.raw.head_dim === null) requireDivides(ctx, d, "hidden_size", H, "num_attention_heads");
    const dh = c.int(["head_dim"], d / H);
    const prefix = detectPrefix(ctx, "embed_tokens.weight", ["model.", ""]);
    const embed = `${prefix}embed_tokens.weight`;
    const embedShape = ctx.shapeOf(embed)!;
    const vocab = c.int(["vocab_size"], embedShape[0]);
    requireTensor(ctx, embed, [vocab, d], "token embedding");
    const lp = (l: number) => `${prefix}layers.${l}.`;
    const layers = Array.from({ length: L }, (_, l) => {
      const p = `${lp(l)}self_attn.`;
      return {
        q: requireTensor(ctx, `${p}q_proj.weight`, [H * dh, d], `layer ${l} query projection`),
        k: requireTensor(ctx, `${p}k_proj.weight`, [Hkv * dh, d], `layer ${l} key projection`),
        v: requireTensor(ctx, `${p}v_proj.weight`, [Hkv * dh, d], `layer ${l} value projection`),
        o: requireTensor(ctx, `${p}o_proj.weight`, [d, H * dh], `layer ${l} output projection`),
        ...definedOnly({
          qBias: optionalTensor(ctx, `${p}q_proj.bias`, [H * dh], `layer ${l} query bias`),
          kBias: optionalTensor(ctx, `${p}k_proj.bias`, [Hkv * dh], `layer ${l} key bias`),
          vBias: optionalTensor(ctx, `${p}v_proj.bias`, [Hkv * dh], `layer ${l} value bias`),
          oBias: optionalTensor(ctx, `${p}o_proj.bias`, [d], `layer ${l} output bias`),
        }),
      };
    });
    checkBiasConsistency(ctx, layers);
    const globals: Record<string, string> = { embed };
    const norm = optionalTensor(ctx, `${prefix}norm.weight`, [d], "final norm");
    if (norm) globals.finalNorm = norm;
    const lmHead = optionalTensor(ctx, "lm_head.weight", [vocab, d], "LM head");
    if (lmHead) globals.lmHead = lmHead;
    const { layerTensors, globals: allGlobals } = collectOthers(ctx, lp, layers, globals);
    checkRopeScaling(c);
    const arch = c.architecture() ?? "LlamaForCausalLM";
    return {
      family: "llama",
      architecture: arch,
      layers: L,
      heads: H,
      kvHeads: Hkv,
      headDim: dh,
      hidden: d,
      intermediate: c.int(["intermediate_size"], 0, 0),
      vocab,
      maxPositions: c.int(["max_position_embeddings"], 2048),
      tiedEmbeddings: resolveTied(ctx, "lm_head.weight", lmHead, false),
      normEps: c.positive(["rms_norm_eps"], 1e-6),
      ropeTheta: c.positive(["rope_theta"], 10000),
      activation: c.str(["hidden_act"], "silu"),
      ...definedOnly({ bosTokenId: c.tokenId("bos_token_id"), eosTokenId: c.tokenId("eos_token_id") }),
      layerTensors,
      globals: allGlobals,
      config: c.raw,
    };
  },
};

/**
 * `rope_scaling` as the forward graph honours it (src/core/graph/llama.ts): absent/null, or an
 * object of type default, linear (factor > 0) or llama3 (factor, low/high_freq_factor > 0, low <
 * high, original_max_position_embeddings ≥ 1). Anything else is refused here, naming the file and field.
 */
function checkRopeScaling(c: ConfigReader): void {
  const s = c.raw.rope_scaling;
  if (s === undefined || s === null) return;
  const bad = (what: string): never => {
    throw new ModelError("bad-config", c.file, `config.json "rope_scaling" ${what}; fix config.json`);
  };
  if (typeof s !== "object" || Array.isArray(s)) bad(`is ${JSON.stringify(s)}; expected an object such as {"type": "linear", "factor": 2} or null`);
  const o = s as Record<string, unknown>;
  const type = o.rope_type ?? o.type;
  if (type === "default") return;
  if (type !== "linear" && type !== "llama3") bad(`has type ${JSON.stringify(type)}; supported: "default", "linear", "llama3"`);
  const pos = (k: string): number => {
    const v = o[k];
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) bad(`"${k}" is ${JSON.stringify(v)}; it must be a number greater than 0`);
    return v as number;
  };
  pos("factor");
  if (type === "llama3") {
    const low = pos("low_freq_factor"),
      high = pos("high_freq_factor");
    if (!(low < high)) bad(`"low_freq_factor" ${low} must be below "high_freq_factor" ${high}`);
    const orig = o.original_max_position_embeddings;
    if (typeof orig !== "number" || !Number.isSafeInteger(orig) || orig < 1)
      bad(`"original_max_position_embeddings" is ${JSON.stringify(orig)}; expected an integer >= 1`);
  }
}
