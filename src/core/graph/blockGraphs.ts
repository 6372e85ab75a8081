/**
 * The graphs of the layer-streamed forward (`src/core/eval/streamed.ts`): instead of one graph of
 * the whole model, one graph per block kind, each reused for every layer it fits:
 *
 *   block:  input_ids int64 [B, S] (only its shape is read: mask, RoPE positions)
 *           hidden_in float32 [N = B·S, d] ─► one decoder layer ─► hidden_out float32 [N, d]
 *           weights: one input per ROLE ("q", "inputNorm", "fc", …), dense shapes, float32
 *   final:  hidden_in [M, d] ─► final norm ─► normed [M, d]
 *   head:   normed [M, d] × lm_head rows [Vc, d]ᵀ, one chunk of the vocabulary ─► per row max, Σ exp,
 *           argmax, target logit (and, beside a reference stream, the KL terms): `headStats.ts`
 *
 * The embedding is a row copy (done by the caller from the checkpoint's rows). A layer's graph is
 * built by the same layer function as the whole-model graph (`llamaLayer`, `gpt2Layer`,
 * `neoxLayer`) with a fixed node prefix and role-named inputs, so two layers whose graphs serialize
 * to the same bytes share one session (`key`); a layer-dependent graph (GPT-2's
 * scale_attn_by_inverse_layer_idx) simply gets its own. Every graph is standalone: another
 * runtime or an export (e.g. with a KV cache) can reuse `blockGraph` as it is.
 */
import crypto from "node:crypto";
import { GraphBuilder } from "../onnx/builder";
import type { IrGraph } from "../onnx/ir";
import { OnnxError } from "../onnx/errors";
import { serializeModel } from "../onnx/serialize";
import type { ModelSpec } from "../model/types";
import { causalMask, layerNorm, rmsNorm, ropeInvFreq, ropeTables, seqDims } from "./blocks";
import { gpt2Activation, gpt2Layer, type Gpt2Context } from "./gpt2";
import { checkLlamaActivation, llamaInvFreq, llamaLayer, type LlamaContext } from "./llama";
import { gpt2Names, llamaNames, type TensorLookup } from "./names";
import { neoxActivation, neoxLayer, neoxNames, neoxRotaryDims, type NeoxContext } from "./neox";
import { chunking, INPUT_IDS, type ShapeOf, type WeightInput } from "./types";
import { WeightInputs } from "./weightInputs";
import { HEAD_ROWS, headPairGraph, headStatsGraph, NORMED, REF_ROWS } from "./headStats";

export const HIDDEN_IN = "hidden_in";
export const HIDDEN_OUT = "hidden_out";
export { NORMED } from "./headStats";

/** One standalone graph and the checkpoint tensors its weight inputs read, in input order. */
export interface BlockGraph {
  readonly graph: IrGraph;
  /** input = role name (block) or fixed name (final); tensor = the checkpoint tensor; shape = dense. */
  readonly weights: readonly WeightInput[];
  /** Serialized ModelProto (what a session is created from). */
  readonly model: Uint8Array;
  /** sha256 of `model`: equal keys, one session. */
  readonly key: string;
}

/** Tensors outside the layers the streamed forward reads. */
export interface StreamGlobals {
  /** Token embedding [V, d]. */
  readonly embed: string;
  /** Learned positions [P, d] (GPT-2). */
  readonly positions?: string;
  /** The lm_head weight [V, d] (nn.Linear layout; the embedding when tied). */
  readonly lmHead: string;
}

export interface StreamGraphs {
  readonly globals: StreamGlobals;
  /** The checkpoint tensors of layer l, by role. */
  readonly layerRoles: (l: number) => Readonly<Record<string, string>>;
  readonly block: (l: number) => BlockGraph;
  readonly final: BlockGraph;
  /** One stream's head statistics per vocabulary chunk. */
  readonly headStats: BlockGraph;
  /** The reference stream's and G stacked streams' head statistics, with the KL terms. */
  readonly headPair: BlockGraph;
}

export interface StreamGraphOptions {
  /** Query chunk of the blocked causal attention (0/undefined = full attention). */
  readonly attentionChunk?: number;
  readonly maxSequence?: number;
}

function finish(b: GraphBuilder, weights: readonly WeightInput[]): BlockGraph {
  const graph = b.build();
  const model = serializeModel(graph);
  return { graph, weights, model, key: crypto.createHash("sha256").update(model).digest("hex") };
}

/** Maps each tensor of `roles` (role → tensor) back to its role, for role-named graph inputs. */
function roleNamer(roles: Readonly<Record<string, string | undefined>>): (tensor: string) => string {
  const byTensor = new Map<string, string>();
  for (const [role, t] of Object.entries(roles)) if (t !== undefined) byTensor.set(t, role);
  return (t) => {
    const r = byTensor.get(t);
    if (r === undefined) throw new OnnxError("bad-graph", `block graph: tensor "${t}" has no role in its layer`);
    return r;
  };
}

/** Starts a block graph: token-shape input, hidden_in, and the shared dims/mask. */
function blockStart(spec: ModelSpec, name: string) {
  const b = new GraphBuilder(`${spec.architecture}-${name}`, 17);
  const ids = b.input(INPUT_IDS, "int64", ["batch", "sequence"]);
  const x = b.input(HIDDEN_IN, "float32", ["tokens", spec.hidden]);
  const dims = seqDims(b, ids);
  return { b, x, dims, mask: causalMask(b, dims) };
}

function blockEnd(b: GraphBuilder, out: string, spec: ModelSpec, w: WeightInputs): BlockGraph {
  b.alias(out, HIDDEN_OUT);
  b.output(HIDDEN_OUT, "float32", ["tokens", spec.hidden]);
  return finish(b, w.list);
}

//   hidden_in [M, d] ─► RMSNorm / LayerNorm (final) ─► normed [M, d]
function finalGraph(spec: ModelSpec, dense: ShapeOf, norm: string, bias: string | undefined): BlockGraph {
  const b = new GraphBuilder(`${spec.architecture}-final-norm`, 17);
  const x = b.input(HIDDEN_IN, "float32", ["tokens", spec.hidden]);
  const w = new WeightInputs(b, dense, (t) => (t === norm ? "norm" : "norm_bias"));
  const y =
    bias === undefined ? rmsNorm(b, x, w.get(norm), spec.normEps, "/final/norm") : layerNorm(b, x, w.get(norm), w.get(bias), spec.normEps, "/final/norm");
  b.alias(y, NORMED);
  b.output(NORMED, "float32", ["tokens", spec.hidden]);
  return finish(b, w.list);
}

/** The head graphs (`headStats.ts`); their rows are fed per vocabulary chunk. */
function headGraphs(spec: ModelSpec, lmHead: string): { headStats: BlockGraph; headPair: BlockGraph } {
  const rows = (input: string) => ({ input, tensor: lmHead, shape: [spec.vocab, spec.hidden] });
  return {
    headStats: finish(headStatsGraph(spec.architecture, spec.hidden), [rows(HEAD_ROWS)]),
    headPair: finish(headPairGraph(spec.architecture, spec.hidden), [rows(REF_ROWS), rows(HEAD_ROWS)]),
  };
}

/** Memoizes block graphs by layer (a graph is a few kB; a 7B model builds 32 and keeps 1 session). */
function memo(f: (l: number) => BlockGraph): (l: number) => BlockGraph {
  const cache = new Map<number, BlockGraph>();
  return (l) => {
    let g = cache.get(l);
    if (!g) {
      g = f(l);
      cache.set(l, g);
    }
    return g;
  };
}

/**
 * The streamed forward's graphs of a model. `dense` gives each tensor's dense shape (a compact
 * checkpoint's dense layers are assembled by the caller before a block runs).
 */
export function streamGraphs(spec: ModelSpec, src: TensorLookup, dense: ShapeOf, opts: StreamGraphOptions, file: string): StreamGraphs {
  const chunk = chunking(opts, spec.maxPositions);
  const prefix = "/block";
  switch (spec.family) {
    case "llama": {
      if (spec.headDim % 2 !== 0) throw new OnnxError("unsupported", `${file}: RoPE needs an even head size, got ${spec.headDim}`);
      const names = llamaNames(spec, src, file);
      checkLlamaActivation(spec, file);
      const invFreq = llamaInvFreq(spec);
      const roles = (l: number): Record<string, string> => definedOnly(names.layers[l]!);
      const block = memo((l) => {
        const { b, x, dims, mask } = blockStart(spec, "block");
        const n = names.layers[l]!;
        const w = new WeightInputs(b, dense, roleNamer(roles(l)));
        const rope = ropeTables(b, dims, invFreq);
        const c: LlamaContext = { b, w, spec, dims, mask, rope, proj: (_l, p) => (n[p] === undefined ? undefined : w.get(n[p]!)), chunk, prefix };
        return blockEnd(b, llamaLayer(c, x, l, n).out, spec, w);
      });
      return {
        globals: { embed: names.embed, lmHead: names.lmHead },
        layerRoles: roles,
        block,
        final: finalGraph(spec, dense, names.finalNorm, undefined),
        ...headGraphs(spec, names.lmHead),
      };
    }
    case "gpt2": {
      const act = gpt2Activation(spec, file);
      const names = gpt2Names(spec, src, file);
      const roles = (l: number): Record<string, string> => definedOnly(names.layers[l]!);
      const block = memo((l) => {
        const { b, x, dims, mask } = blockStart(spec, "block");
        const w = new WeightInputs(b, dense, roleNamer(roles(l)));
        const c: Gpt2Context = { b, w, spec, dims, mask, act, attn: (_l, t) => w.get(t), chunk, prefix };
        return blockEnd(b, gpt2Layer(c, x, l, names.layers[l]!).out, spec, w);
      });
      return {
        globals: { embed: names.wte, positions: names.wpe, lmHead: names.lmHead },
        layerRoles: roles,
        block,
        final: finalGraph(spec, dense, names.lnF, names.lnFBias),
        ...headGraphs(spec, names.lmHead),
      };
    }
    case "gpt-neox": {
      const act = neoxActivation(spec, file);
      const rotaryDims = neoxRotaryDims(spec, file);
      const names = neoxNames(spec, src, file);
      const invFreq = ropeInvFreq(rotaryDims, spec.ropeTheta ?? 10000);
      const roles = (l: number): Record<string, string> => definedOnly(names.layers[l]!);
      const block = memo((l) => {
        const { b, x, dims, mask } = blockStart(spec, "block");
        const w = new WeightInputs(b, dense, roleNamer(roles(l)));
        const c: NeoxContext = {
          b,
          w,
          spec,
          dims,
          mask,
          rope: ropeTables(b, dims, invFreq),
          rotaryDims,
          act,
          parallel: spec.config.use_parallel_residual !== false,
          attn: (_l, t) => w.get(t),
          chunk,
          prefix,
        };
        return blockEnd(b, neoxLayer(c, x, l, names.layers[l]!).out, spec, w);
      });
      return {
        globals: { embed: names.embed, lmHead: names.head },
        layerRoles: roles,
        block,
        final: finalGraph(spec, dense, names.lnF, names.lnFBias),
        ...headGraphs(spec, names.head),
      };
    }
    default:
      throw new OnnxError(
        "unsupported",
        `${file}: forward graphs exist for the llama, gpt2 and gpt-neox families; ${spec.architecture} (${spec.family}) cannot be evaluated`,
      );
  }
}

function definedOnly(o: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === "string") out[k] = v;
  return out;
}
