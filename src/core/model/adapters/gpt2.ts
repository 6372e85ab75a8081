/**
 * GPT-2 (with or without the `transformer.` prefix). Conv1D weights are [in, out]:
 *   attn.c_attn.weight [d, 3d] with q|k|v column blocks (head i = columns i·dh.. of each block),
 *   attn.c_attn.bias [3d]; attn.c_proj.weight [d, d] (head i = row block i), attn.c_proj.bias [d].
 */
import type { ModelSpec } from "../types";
import { type Adapter, type AdapterContext, collectOthers, detectPrefix, fusedAttention, optionalTensor, requireTensor, resolveTied, mhaDims } from "./common";
import { definedOnly } from "../../defined";

export const gpt2Adapter: Adapter = {
  family: "gpt2",
  architectures: ["GPT2LMHeadModel", "GPT2Model"],
  modelTypes: ["gpt2"],
  buildSpec(ctx: AdapterContext): ModelSpec {
    const c = ctx.config;
    const { d, H, L, dh } = mhaDims(ctx, {
      hidden: ["n_embd", "hidden_size"],
      heads: ["n_head", "num_attention_heads"],
      layers: ["n_layer", "num_hidden_layers"],
    });
    const prefix = detectPrefix(ctx, "wte.weight", ["transformer.", ""]);
    const wte = `${prefix}wte.weight`;
    const vocab = c.int(["vocab_size"], ctx.shapeOf(wte)![0]);
    const nPos = c.int(["n_positions", "max_position_embeddings"], 1024);
    requireTensor(ctx, wte, [vocab, d], "token embedding");
    const globals: Record<string, string> = { embed: wte };
    globals.positions = requireTensor(ctx, `${prefix}wpe.weight`, [nPos, d], "position embedding");
    const lnf = optionalTensor(ctx, `${prefix}ln_f.weight`, [d], "final layer norm");
    if (lnf) globals.finalNorm = lnf;
    const lnfb = optionalTensor(ctx, `${prefix}ln_f.bias`, [d], "final layer norm bias");
    if (lnfb) globals.finalNormBias = lnfb;
    const lmHead = optionalTensor(ctx, "lm_head.weight", [vocab, d], "LM head");
    if (lmHead) globals.lmHead = lmHead;
    const lp = (l: number) => `${prefix}h.${l}.`;
    const layers = Array.from({ length: L }, (_, l) => {
      const p = `${lp(l)}attn.`;
      const qkv = requireTensor(ctx, `${p}c_attn.weight`, [d, 3 * d], `layer ${l} fused q|k|v projection (Conv1D [in, out])`);
      const qkvBias = optionalTensor(ctx, `${p}c_attn.bias`, [3 * d], `layer ${l} fused q|k|v bias`);
      return fusedAttention(
        qkv,
        qkvBias,
        requireTensor(ctx, `${p}c_proj.weight`, [d, d], `layer ${l} output projection (Conv1D [in, out])`),
        optionalTensor(ctx, `${p}c_proj.bias`, [d], `layer ${l} output bias`),
      );
    });
    const { layerTensors, globals: allGlobals } = collectOthers(ctx, lp, layers, globals);
    return {
      family: "gpt2",
      architecture: c.architecture() ?? "GPT2LMHeadModel",
      layers: L,
      heads: H,
      kvHeads: H,
      headDim: dh,
      hidden: d,
      intermediate: c.int(["n_inner"], 4 * d),
      vocab,
      maxPositions: nPos,
      tiedEmbeddings: resolveTied(ctx, "lm_head.weight", lmHead, true),
      normEps: c.positive(["layer_norm_epsilon"], 1e-5),
      activation: c.str(["activation_function"], "gelu_new"),
      ...definedOnly({ bosTokenId: c.tokenId("bos_token_id"), eosTokenId: c.tokenId("eos_token_id") }),
      layerTensors,
      globals: allGlobals,
      config: c.raw,
    };
  },
};
