/**
 * The head of the layer-streamed forward, one vocabulary chunk at a time, with the softmax
 * statistics computed in the graph: only [rows, 1] vectors leave onnxruntime, never the
 * [tokens, vocab chunk] logits (`src/core/eval/streamed.ts` merges the chunks in float64).
 *
 *   stats: normed [M, d], lm_head rows [Vc, d], target_index [M, 1] int64 (the target's index in
 *          the chunk, clamped: the caller keeps only targets inside it)
 *          z = normed · rowsᵀ [M, Vc] ─► max [M, 1], sum_exp = Σ exp(z − max) [M, 1],
 *          argmax [M, 1] int64 (first index of the max), target_logit = z[target_index] [M, 1]
 *
 *   pair:  the reference stream (model 0) as above, from ref_normed [M, d] and ref_rows [Vc, d]
 *          (outputs ref_max, ref_sum_exp, ref_argmax, ref_target_logit), and G other streams of
 *          one checkpoint stacked, normed [G·M, d] with their rows [Vc, d]: z_i [G, M, Vc] ─► max,
 *          sum_exp, argmax, target_logit [G, M, 1], and for KL(P_0 ‖ P_i) within the chunk
 *          kl_terms = Σ exp(z_0 − max_0)(z_0 − z_i) [G, M, 1]
 *
 * Merging chunk c into running values (m, s) per row: m' = max(m, max_c),
 * s' = s·exp(m − m') + sum_exp_c·exp(max_c − m'); for KL, A' = A·exp(m_0 − m_0') +
 * kl_terms_c·exp(max_0,c − m_0'), and KL = A / s_0 − lse_0 + lse_i (lse = m + log s).
 */
import { GraphBuilder } from "../onnx/builder";
import { linear } from "./blocks";

export const NORMED = "normed";
export const HEAD_ROWS = "lm_head_rows";
export const TARGET_INDEX = "target_index";
export const REF_NORMED = "ref_normed";
export const REF_ROWS = "ref_rows";

/** The statistics' output names; the pair graph's reference ones carry REF_PREFIX. */
export const STAT = { max: "max", sumExp: "sum_exp", argmax: "argmax", target: "target_logit", kl: "kl_terms" } as const;
export const REF_PREFIX = "ref_";

/** max, sum_exp, argmax, target_logit of logits z [..., Vc] along the last axis (each [..., 1]). */
function stats(b: GraphBuilder, z: string, target: string, p: string): { max: string; sumExp: string; argmax: string; target: string; e: string } {
  const max = b.op("ReduceMax", [z], `${p}/ReduceMax`, { axes: [-1], keepdims: 1 }); // [..., 1]
  const e = b.op("Exp", [b.op("Sub", [z, max], `${p}/SubMax`)], `${p}/Exp`); // [..., Vc]
  const sumExp = b.op("ReduceSum", [e, b.i64s([-1])], `${p}/ReduceSum`, { keepdims: 1 }); // [..., 1]
  const argmax = b.op("ArgMax", [z], `${p}/ArgMax`, { axis: -1, keepdims: 1 }); // [..., 1] int64
  const t = b.op("GatherElements", [z, target], `${p}/GatherElements`, { axis: -1 }); // [..., 1]
  return { max, sumExp, argmax, target: t, e };
}

function outputs(b: GraphBuilder, s: ReturnType<typeof stats>, prefix: string, dims: readonly (string | number)[]): void {
  for (const [k, edge] of [
    ["max", s.max],
    ["sumExp", s.sumExp],
    ["argmax", s.argmax],
    ["target", s.target],
  ] as const) {
    const name = prefix + STAT[k];
    b.alias(edge, name);
    b.output(name, k === "argmax" ? "int64" : "float32", [...dims, 1]);
  }
}

/** One stream: normed [M, d] × rows [Vc, d]ᵀ ─► its statistics (see the file comment). */
export function headStatsGraph(name: string, hidden: number): GraphBuilder {
  const b = new GraphBuilder(`${name}-head-stats`, 17);
  const x = b.input(NORMED, "float32", ["tokens", hidden]);
  const w = b.input(HEAD_ROWS, "float32", ["vocab_chunk", hidden]);
  const t = b.input(TARGET_INDEX, "int64", ["tokens", 1]);
  const z = linear(b, x, w, undefined, "/lm_head", "linear"); // [M, Vc]
  outputs(b, stats(b, z, t, "/stats"), "", ["tokens"]);
  return b;
}

/** The reference stream and G stacked streams of one checkpoint, with the KL terms (see the file comment). */
export function headPairGraph(name: string, hidden: number): GraphBuilder {
  const b = new GraphBuilder(`${name}-head-pair`, 17);
  // the reference may be another checkpoint, of another width
  const x0 = b.input(REF_NORMED, "float32", ["tokens", "ref_hidden"]);
  const w0 = b.input(REF_ROWS, "float32", ["vocab_chunk", "ref_hidden"]);
  const x = b.input(NORMED, "float32", ["stacked_tokens", hidden]);
  const w = b.input(HEAD_ROWS, "float32", ["vocab_chunk", hidden]);
  const t = b.input(TARGET_INDEX, "int64", ["tokens", 1]);
  const z0 = linear(b, x0, w0, undefined, "/ref/lm_head", "linear"); // [M, Vc]
  const ref = stats(b, z0, t, "/ref/stats");
  outputs(b, ref, REF_PREFIX, ["tokens"]);
  // [G·M, Vc] ─► [G, M, Vc]: M from ref_normed, Vc from the rows
  const m = b.op("Shape", [x0], "/stack/ShapeM", { end: 1 }); // [1] int64
  const vc = b.op("Shape", [w], "/stack/ShapeVc", { end: 1 }); // [1] int64
  const shape = b.op("Concat", [b.i64s([-1]), m, vc], "/stack/Concat", { axis: 0 }); // [3] = [-1, M, Vc]
  const z = b.op("Reshape", [linear(b, x, w, undefined, "/lm_head", "linear"), shape], "/stack/Reshape"); // [G, M, Vc]
  const gm = b.op("Shape", [z], "/stack/ShapeGM", { end: 2 }); // [2] = [G, M]
  const ti = b.op("Expand", [t, b.op("Concat", [gm, b.i64s([1])], "/stack/TargetShape", { axis: 0 })], "/stack/ExpandTargets"); // [G, M, 1]
  const s = stats(b, z, ti, "/stats");
  outputs(b, s, "", ["streams", "tokens"]);
  // Σ_v exp(z_0 − max_0)·(z_0 − z_i): [M, Vc] broadcast against [G, M, Vc]
  const kl = b.op("ReduceSum", [b.op("Mul", [ref.e, b.op("Sub", [z0, z], "/kl/Sub")], "/kl/Mul"), b.i64s([-1])], "/kl/ReduceSum", { keepdims: 1 });
  b.alias(kl, STAT.kl);
  b.output(STAT.kl, "float32", ["streams", "tokens", 1]);
  return b;
}
