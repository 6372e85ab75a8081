/**
 * What the forward-graph builders (`llama.ts`, `gpt2.ts`) take and return. The graph's weights are
 * graph INPUTS named after the checkpoint's tensors (fed as float32 from the checkpoint), never
 * initializers: that keeps the ModelProto tiny (no 2 GB protobuf limit) and lets the training
 * engine take gradients with respect to them.
 *
 * Graph inputs:  input_ids  int64 [batch, sequence]
 *                targets    int64 [batch, sequence]       (only with `nll`)
 *                <tensor>   float32, one per weight       (see `weights`)
 * Graph outputs: logits            float32 [batch, sequence, vocab]   (`logits`, default on)
 *                logprobs          float32 [batch, sequence, vocab]   (`logprobs`)
 *                nll               float32 [batch, sequence]          (`nll`: −log p(targets))
 *                hidden_states.{l} float32 [batch, sequence, d]       (`hiddenStates`: output of layer l)
 *                attentions.{l}    float32 [batch, heads, sequence, sequence] (`attentions`)
 *                attention_gram    float32 [L·heads, L·heads]          (`attentionGram`, batch 1)
 * Sequences are right-padded: with causal attention a padded tail never changes earlier positions.
 */
import type { IrGraph } from "../onnx/ir";
import type { SharingPlan } from "../share/types";
import { OnnxError } from "../onnx/errors";

export const INPUT_IDS = "input_ids";
export const TARGETS = "targets";
export const LOGITS = "logits";
export const LOGPROBS = "logprobs";
export const NLL = "nll";
export const hiddenStateName = (layer: number): string => `hidden_states.${layer}`;
export const attentionName = (layer: number): string => `attentions.${layer}`;
export const ATTENTION_GRAM = "attention_gram";

export interface ForwardOptions {
  /** Output logits (default true). */
  readonly logits?: boolean;
  /** Output log-softmax of the logits. */
  readonly logprobs?: boolean;
  /** Add the `targets` input and the per-token `nll` output. */
  readonly nll?: boolean;
  /** Output each layer's residual stream. */
  readonly hiddenStates?: boolean;
  /** Output each layer's attention probabilities. */
  readonly attentions?: boolean;
  /**
   * Output `attention_gram` [L·H, L·H]: Σ over query positions t ≥ 1 of cos(A_a[t, :], A_b[t, :])
   * for every pair of query heads a, b (heads ordered layer-major). Feed one window per run
   * (batch 1): padded query rows would count too.
   */
  readonly attentionGram?: boolean;
  /**
   * Run a compact checkpoint (projections hold only the plan's stored units) as compact: each
   * layer's q/k/v/o is gathered from the stored units. Taken from the checkpoint's metadata by
   * `buildForward` when omitted there.
   */
  readonly compactPlan?: SharingPlan;
  /**
   * Blocked causal attention with query chunks of this many positions (inference speed-up; off by
   * default, ignored with `attentions`). Needs `maxSequence` (default: the model's context) to
   * know how many chunks cover the longest sequence fed.
   */
  readonly attentionChunk?: number;
  readonly maxSequence?: number;
  /**
   * Build the KV-cache decoder (`kvCache.ts`: attention_mask, position_ids, past_key_values.{l}.*
   * inputs; logits and present.{l}.* outputs) instead of the scoring graph. The other outputs and
   * chunking are not available then.
   */
  readonly kvCache?: boolean;
  /**
   * A compact checkpoint's shared projections computed on the stored units with the activations
   * gathered (`compactProjector`: no dense weight is ever materialised) instead of one weight
   * Gather per layer. Default: on with `kvCache` (the exported decoder), off otherwise.
   */
  readonly compactActivations?: boolean;
  /**
   * With `compactActivations`: each stored tensor's rows/columns a layer reads are gathered first
   * (`compactProjector`'s gatherParts), so the projection costs the dense FLOPs. For the fp16 export,
   * where each weight read becomes a per-run float32 copy anyway and should hold only what is read.
   */
  readonly compactGatherParts?: boolean;
  /** With `compactGatherParts`: at most this many elements per gathered piece (default CAST_CHUNK_ELEMENTS; tests make it small). */
  readonly castChunkElements?: number;
}

/** The chunking an options object asks for, validated; undefined when off. */
export function chunking(opts: ForwardOptions, maxPositions: number): { size: number; count: number } | undefined {
  if (!opts.attentionChunk || opts.attentions || opts.attentionGram || opts.kvCache) return undefined;
  const size = opts.attentionChunk,
    maxSeq = opts.maxSequence ?? maxPositions;
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(maxSeq) || maxSeq < 1) {
    throw new OnnxError("bad-option", `attentionChunk (${size}) and maxSequence (${maxSeq}) must be positive integers`);
  }
  const count = Math.ceil(maxSeq / size);
  if (count > 512)
    throw new OnnxError(
      "bad-option",
      `attentionChunk ${size} needs ${count} chunks for ${maxSeq} positions; use chunks of at least ${Math.ceil(maxSeq / 512)}`,
    );
  return count > 1 ? { size, count } : undefined;
}

/** One weight the graph reads: the graph input name, the checkpoint tensor, its (stored) shape. */
export interface WeightInput {
  readonly input: string;
  readonly tensor: string;
  readonly shape: number[];
}

export interface ForwardGraph {
  readonly graph: IrGraph;
  readonly weights: WeightInput[];
  /** Names of the outputs, in graph order. */
  readonly outputs: string[];
}

/** The shapes of the checkpoint's tensors, as stored (for compact checkpoints: the compact shapes). */
export type ShapeOf = (tensor: string) => readonly number[];
