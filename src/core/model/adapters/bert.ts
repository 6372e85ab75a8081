/**
 * BERT (BertModel, BertFor*; with or without the `bert.` prefix). nn.Linear weights [out, in]:
 *   attention.self.{query,key,value}.weight [d, d] (+ bias [d]), attention.output.dense.weight [d, d].
 */
import type { ModelSpec } from "../types";
import { type Adapter, type AdapterContext, collectOthers, detectPrefix, optionalTensor, requireTensor, mhaDims } from "./common";
import { definedOnly } from "../../defined";

export const bertAdapter: Adapter = {
  family: "bert",
  architectures: [
    "BertModel",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertLMHeadModel",
  ],
  modelTypes: ["bert"],
  buildSpec(ctx: AdapterContext): ModelSpec {
    const c = ctx.config;
    const { d, H, L, dh } = mhaDims(ctx, { hidden: ["hidden_size"], heads: ["num_attention_heads"], layers: ["num_hidden_layers"] });
    const prefix = detectPrefix(ctx, "embeddings.word_embeddings.weight", ["bert.", ""]);
    const emb = `${prefix}embeddings.`;
    const vocab = c.int(["vocab_size"], ctx.shapeOf(`${emb}word_embeddings.weight`)![0]);
    const nPos = c.int(["max_position_embeddings"], 512);
    const globals: Record<string, string> = {
      embed: requireTensor(ctx, `${emb}word_embeddings.weight`, [vocab, d], "token embedding"),
      positions: requireTensor(ctx, `${emb}position_embeddings.weight`, [nPos, d], "position embedding"),
    };
    const tt = optionalTensor(ctx, `${emb}token_type_embeddings.weight`, [c.int(["type_vocab_size"], 2), d], "token type embedding");
    if (tt) globals.tokenTypes = tt;
    const ln = optionalTensor(ctx, `${emb}LayerNorm.weight`, [d], "embedding layer norm");
    if (ln) globals.embedNorm = ln;
    const lnb = optionalTensor(ctx, `${emb}LayerNorm.bias`, [d], "embedding layer norm bias");
    if (lnb) globals.embedNormBias = lnb;
    const lp = (l: number) => `${prefix}encoder.layer.${l}.`;
    const layers = Array.from({ length: L }, (_, l) => {
      const p = `${lp(l)}attention.`;
      return {
        q: requireTensor(ctx, `${p}self.query.weight`, [d, d], `layer ${l} query projection`),
        k: requireTensor(ctx, `${p}self.key.weight`, [d, d], `layer ${l} key projection`),
        v: requireTensor(ctx, `${p}self.value.weight`, [d, d], `layer ${l} value projection`),
        o: requireTensor(ctx, `${p}output.dense.weight`, [d, d], `layer ${l} output projection`),
        ...definedOnly({
          qBias: optionalTensor(ctx, `${p}self.query.bias`, [d], `layer ${l} query bias`),
          kBias: optionalTensor(ctx, `${p}self.key.bias`, [d], `layer ${l} key bias`),
          vBias: optionalTensor(ctx, `${p}self.value.bias`, [d], `layer ${l} value bias`),
          oBias: optionalTensor(ctx, `${p}output.dense.bias`, [d], `layer ${l} output bias`),
        }),
      };
    });
    const { layerTensors, globals: allGlobals } = collectOthers(ctx, lp, layers, globals);
    return {
      family: "bert",
      architecture: c.architecture() ?? "BertModel",
      layers: L,
      heads: H,
      kvHeads: H,
      headDim: dh,
      hidden: d,
      intermediate: c.int(["intermediate_size"], 4 * d),
      vocab,
      maxPositions: nPos,
      // MLM heads tie their decoder to the word embeddings (the decoder weight is not stored).
      tiedEmbeddings: !ctx.source.has("cls.predictions.decoder.weight"),
      normEps: c.positive(["layer_norm_eps"], 1e-12),
      activation: c.str(["hidden_act"], "gelu"),
      ...definedOnly({ bosTokenId: c.tokenId("bos_token_id"), eosTokenId: c.tokenId("eos_token_id") }),
      layerTensors,
      globals: allGlobals,
      config: c.raw,
    };
  },
};
