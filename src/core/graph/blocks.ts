/**
 * Building blocks shared by the forward graphs. The residual stream is kept 2-D, [N = batch·seq, d],
 * so every projection is one Gemm straight on the checkpoint's weight (transB for nn.Linear's
 * [out, in], plain for GPT-2's Conv1D [in, out]) with no transposed copy of the weight.
 * Only attention reshapes to heads.
 */
import type { GraphBuilder } from "../onnx/builder";

/** Dynamic sizes of the batch, taken once from input_ids. */
export interface SeqDims {
  /** [2] int64: (B, S). */
  readonly bs: string;
  /** [1] int64: B and S. */
  readonly b1: string;
  readonly s1: string;
  /** [] int64: S as a scalar (for Range). */
  readonly s0: string;
}

//   input_ids [B, S] ──Shape──► bs [2] ──Slice──► b1 [1], s1 [1] ──Squeeze──► s0 []
export function seqDims(b: GraphBuilder, inputIds: string): SeqDims {
  const p = "/model/dims";
  const bs = b.op("Shape", [inputIds], `${p}/Shape`);
  const b1 = b.op("Slice", [bs, b.i64s([0]), b.i64s([1])], `${p}/batch/Slice`);
  const s1 = b.op("Slice", [bs, b.i64s([1]), b.i64s([2])], `${p}/seq/Slice`);
  const s0 = b.op("Squeeze", [s1, b.i64s([0])], `${p}/seq/Squeeze`);
  return { bs, b1, s1, s0 };
}

/** y = x · Wᵀ + bias (nn.Linear, W [out, in]) or x · W + bias (Conv1D, W [in, out]); x [N, in]. */
export function linear(b: GraphBuilder, x: string, w: string, bias: string | undefined, name: string, layout: "linear" | "conv1d"): string {
  const inputs = bias ? [x, w, bias] : [x, w];
  return b.op("Gemm", inputs, `${name}/Gemm`, layout === "linear" ? { transB: 1 } : undefined);
}

//   x [N, d] ─┬─► Pow(2) ─► ReduceMean(-1) ─► Add(eps) ─► Sqrt ─┐
//             └───────────────────────────────────────────► Div ─► Mul(weight) ─► y [N, d]
// (this is the pattern onnxruntime fuses into one SimplifiedLayerNormalization kernel)
export function rmsNorm(b: GraphBuilder, x: string, weight: string, eps: number, name: string): string {
  const sq = b.op("Pow", [x, b.f32(2)], `${name}/Pow`);
  const ms = b.op("ReduceMean", [sq], `${name}/ReduceMean`, { axes: [-1], keepdims: 1 });
  const ve = b.op("Add", [ms, b.f32(eps)], `${name}/AddEps`);
  const rms = b.op("Sqrt", [ve], `${name}/Sqrt`);
  const xn = b.op("Div", [x, rms], `${name}/Div`);
  return b.op("Mul", [xn, weight], `${name}/MulWeight`);
}

//   x [N, d] ─┬─► ReduceMean(-1) ─► Sub ─► xc ─┬─► Pow(2) ─► ReduceMean ─► Add(eps) ─► Sqrt ─┐
//             └──────────────────────────┘     └──────────────────────────────────────► Div ─► Mul(γ) ─► Add(β)
// (the pattern onnxruntime fuses into one LayerNormalization kernel)
export function layerNorm(b: GraphBuilder, x: string, gamma: string, beta: string, eps: number, name: string): string {
  const mean = b.op("ReduceMean", [x], `${name}/Mean/ReduceMean`, { axes: [-1], keepdims: 1 });
  const xc = b.op("Sub", [x, mean], `${name}/Sub`);
  const sq = b.op("Pow", [xc, b.f32(2)], `${name}/Pow`);
  const v = b.op("ReduceMean", [sq], `${name}/Var/ReduceMean`, { axes: [-1], keepdims: 1 });
  const ve = b.op("Add", [v, b.f32(eps)], `${name}/AddEps`);
  const sd = b.op("Sqrt", [ve], `${name}/Sqrt`);
  const xn = b.op("Div", [xc, sd], `${name}/Div`);
  const g = b.op("Mul", [xn, gamma], `${name}/MulGamma`);
  return b.op("Add", [g, beta], `${name}/AddBeta`);
}

//   Range(0, S) ─┬─► Unsqueeze(1) row [S,1] ─┐
//                └─► Unsqueeze(0) col [1,S] ─┴─► Greater(col, row) ─► Where(-1e9, 0) ─► mask [S, S]
/** Additive causal mask, 0 on and below the diagonal, −1e9 above (finite, so 0·mask stays 0). */
export function causalMask(b: GraphBuilder, dims: SeqDims): string {
  const p = "/model/attn_mask";
  const r = b.op("Range", [b.constant("int64", 0), dims.s0, b.constant("int64", 1)], `${p}/Range`);
  const row = b.op("Unsqueeze", [r, b.i64s([1])], `${p}/row/Unsqueeze`);
  const col = b.op("Unsqueeze", [r, b.i64s([0])], `${p}/col/Unsqueeze`);
  const future = b.op("Greater", [col, row], `${p}/Greater`);
  return b.op("Where", [future, b.f32(-1e9), b.f32(0)], `${p}/Where`);
}

//   positions [S] (Range(0, S)) or [B, S] (position_ids) ─► Cast(float) ─► Unsqueeze(-1) ─► Mul(inv_freq [dh/2]) ─► freqs [.., S, dh/2]
//   freqs ─► Concat(freqs, freqs) [.., S, dh] ─► Unsqueeze(-2) [.., S, 1, dh] ─┬─► Cos ─► cos
//                                                                            └─► Sin ─► sin
/**
 * RoPE tables in Hugging Face's rotate-half convention, broadcastable over [B, S, heads, dh]: at
 * positions 0..S−1 ([S, 1, dh]), or at `positions` (int64 [B, S] position_ids, giving [B, S, 1, dh]).
 */
export function ropeTables(b: GraphBuilder, dims: SeqDims, invFreq: Float32Array, positions?: string): { cos: string; sin: string } {
  const p = "/model/rotary_emb";
  const inv = b.initializer("model.rotary_emb.inv_freq", "float32", [invFreq.length], invFreq); // [dh/2]
  const at = positions ?? b.op("Range", [b.constant("int64", 0), dims.s0, b.constant("int64", 1)], `${p}/Range`);
  const pos = b.op("Cast", [at], `${p}/Cast`, { to: 1 });
  const col = b.op("Unsqueeze", [pos, b.i64s([-1])], `${p}/Unsqueeze`);
  const freqs = b.op("Mul", [col, inv], `${p}/Mul`);
  const emb = b.op("Concat", [freqs, freqs], `${p}/Concat`, { axis: -1 });
  const e3 = b.op("Unsqueeze", [emb, b.i64s([-2])], `${p}/heads/Unsqueeze`);
  return { cos: b.op("Cos", [e3], `${p}/Cos`), sin: b.op("Sin", [e3], `${p}/Sin`) };
}

/** inv_freq[i] = 1 / theta^(2i / dh), i < dh/2, as Hugging Face computes it (float32). */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) out[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  return out;
}

//   x [B, S, h, dh] ─┬─► Slice[:dh/2] ─► x1 ──────────┐
//                    ├─► Slice[dh/2:] ─► x2 ─► Neg ───┴─► Concat(−x2, x1) ─► Mul(sin) ─┐
//                    └─► Mul(cos) ─────────────────────────────────────────────────► Add ─► y
//   (partial rotary, rotDims < dh: x ─► Slice[:rotDims] ─► the above ─┐
//                                   x ─► Slice[rotDims:] ───────────┴─► Concat ─► y)
/** Rotate-half RoPE over the first `rotDims` of each head (= dh for full rotary); cos/sin are [S, 1, rotDims]. */
export function applyRope(b: GraphBuilder, x: string, cos: string, sin: string, headDim: number, name: string, rotDims = headDim): string {
  const xr = rotDims === headDim ? x : b.op("Slice", [x, b.i64s([0]), b.i64s([rotDims]), b.i64s([-1])], `${name}/rot/Slice`);
  const half = rotDims / 2;
  const x1 = b.op("Slice", [xr, b.i64s([0]), b.i64s([half]), b.i64s([-1])], `${name}/x1/Slice`);
  const x2 = b.op("Slice", [xr, b.i64s([half]), b.i64s([rotDims]), b.i64s([-1])], `${name}/x2/Slice`);
  const nx2 = b.op("Neg", [x2], `${name}/Neg`);
  const rot = b.op("Concat", [nx2, x1], `${name}/Concat`, { axis: -1 });
  const a = b.op("Mul", [xr, cos], `${name}/MulCos`);
  const c = b.op("Mul", [rot, sin], `${name}/MulSin`);
  const y = b.op("Add", [a, c], `${name}/Add`);
  if (rotDims === headDim) return y;
  const pass = b.op("Slice", [x, b.i64s([rotDims]), b.i64s([headDim]), b.i64s([-1])], `${name}/pass/Slice`);
  return b.op("Concat", [y, pass], `${name}/pass/Concat`, { axis: -1 });
}

export interface AttentionSpec {
  readonly heads: number; // H
  readonly kvHeads: number; // Hkv
  readonly headDim: number; // dh
  readonly rope?: { readonly cos: string; readonly sin: string };
  /** Leading dims of each head that RoPE rotates (default dh; GPT-NeoX: rotary_pct · dh). */
  readonly rotaryDims?: number;
  /** Multiplier of q·k (default 1/√dh). */
  readonly scale?: number;
  /**
   * Blocked causal attention (inference speed): queries in chunks of `size`, chunk c attending to
   * keys [0, (c+1)·size) only, `count` chunks covering the longest sequence. Skips the masked upper
   * triangle's work and keeps each chunk's scores cache-sized. No attention-probs output then.
   */
  readonly chunk?: { readonly size: number; readonly count: number };
  /**
   * KV cache (decoder export): this layer's past keys/values [B, Hkv, P, dh]; the new ones are
   * appended along the sequence axis and returned as `present` [B, Hkv, P+S, dh]. The mask is then
   * [B, 1, S, P+S] (`paddedCausalMask`). No chunking with a cache.
   */
  readonly cache?: { readonly pastKey: string; readonly pastValue: string };
}

/** A layer's attention: its output [N, H·dh], its probs (empty when chunked), its cache (with `cache`). */
export interface AttentionOut {
  readonly out: string;
  readonly probs: string;
  readonly present?: { readonly key: string; readonly value: string };
}

//   q [N, H·dh] ─► Reshape [B,S,H,dh] ─► (RoPE) ─► Transpose [B,H,S,dh] ─► Mul(1/√dh) ─► Reshape [B,Hkv,g·S,dh] ─┐
//   k [N, Hkv·dh] ─► Reshape [B,S,Hkv,dh] ─► (RoPE) ─► Transpose [B,Hkv,dh,S] ─────────────────────► MatMul ◄─┘
//        scores [B,Hkv,g·S,S] ─► Reshape [B,H,S,S] ─► Add(mask [S,S]) ─► Softmax(-1) ─► probs ─► Reshape [B,Hkv,g·S,S] ─┐
//   v [N, Hkv·dh] ─► Reshape [B,S,Hkv,dh] ─► Transpose [B,Hkv,S,dh] ──────────────────────────────────► MatMul ◄─┘
//        ctx [B,Hkv,g·S,dh] ─► Reshape [B,H,S,dh] ─► Transpose [B,S,H,dh] ─► Reshape [N, H·dh]
/** Causal grouped-query attention without copying K/V per query head (query head h reads kv head h / g). */
export function attention(b: GraphBuilder, q: string, k: string, v: string, mask: string, dims: SeqDims, a: AttentionSpec, name: string): AttentionOut {
  const { heads: H, kvHeads: Hkv, headDim: dh } = a;
  const shapeBSHd = (h: number): string => b.op("Concat", [dims.bs, b.i64s([h, dh])], `${name}/shape_${h}x${dh}/Concat`, { axis: 0 });
  const qShape = shapeBSHd(H);
  const kvShape = H === Hkv ? qShape : shapeBSHd(Hkv);
  let q4 = b.op("Reshape", [q, qShape], `${name}/q/Reshape`); // [B, S, H, dh]
  let k4 = b.op("Reshape", [k, kvShape], `${name}/k/Reshape`); // [B, S, Hkv, dh]
  const v4 = b.op("Reshape", [v, kvShape], `${name}/v/Reshape`); // [B, S, Hkv, dh]
  if (a.rope) {
    q4 = applyRope(b, q4, a.rope.cos, a.rope.sin, dh, `${name}/q_rotary`, a.rotaryDims ?? dh);
    k4 = applyRope(b, k4, a.rope.cos, a.rope.sin, dh, `${name}/k_rotary`, a.rotaryDims ?? dh);
  }
  const qt = b.op("Transpose", [q4], `${name}/q/Transpose`, { perm: [0, 2, 1, 3] }); // [B, H, S, dh]
  const qs = b.op("Mul", [qt, b.f32(a.scale ?? 1 / Math.sqrt(dh))], `${name}/q/Scale`);
  let kt: string, vt: string, present: AttentionOut["present"];
  if (a.cache) {
    //   past [B,Hkv,P,dh] ─┐
    //   k/v [B,S,Hkv,dh] ─► Transpose [B,Hkv,S,dh] ─► Concat(axis 2) ─► present [B,Hkv,P+S,dh]   (keys: ─► Transpose [B,Hkv,dh,P+S])
    const kNew = b.op("Transpose", [k4], `${name}/k/Transpose`, { perm: [0, 2, 1, 3] });
    const vNew = b.op("Transpose", [v4], `${name}/v/Transpose`, { perm: [0, 2, 1, 3] });
    present = {
      key: b.op("Concat", [a.cache.pastKey, kNew], `${name}/k_cache/Concat`, { axis: 2 }),
      value: b.op("Concat", [a.cache.pastValue, vNew], `${name}/v_cache/Concat`, { axis: 2 }),
    };
    kt = b.op("Transpose", [present.key], `${name}/k_cache/Transpose`, { perm: [0, 1, 3, 2] }); // [B, Hkv, dh, P+S]
    vt = present.value; // [B, Hkv, P+S, dh]
  } else {
    kt = b.op("Transpose", [k4], `${name}/k/Transpose`, { perm: [0, 2, 3, 1] }); // [B, Hkv, dh, S]
    vt = b.op("Transpose", [v4], `${name}/v/Transpose`, { perm: [0, 2, 1, 3] }); // [B, Hkv, S, dh]
  }
  let ctx: string,
    probs = "";
  if (a.chunk && !a.cache) {
    // A sequence shorter than the graph's longest leaves the last chunks without queries. Empty
    // tensors are fine on CPU but not on every provider (WebGPU refuses a Softmax dispatch of 0
    // groups), so chunk c starts at min(c·K, S−1): a chunk past the end recomputes the last query
    // row, and the rows past S are cut after the Concat. Rows before S are unchanged.
    const last = b.op("Sub", [dims.s1, b.i64s([1])], `${name}/chunks/last/Sub`); // [1] S−1
    const parts: string[] = [];
    for (let c = 0; c < a.chunk.count; c++) {
      const hi = (c + 1) * a.chunk.size,
        n = `${name}/chunk.${c}`;
      const lo = c === 0 ? b.i64s([0]) : b.op("Min", [b.i64s([c * a.chunk.size]), last], `${n}/start/Min`); // [1]
      const qc = b.op("Slice", [qs, lo, b.i64s([hi]), b.i64s([2])], `${n}/q/Slice`); // [B, H, K, dh]
      const kc = b.op("Slice", [kt, b.i64s([0]), b.i64s([hi]), b.i64s([3])], `${n}/k/Slice`); // [B, Hkv, dh, hi]
      const vc = b.op("Slice", [vt, b.i64s([0]), b.i64s([hi]), b.i64s([2])], `${n}/v/Slice`); // [B, Hkv, hi, dh]
      const mlo = c === 0 ? b.i64s([0, 0]) : b.op("Concat", [lo, b.i64s([0])], `${n}/mask/start/Concat`, { axis: 0 }); // [2]
      const mc = b.op("Slice", [mask, mlo, b.i64s([hi, hi]), b.i64s([0, 1])], `${n}/mask/Slice`); // [K, hi]
      const o = attendCore(b, qc, kc, vc, mc, a, n);
      parts.push(o.ctx);
    }
    const all = b.op("Concat", parts, `${name}/chunks/Concat`, { axis: 2 }); // [B, H, ≥S, dh]
    ctx = b.op("Slice", [all, b.i64s([0]), dims.s1, b.i64s([2])], `${name}/chunks/Slice`); // [B, H, S, dh]
  } else {
    const o = attendCore(b, qs, kt, vt, mask, a, name);
    ctx = o.ctx;
    probs = o.probs;
  }
  const ctxT = b.op("Transpose", [ctx], `${name}/ctx/Transpose`, { perm: [0, 2, 1, 3] }); // [B, S, H, dh]
  const out = b.op("Reshape", [ctxT, b.i64s([-1, H * dh])], `${name}/ctx/Flatten`); // [N, H·dh]
  return present ? { out, probs, present } : { out, probs };
}

//   q [B,H,Sq,dh] ─► Reshape [B,Hkv,g·Sq,dh] ─► MatMul(kᵀ [B,Hkv,dh,Sk]) ─► Reshape [B,H,Sq,Sk] ─► Add(mask [Sq,Sk]) ─► Softmax ─┐
//   ctx [B,H,Sq,dh] ◄─ Reshape ◄─ MatMul(v [B,Hkv,Sk,dh]) ◄─ Reshape [B,Hkv,g·Sq,Sk] ◄─────────────────────────────────────────┘
/** Scores, mask, softmax and context of (a chunk of) queries; q is already scaled by 1/√dh. */
function attendCore(b: GraphBuilder, q: string, kt: string, vt: string, mask: string, a: AttentionSpec, name: string): { ctx: string; probs: string } {
  const { heads: H, kvHeads: Hkv, headDim: dh } = a;
  const grouped = H !== Hkv;
  const qg = grouped ? b.op("Reshape", [q, b.i64s([0, Hkv, -1, dh])], `${name}/q/GroupReshape`) : q; // [B, Hkv, g·Sq, dh]
  let scores = b.op("MatMul", [qg, kt], `${name}/qk/MatMul`); // [B, Hkv, g·Sq, Sk]
  if (grouped) scores = b.op("Reshape", [scores, b.i64s([0, H, -1, 0])], `${name}/scores/Reshape`); // [B, H, Sq, Sk]
  const masked = b.op("Add", [scores, mask], `${name}/mask/Add`);
  const probs = b.op("Softmax", [masked], `${name}/Softmax`, { axis: -1 }); // [B, H, Sq, Sk]
  const pg = grouped ? b.op("Reshape", [probs, b.i64s([0, Hkv, -1, 0])], `${name}/probs/GroupReshape`) : probs;
  let ctx = b.op("MatMul", [pg, vt], `${name}/pv/MatMul`); // [B, Hkv, g·Sq, dh]
  if (grouped) ctx = b.op("Reshape", [ctx, b.i64s([0, H, -1, dh])], `${name}/ctx/Reshape`); // [B, H, Sq, dh]
  return { ctx, probs };
}

//   x [N, d] ─► Gemm(gate) ─┬─► Sigmoid ─► Mul ─┐
//                           └──────────────────┘ ─► Mul(up) ─► Gemm(down) ─► y [N, d]
//   x [N, d] ─► Gemm(up) ──────────────────────────┘
export function swiGlu(
  b: GraphBuilder,
  x: string,
  gate: string,
  up: string,
  down: string,
  name: string,
  bias: { gate?: string; up?: string; down?: string } = {},
): string {
  const g = linear(b, x, gate, bias.gate, `${name}/gate_proj`, "linear");
  const sg = b.op("Sigmoid", [g], `${name}/act_fn/Sigmoid`);
  const silu = b.op("Mul", [g, sg], `${name}/act_fn/Mul`);
  const u = linear(b, x, up, bias.up, `${name}/up_proj`, "linear");
  const h = b.op("Mul", [silu, u], `${name}/Mul`);
  return linear(b, h, down, bias.down, `${name}/down_proj`, "linear");
}

//   x ─┬─► Pow(3) ─► Mul(0.044715) ─► Add(x) ─► Mul(√(2/π)) ─► Tanh ─► Add(1) ─┐
//      └─► Mul(0.5) ─────────────────────────────────────────────────────► Mul ─► y
// (HF's gelu_new written as exported from PyTorch, the pattern onnxruntime fuses into FastGelu)
/** GELU, tanh approximation ("gelu_new" / "gelu_pytorch_tanh"), or exact erf ("gelu"). */
export function gelu(b: GraphBuilder, x: string, kind: "tanh" | "erf", name: string): string {
  const half = b.op("Mul", [x, b.f32(0.5)], `${name}/Half`);
  let inner: string;
  if (kind === "tanh") {
    const x3 = b.op("Pow", [x, b.f32(3)], `${name}/Pow`);
    const c = b.op("Mul", [x3, b.f32(0.044715)], `${name}/MulC`);
    const s = b.op("Add", [x, c], `${name}/AddX`);
    const t = b.op("Mul", [s, b.f32(Math.sqrt(2 / Math.PI))], `${name}/MulSqrt2OverPi`);
    inner = b.op("Tanh", [t], `${name}/Tanh`);
  } else {
    const t = b.op("Mul", [x, b.f32(Math.SQRT1_2)], `${name}/MulRsqrt2`);
    inner = b.op("Erf", [t], `${name}/Erf`);
  }
  const one = b.op("Add", [inner, b.f32(1)], `${name}/AddOne`);
  return b.op("Mul", [half, one], `${name}/Mul`);
}

export interface HeadOutputs {
  readonly logits?: boolean;
  readonly logprobs?: boolean;
  readonly nll?: boolean;
  readonly targets?: string;
}

//   x [N, d] ─► Gemm(lm_head) ─► Reshape [B,S,V] ─┬─► logits
//                                                └─► LogSoftmax(-1) ─┬─► logprobs
//                       targets [B,S] ─► Unsqueeze(-1) ─► GatherElements ◄┘ ─► Squeeze ─► Neg ─► nll [B,S]
/** The language-model head and its optional outputs; returns the edge names by output. */
export function lmHead(
  b: GraphBuilder,
  x: string,
  lmWeight: string,
  layout: "linear" | "conv1d",
  dims: SeqDims,
  vocab: number,
  o: HeadOutputs,
): Record<string, string> {
  const p = "/lm_head";
  const flat = linear(b, x, lmWeight, undefined, p, layout); // [N, V]
  const shape = b.op("Concat", [dims.bs, b.i64s([vocab])], `${p}/shape/Concat`, { axis: 0 });
  const logits = b.op("Reshape", [flat, shape], `${p}/Reshape`); // [B, S, V]
  const out: Record<string, string> = {};
  if (o.logits) out.logits = logits;
  if (o.logprobs || o.nll) {
    const lp = b.op("LogSoftmax", [logits], `${p}/LogSoftmax`, { axis: -1 }); // [B, S, V]
    if (o.logprobs) out.logprobs = lp;
    if (o.nll) {
      const t = b.op("Unsqueeze", [o.targets!, b.i64s([-1])], `${p}/targets/Unsqueeze`); // [B, S, 1]
      const g = b.op("GatherElements", [lp, t], `${p}/GatherElements`, { axis: -1 }); // [B, S, 1]
      const sq = b.op("Squeeze", [g, b.i64s([-1])], `${p}/Squeeze`); // [B, S]
      out.nll = b.op("Neg", [sq], `${p}/Neg`);
    }
  }
  return out;
}

//   probs.{l} [1, H, S, S] ─► Concat(axis 0) [L, H, S, S] ─► Pow(2) ─► ReduceSum(-1) ─► Sqrt ─┐
//        └──────────────────────────────────────────────────────────────────────────► Div ─► Mul(row t ≥ 1 [S, 1]) ─► Reshape [L·H, S·S] = R
//   R ─► MatMul(Transpose(R)) ─► gram [L·H, L·H]   (= Σ_t≥1 of row cosines, since Σ_t Σ_j R_t,a,j R_t,b,j is one product over (t, j))
/** Sums over query positions t ≥ 1 of the cosine between every pair of heads' attention rows (batch 1). */
export function attentionGram(b: GraphBuilder, probs: readonly string[], heads: number, dims: SeqDims): string {
  const p = "/attention_gram";
  const all = probs.length === 1 ? probs[0]! : b.op("Concat", [...probs], `${p}/Concat`, { axis: 0 }); // [L, H, S, S]
  const sq = b.op("Pow", [all, b.f32(2)], `${p}/Pow`);
  const ss = b.op("ReduceSum", [sq, b.i64s([-1])], `${p}/ReduceSum`, { keepdims: 1 }); // [L, H, S, 1]
  const norm = b.op("Sqrt", [ss], `${p}/Sqrt`);
  const unit = b.op("Div", [all, norm], `${p}/Div`); // rows of unit length
  const r = b.op("Range", [b.constant("int64", 0), dims.s0, b.constant("int64", 1)], `${p}/rows/Range`);
  const keep = b.op("Cast", [b.op("Greater", [r, b.constant("int64", 0)], `${p}/rows/Greater`)], `${p}/rows/Cast`, { to: 1 }); // [S]: 0 for t = 0
  const keep2 = b.op("Unsqueeze", [keep, b.i64s([1])], `${p}/rows/Unsqueeze`); // [S, 1]
  const kept = b.op("Mul", [unit, keep2], `${p}/rows/Mul`);
  const R = b.op("Reshape", [kept, b.i64s([probs.length * heads, -1])], `${p}/Reshape`); // [L·H, S·S]
  const Rt = b.op("Transpose", [R], `${p}/Transpose`, { perm: [1, 0] });
  return b.op("MatMul", [R, Rt], `${p}/MatMul`); // [L·H, L·H]
}
