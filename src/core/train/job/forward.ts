/**
 * The forward description train.py runs (JobForward): the same tensor names, RoPE frequencies,
 * attention scales and GELU kind that headshare's ONNX graph builders use (src/core/graph/*), so the
 * PyTorch forward needs no adapter logic and cannot drift from headshare's.
 */
import { GPT2_GELU_KIND as GELU_KIND } from "../../graph/gpt2";
import { llamaInvFreq } from "../../graph/llama";
import { gpt2Names, llamaNames } from "../../graph/names";
import { neoxNames } from "../../graph/neox";
import { ropeInvFreq } from "../../graph/blocks";
import type { Checkpoint } from "../../model/checkpoint";
import { TrainError } from "../errors";
import type { JobForward } from "./format";

const defined = (r: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(r).filter((e): e is [string, string] => e[1] !== undefined));

export function jobForward(ckpt: Checkpoint): JobForward {
  const spec = ckpt.spec,
    file = ckpt.weightsPath;
  const base = {
    layers: spec.layers,
    heads: spec.heads,
    kvHeads: spec.kvHeads,
    headDim: spec.headDim,
    hidden: spec.hidden,
    vocab: spec.vocab,
    maxPositions: spec.maxPositions,
    normEps: spec.normEps,
  };
  const act = (): "tanh" | "erf" => {
    const a = GELU_KIND[spec.activation];
    if (!a)
      throw new TrainError(
        "bad-checkpoint",
        `activation "${spec.activation}" is not supported by the PostShare job (supported: ${Object.keys(GELU_KIND).join(", ")})`,
        file,
      );
    return a;
  };
  if (spec.family === "llama") {
    if (spec.activation !== "silu")
      throw new TrainError("bad-checkpoint", `hidden_act "${spec.activation}" is not supported for llama-family jobs (silu only)`, file);
    const n = llamaNames(spec, ckpt.source, file);
    return {
      family: "llama",
      ...base,
      invFreq: [...llamaInvFreq(spec)],
      attnScale: Array.from({ length: spec.layers }, () => 1 / Math.sqrt(spec.headDim)),
      globals: { embed: n.embed, finalNorm: n.finalNorm, lmHead: n.lmHead },
      layerNames: n.layers.map((l) => defined({ ...l })),
    };
  }
  if (spec.family === "gpt2") {
    const n = gpt2Names(spec, ckpt.source, file);
    const cfg = spec.config;
    return {
      family: "gpt2",
      ...base,
      act: act(),
      // HF GPT2Attention (as src/core/graph/gpt2.ts): / √dh unless scale_attn_weights is false, / (layer + 1) with scale_attn_by_inverse_layer_idx
      attnScale: Array.from(
        { length: spec.layers },
        (_, l) => (cfg.scale_attn_weights === false ? 1 : 1 / Math.sqrt(spec.headDim)) / (cfg.scale_attn_by_inverse_layer_idx === true ? l + 1 : 1),
      ),
      globals: { embed: n.wte, positions: n.wpe, finalNorm: n.lnF, finalNormBias: n.lnFBias, lmHead: n.lmHead },
      layerNames: n.layers.map((l) => defined({ ...l })),
    };
  }
  if (spec.family === "gpt-neox") {
    const n = neoxNames(spec, ckpt.source, file);
    const pct = typeof spec.config.rotary_pct === "number" ? spec.config.rotary_pct : 1;
    const rotaryDims = Math.floor(spec.headDim * pct);
    return {
      family: "gpt-neox",
      ...base,
      act: act(),
      rotaryDims,
      invFreq: [...ropeInvFreq(rotaryDims, spec.ropeTheta ?? 10000)],
      attnScale: Array.from({ length: spec.layers }, () => 1 / Math.sqrt(spec.headDim)),
      parallelResidual: spec.config.use_parallel_residual !== false,
      globals: { embed: n.embed, finalNorm: n.lnF, finalNormBias: n.lnFBias, lmHead: n.head },
      layerNames: n.layers.map((l) => ({ ...l })),
    };
  }
  throw new TrainError("bad-checkpoint", `PostShare jobs support decoder models (llama, mistral, qwen2, gpt2, gpt-neox); this is ${spec.family}`, file);
}
