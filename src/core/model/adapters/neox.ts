/**
 * GPT-NeoX (Pythia). attention.query_key_value.weight [3d, d] nn.Linear with rows interleaved per
 * head as [H, 3, dh] (head h: q rows h·3dh.., k rows h·3dh+dh.., v rows h·3dh+2dh..), bias [3d]
 * likewise; attention.dense.weight [d, d] (head h = column block h).
 */
import type { ModelSpec } from "../types";
import { type Adapter, type AdapterContext, collectOthers, detectPrefix, fusedAttention, optionalTensor, requireTensor, resolveTied, mhaDims } from "./common";
import { definedOnly } from "../../defined";

export const neoxAdapter: Adapter = {
  family: "gpt-neox",
  architectures: ["GPTNeoXForCausalLM", "GPTNeoXModel"],
  modelTypes: ["gpt_neox"],
  buildSpec(ctx: AdapterContext): ModelSpec {
    const c = ctx.config;
    const { d, H, L, dh } = mhaDims(ctx, { hidden: ["hidden_size"], heads: ["num_attention_heads"], layers: ["num_hidden_layers"] });
    const prefix = detectPrefix(ctx, "embed_in.weight", ["gpt_neox.", ""]);
    const embed = `${prefix}embed_in.weight`;
    const vocab = c.int(["vocab_size"], ctx.shapeOf(embed)![0]);
    requireTensor(ctx, embed, [vocab, d], "token embedding");
    const globals: Record<string, string> = { embed };
    const fn = optionalTensor(ctx, `${prefix}final_layer_norm.weight`, [d], "final layer norm");
    if (fn) globals.finalNorm = fn;
    const fnb = optionalTensor(ctx, `${prefix}final_layer_norm.bias`, [d], "final layer norm bias");
    if (fnb) globals.finalNormBias = fnb;
    const lmHead = optionalTensor(ctx, "embed_out.weight", [vocab, d], "LM head");
    if (lmHead) globals.lmHead = lmHead;
    const lp = (l: number) => `${prefix}layers.${l}.`;
    const layers = Array.from({ length: L }, (_, l) => {
      const p = `${lp(l)}attention.`;
      const qkv = requireTensor(ctx, `${p}query_key_value.weight`, [3 * d, d], `layer ${l} fused q/k/v projection (rows [H, 3, dh])`);
      const qkvBias = optionalTensor(ctx, `${p}query_key_value.bias`, [3 * d], `layer ${l} fused q/k/v bias`);
      return fusedAttention(
        qkv,
        qkvBias,
        requireTensor(ctx, `${p}dense.weight`, [d, d], `layer ${l} output projection`),
        optionalTensor(ctx, `${p}dense.bias`, [d], `layer ${l} output bias`),
      );
    });
    const { layerTensors, globals: allGlobals } = collectOthers(ctx, lp, layers, globals);
    return {
      family: "gpt-neox",
      architecture: c.architecture() ?? "GPTNeoXForCausalLM",
      layers: L,
      heads: H,
      kvHeads: H,
      headDim: dh,
      hidden: d,
      intermediate: c.int(["intermediate_size"], 4 * d),
      vocab,
      maxPositions: c.int(["max_position_embeddings"], 2048),
      tiedEmbeddings: resolveTied(ctx, "embed_out.weight", lmHead, false),
      normEps: c.positive(["layer_norm_eps"], 1e-5),
      ropeTheta: c.positive(["rotary_emb_base", "rope_theta"], 10000),
      activation: c.str(["hidden_act"], "gelu"),
      ...definedOnly({ bosTokenId: c.tokenId("bos_token_id"), eosTokenId: c.tokenId("eos_token_id") }),
      layerTensors,
      globals: allGlobals,
      config: c.raw,
    };
  },
};
