/**
 * The exported decoder's ONNX model: the KV-cache forward graph (`buildForward(…, { kvCache })`,
 * the same block builders headshare runs) with every weight turned from a graph input into an
 * initializer holding the checkpoint's tensor, stored once.
 *
 * The saving has to survive loading. A shared layer's projections run on the stored units
 * themselves (`compactProjector`: Gemm on each stored tensor, activations gathered), so no dense
 * weight exists even as a temporary. onnxruntime would still (a) constant-fold any weight-only node
 * (the bias banks' Gather) into a new initializer and (b) prepack a constant weight once per Gemm
 * that reads it — a root tensor read by its own layer and by its targets' layers would be packed
 * twice. The stored tensors read there are therefore declared as graph inputs WITH an initializer
 * of the same name (ONNX "overridable initializers": never folded, never prepacked, not listed
 * among a session's inputNames). Every other weight is a plain initializer.
 */
import type { Checkpoint } from "../model/checkpoint";
import { buildForward } from "../graph/forward";
import { ASSEMBLE } from "../graph/compact";
import type { ForwardGraph, WeightInput } from "../graph/types";
import type { IrGraph, IrTensor } from "../onnx/ir";
import { ExportError } from "./errors";

export interface DecoderModel {
  /** The graph with weights as initializers whose `data` is empty until `fill`ed (or external). */
  readonly graph: IrGraph;
  /** The weights, in the order they are stored (each checkpoint tensor once). */
  readonly weights: readonly WeightInput[];
  /** Weights kept overridable (read by a compact assembly Gather). */
  readonly overridable: ReadonlySet<string>;
  /** Parameters stored in the model (Σ weight elements; constants and index maps excluded). */
  readonly parameters: number;
}

export function decoderModel(ckpt: Checkpoint): DecoderModel {
  if (ckpt.spec.family === "bert") {
    throw new ExportError(
      "unsupported",
      `${ckpt.weightsPath}: ${ckpt.spec.architecture} is an encoder (bert family); only decoders (llama, mistral, qwen2, gpt2, gpt-neox) export as a KV-cache decoder`,
    );
  }
  let fwd: ForwardGraph;
  try {
    fwd = buildForward(ckpt, { kvCache: true });
  } catch (e) {
    throw new ExportError("unsupported", `${ckpt.weightsPath}: cannot build the decoder graph: ${(e as Error).message}`);
  }
  const weightNames = new Set(fwd.weights.map((w) => w.input));
  const overridable = new Set<string>();
  for (const n of fwd.graph.nodes) {
    if (!n.name.includes(ASSEMBLE)) continue;
    for (const i of n.inputs) if (weightNames.has(i)) overridable.add(i);
  }
  const initializers: IrTensor[] = fwd.weights.map((w) => ({ name: w.input, type: "float32", dims: [...w.shape], data: new Float32Array(0) }));
  const graph: IrGraph = {
    ...fwd.graph,
    name: `${ckpt.spec.architecture}-decoder`,
    inputs: fwd.graph.inputs.filter((v) => !weightNames.has(v.name) || overridable.has(v.name)),
    initializers: [...fwd.graph.initializers, ...initializers],
  };
  const parameters = fwd.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
  return { graph, weights: fwd.weights, overridable, parameters };
}
