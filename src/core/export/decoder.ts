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
 *
 * fp16 (`dtype: "fp16"`): every weight is stored as float16 and computed on in float32 (the graph's
 * activations, KV cache and logits stay float32). onnxruntime's CPU provider has no float16 MatMul
 * on x86: an all-fp16 graph gets a Cast inserted in front of each MatMul and, its input being a
 * constant, folded at load into a float32 copy of the weight (measured: the optimized model is
 * twice the file). So every fp16 weight is overridable (never folded) and read through a Cast to
 * float32 in the graph, computed per run into the arena and released: the weights stay 2 bytes
 * resident. A Gather that reads rows of a weight (the embedding) gathers the fp16 rows first and
 * casts only those.
 */
import type { Checkpoint } from "../model/checkpoint";
import { buildForward } from "../graph/forward";
import { overridableWeights } from "../graph/compact";
import type { ForwardGraph, WeightInput } from "../graph/types";
import type { IrGraph, IrNode, IrTensor } from "../onnx/ir";
import { ONNX_DTYPE } from "../onnx/serialize";
import { ExportError } from "./errors";
import type { ExportDtype } from "./results";

/** The weights' element type in the exported file. */

export interface DecoderModel {
  /** The graph with weights as initializers whose `data` is empty until `fill`ed (or external). */
  readonly graph: IrGraph;
  /** The weights, in the order they are stored (each checkpoint tensor once). */
  readonly weights: readonly WeightInput[];
  /** Weights kept overridable (read by a compact assembly Gather). */
  readonly overridable: ReadonlySet<string>;
  /** Parameters stored in the model (Σ weight elements; constants and index maps excluded). */
  readonly parameters: number;
  readonly dtype: ExportDtype;
}

export function decoderModel(ckpt: Checkpoint, dtype: ExportDtype = "fp32"): DecoderModel {
  if (ckpt.spec.family === "bert") {
    throw new ExportError(
      "unsupported",
      `${ckpt.weightsPath}: ${ckpt.spec.architecture} is an encoder (bert family); only decoders (llama, mistral, qwen2, gpt2, gpt-neox) export as a KV-cache decoder`,
    );
  }
  let fwd: ForwardGraph;
  try {
    fwd = buildForward(ckpt, { kvCache: true, ...(dtype === "fp16" ? { compactGatherParts: true } : {}) });
  } catch (e) {
    throw new ExportError("unsupported", `${ckpt.weightsPath}: cannot build the decoder graph: ${(e as Error).message}`);
  }
  const weightNames = new Set(fwd.weights.map((w) => w.input));
  const overridable = dtype === "fp16" ? weightNames : overridableWeights(fwd.graph, fwd.weights);
  const type = dtype === "fp16" ? "float16" : "float32";
  const initializers: IrTensor[] = fwd.weights.map((w) => ({
    name: w.input,
    type,
    dims: [...w.shape],
    data: dtype === "fp16" ? new Uint16Array(0) : new Float32Array(0),
  }));
  const graph: IrGraph = {
    ...fwd.graph,
    name: `${ckpt.spec.architecture}-decoder${dtype === "fp16" ? "-fp16" : ""}`,
    nodes: dtype === "fp16" ? castWeights(fwd.graph.nodes, weightNames) : fwd.graph.nodes,
    inputs: fwd.graph.inputs.filter((v) => !weightNames.has(v.name) || overridable.has(v.name)).map((v) => (weightNames.has(v.name) ? { ...v, type } : v)),
    initializers: [...fwd.graph.initializers, ...initializers],
  };
  const parameters = fwd.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
  return { graph, weights: fwd.weights, overridable, parameters, dtype };
}

/** Ops that only move values: run on float16 data as well, so a weight-only chain of them stays float16. */
const MOVES = new Set(["Concat", "Gather", "Slice", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Split"]);

/**
 * The nodes with every read of a (now float16) weight going through a Cast to float32 right before
 * the node that computes with it: one Cast per read, so each float32 copy lives only while its
 * reader runs. Data movement on weights alone (`MOVES`: the embedding's row Gather, a compact
 * weight's Concat + Gather) stays float16, and only its result is cast: the rows a Gather picks,
 * not the whole table.
 */
function castWeights(nodes: readonly IrNode[], weights: ReadonlySet<string>): IrNode[] {
  const toF32 = { to: { i: ONNX_DTYPE.float32 } };
  const half = new Set(weights); // edges holding float16 values
  const out: IrNode[] = [];
  for (const n of nodes) {
    if (!n.inputs.some((i) => half.has(i))) {
      out.push(n);
      continue;
    }
    // the data input(s) of a move: all of a Concat's, the first of the others (indices, shapes, axes)
    const data = n.op === "Concat" ? n.inputs : n.inputs.slice(0, 1);
    if ((n.domain ?? "") === "" && MOVES.has(n.op) && data.every((i) => half.has(i)) && !n.inputs.some((i) => half.has(i) && !data.includes(i))) {
      out.push(n);
      for (const o of n.outputs) half.add(o);
      continue;
    }
    const inputs = n.inputs.map((e, k) => {
      if (!half.has(e)) return e;
      const cast = `${n.name}/input_${k}/Cast`;
      out.push({ name: cast, op: "Cast", inputs: [e], outputs: [`${cast}/output_0`], attrs: toF32 }); // [e's shape] f32
      return `${cast}/output_0`;
    });
    out.push({ ...n, inputs });
  }
  return out;
}
