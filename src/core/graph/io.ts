/** Token inputs and the declared outputs shared by every forward graph (see types.ts for the list). */
import type { GraphBuilder } from "../onnx/builder";
import type { ModelSpec } from "../model/types";
import { attentionGram, type SeqDims } from "./blocks";
import { ATTENTION_GRAM, attentionName, hiddenStateName, INPUT_IDS, LOGITS, LOGPROBS, NLL, TARGETS, type ForwardOptions } from "./types";

export function declareTokenInputs(b: GraphBuilder, opts: ForwardOptions): { inputIds: string; targets?: string } {
  const inputIds = b.input(INPUT_IDS, "int64", ["batch", "sequence"]);
  if (!opts.nll) return { inputIds };
  return { inputIds, targets: b.input(TARGETS, "int64", ["batch", "sequence"]) };
}

/** Renames the requested edges to the public output names (Identity) and declares them. */
export function declareOutputs(
  b: GraphBuilder,
  spec: ModelSpec,
  dims: SeqDims,
  head: Record<string, string>,
  hidden: readonly string[],
  probs: readonly string[],
  opts: ForwardOptions,
): string[] {
  const out: string[] = [];
  const V = spec.vocab,
    d = spec.hidden,
    H = spec.heads;
  const add = (edge: string, name: string, shape: (number | string)[]): void => {
    b.alias(edge, name);
    b.output(name, "float32", shape);
    out.push(name);
  };
  if (head.logits) add(head.logits, LOGITS, ["batch", "sequence", V]);
  if (head.logprobs) add(head.logprobs, LOGPROBS, ["batch", "sequence", V]);
  if (head.nll) add(head.nll, NLL, ["batch", "sequence"]);
  if (opts.hiddenStates) {
    const shape = b.op("Concat", [dims.bs, b.i64s([d])], "/outputs/hidden_shape/Concat", { axis: 0 });
    hidden.forEach((h, l) => add(b.op("Reshape", [h, shape], `/outputs/hidden_states.${l}/Reshape`), hiddenStateName(l), ["batch", "sequence", d]));
  }
  if (opts.attentions) probs.forEach((p, l) => add(p, attentionName(l), ["batch", H, "sequence", "sequence"]));
  if (opts.attentionGram) add(attentionGram(b, probs, H, dims), ATTENTION_GRAM, [spec.layers * H, spec.layers * H]);
  return out;
}
