/**
 * What every decoder forward graph (GPT-2, GPT-NeoX, Llama) does around its family's own layer: the
 * layers in order, each one's output feeding the next, and after the final norm the LM head and the
 * graph's declared outputs (logits and every layer's KV present for a cached decoder, else the
 * outputs `opts` asks for).
 *
 *   x [N, d] ─► layer 0 ─► layer 1 ─► … ─► layer L−1 ─► (family's final norm) ─► lm_head ─► outputs
 */
import type { GraphBuilder } from "../onnx/builder";
import type { ModelSpec } from "../model/types";
import { lmHead, type AttentionOut, type SeqDims } from "./blocks";
import { declareOutputs } from "./io";
import { declareKvOutputs } from "./kvCache";
import type { ForwardGraph, ForwardOptions } from "./types";
import type { WeightInputs } from "./weightInputs";

export interface LayerStack {
  /** The last layer's output [N, d]. */
  readonly out: string;
  /** Each layer's output [N, d] and attention probabilities [B, H, S, S]. */
  readonly hidden: string[];
  readonly probs: string[];
  /** Each layer's KV present (cached decoders only). */
  readonly presents: AttentionOut["present"][];
}

/** What a family's layer returns: its output [N, d], its attention probabilities, its KV present when cached (else undefined). */
export interface LayerOut {
  readonly out: string;
  readonly probs: string;
  readonly present?: AttentionOut["present"];
}

/** Runs `layer` for l = 0 … layers−1 on `x`, each on the previous one's output. */
export function stackLayers(layers: number, x: string, layer: (x: string, l: number) => LayerOut): LayerStack {
  const hidden: string[] = [],
    probs: string[] = [],
    presents: AttentionOut["present"][] = [];
  let out = x;
  for (let l = 0; l < layers; l++) {
    const r = layer(out, l);
    out = r.out;
    hidden.push(out);
    probs.push(r.probs);
    presents.push(r.present);
  }
  return { out, hidden, probs, presents };
}

/** The LM head (`headWeight`, [V, d]) on the final normed hidden state `xf` [N, d], the outputs declared, the graph built. */
export function finishDecoder(
  b: GraphBuilder,
  w: WeightInputs,
  spec: ModelSpec,
  dims: SeqDims,
  xf: string,
  headWeight: string,
  io: { readonly targets?: string },
  opts: ForwardOptions,
  cached: boolean,
  stack: LayerStack,
): ForwardGraph {
  const head = lmHead(b, xf, headWeight, "linear", dims, spec.vocab, {
    ...opts,
    logits: opts.logits ?? true,
    ...(io.targets ? { targets: io.targets } : {}),
  });
  const outputs = cached ? declareKvOutputs(b, spec, head.logits!, stack.presents) : declareOutputs(b, spec, dims, head, stack.hidden, stack.probs, opts);
  return { graph: b.build(), weights: w.list, outputs };
}
