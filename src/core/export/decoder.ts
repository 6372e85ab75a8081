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
 * casts only those; a large weight is cast in pieces (`castWeights`), a shared projection gathers
 * only the rows/columns it reads (`compactGatherParts`). docs/export.md "fp16" has the measurements.
 */
import type { Checkpoint } from "../model/checkpoint";
import { buildForward } from "../graph/forward";
import { CAST_CHUNK_ELEMENTS, overridableWeights } from "../graph/compact";
import type { ForwardGraph, WeightInput } from "../graph/types";
import type { IrGraph, IrNode, IrTensor } from "../onnx/ir";
import { ONNX_DTYPE } from "../onnx/serialize";
import { ExportError } from "./errors";
import type { ExportDtype } from "./results";

export interface DecoderModel {
  /** The graph with weights as initializers whose `data` is empty until `fill`ed (or external). */
  readonly graph: IrGraph;
  /** The weights, in the order they are stored (each checkpoint tensor once; float16 in an fp16 model). */
  readonly weights: readonly WeightInput[];
  /** Weights kept overridable (read by a compact assembly Gather). */
  readonly overridable: ReadonlySet<string>;
  /** Parameters stored in the model (Σ weight elements; constants and index maps excluded). */
  readonly parameters: number;
  readonly dtype: ExportDtype;
}

/** `chunkElements`: the fp16 pieces' size (default CAST_CHUNK_ELEMENTS; tests make it small to exercise the pieces on small models). */
export function decoderModel(ckpt: Checkpoint, dtype: ExportDtype = "fp32", chunkElements = CAST_CHUNK_ELEMENTS): DecoderModel {
  if (ckpt.spec.family === "bert") {
    throw new ExportError(
      "unsupported",
      `${ckpt.weightsPath}: ${ckpt.spec.architecture} is an encoder (bert family); only decoders (llama, mistral, qwen2, gpt2, gpt-neox) export as a KV-cache decoder`,
    );
  }
  let fwd: ForwardGraph;
  try {
    fwd = buildForward(ckpt, { kvCache: true, ...(dtype === "fp16" ? { compactGatherParts: true, castChunkElements: chunkElements } : {}) });
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
  const cast = dtype === "fp16" ? castWeights(fwd.graph.nodes, new Map(fwd.weights.map((w) => [w.input, w.shape])), chunkElements) : undefined;
  const graph: IrGraph = {
    ...fwd.graph,
    name: `${ckpt.spec.architecture}-decoder${dtype === "fp16" ? "-fp16" : ""}`,
    nodes: cast ? cast.nodes : fwd.graph.nodes,
    inputs: fwd.graph.inputs.filter((v) => !weightNames.has(v.name) || overridable.has(v.name)).map((v) => (weightNames.has(v.name) ? { ...v, type } : v)),
    initializers: [...fwd.graph.initializers, ...(cast?.constants ?? []), ...initializers],
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
 * not the whole table. A Gemm on a weight over CAST_CHUNK_ELEMENTS runs in pieces of output rows
 *
 *   x ─► Gemm(Cast(Slice(W16, rows r0..r1))) [N, r1 − r0] ─► … ─► Concat(axis 1) ─► [N, out]
 *
 * so the arena holds one piece (≤ 16 MiB), not the whole float32 weight (the LM head's is 500 MiB
 * at 32000 × 4096), and dense and shared exports make float32 copies of the same few sizes.
 */
function castWeights(
  nodes: readonly IrNode[],
  weights: ReadonlyMap<string, readonly number[]>,
  chunkElements: number,
): { nodes: IrNode[]; constants: IrTensor[] } {
  const toF32 = { to: { i: ONNX_DTYPE.float32 } };
  const half = new Set(weights.keys()); // edges holding float16 values
  const out: IrNode[] = [];
  const constants: IrTensor[] = [];
  const i64 = (name: string, v: number): string => {
    constants.push({ name, type: "int64", dims: [1], data: BigInt64Array.of(BigInt(v)) });
    return name;
  };
  const cast = (e: string, at: string): string => {
    out.push({ name: `${at}/Cast`, op: "Cast", inputs: [e], outputs: [`${at}/Cast/output_0`], attrs: toF32 }); // [e's shape] f32
    return `${at}/Cast/output_0`;
  };
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
    const shape = n.op === "Gemm" && !half.has(n.inputs[0]!) ? weights.get(n.inputs[1]!) : undefined;
    const transB = n.attrs?.transB && "i" in n.attrs.transB ? n.attrs.transB.i : 0;
    const outAxis = transB ? 0 : 1;
    const per = shape ? Math.max(1, Math.floor(chunkElements / shape[1 - outAxis]!)) : Infinity;
    if (shape && shape[outAxis]! > per) {
      const [x, w, c] = n.inputs as [string, string, string | undefined];
      const pieces: string[] = [];
      for (let r0 = 0, k = 0; r0 < shape[outAxis]!; r0 += per, k++) {
        const p = `${n.name}/piece.${k}`;
        const r1 = Math.min(shape[outAxis]!, r0 + per);
        const slice = (e: string, axis: number, at: string): string => {
          out.push({
            name: `${at}/Slice`,
            op: "Slice",
            inputs: [e, i64(`${at}/starts`, r0), i64(`${at}/ends`, r1), i64(`${at}/axes`, axis)],
            outputs: [`${at}/Slice/output_0`],
          });
          return `${at}/Slice/output_0`;
        };
        const wk = cast(slice(w, outAxis, `${p}/weight`), `${p}/weight`); // [r1 − r0, in] (or [in, r1 − r0]) f32
        const ck = c ? (half.has(c) ? cast(slice(c, 0, `${p}/bias`), `${p}/bias`) : slice(c, 0, `${p}/bias`)) : undefined; // [r1 − r0]
        out.push({ ...n, name: `${p}/Gemm`, inputs: ck ? [x, wk, ck] : [x, wk], outputs: [`${p}/Gemm/output_0`] }); // [N, r1 − r0]
        pieces.push(`${p}/Gemm/output_0`);
      }
      out.push({ name: `${n.name}/pieces/Concat`, op: "Concat", inputs: pieces, outputs: [...n.outputs], attrs: { axis: { i: 1 } } }); // [N, out]
      continue;
    }
    out.push({ ...n, inputs: n.inputs.map((e, k) => (half.has(e) ? cast(e, `${n.name}/input_${k}`) : e)) });
  }
  return { nodes: out, constants };
}
