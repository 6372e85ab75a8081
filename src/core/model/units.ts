/**
 * Units (method.md §1) and their slices. `unitLayout` says where a unit's q/k/v rows, o columns
 * and q/k/v bias slices live in the stored tensors; `readUnit` reads exactly those bytes and
 * returns them as float32 in canonical nn.Linear orientation:
 *   q: [gq·dh, d]   k, v: [dh, d]   o: [d, gq·dh]   qBias: [gq·dh]   kBias, vBias: [dh]
 * with gq = H/Hkv query heads for granularity "group" and 1 for "query-head". For "query-head" the
 * unit owns only its q rows and o columns; its k/v (and k/v bias) slices are those of the kv head
 * it reads (h / (H/Hkv)), given for matching strategies that include k or v.
 */
import { DTYPE_SIZE, bytesToF32 } from "../safetensors/dtype";
import type { TensorSource } from "../safetensors/types";
import type { Checkpoint } from "./checkpoint";
import { ModelError } from "./errors";
import { type Granularity, type ModelSpec, type Projection, type SliceRef, type UnitLayout, unitsPerLayer } from "./types";

/** A slice a unit owns: a projection's rows/columns, or a q/k/v bias. */
export type UnitProj = Projection | "qBias" | "kBias" | "vBias";
export const UNIT_PROJS: readonly UnitProj[] = ["q", "k", "v", "o", "qBias", "kBias", "vBias"];

const one = (tensor: string, axis: 0 | 1, b: number, e: number): SliceRef => ({ tensor, axis, ranges: [[b, e]] });

/** Where unit `unit` of `layer` lives, for a granularity. */
export function unitLayout(spec: ModelSpec, layer: number, unit: number, granularity: Granularity): UnitLayout {
  const U = unitsPerLayer(spec, granularity);
  if (!Number.isSafeInteger(layer) || layer < 0 || layer >= spec.layers) {
    throw new ModelError("bad-unit", spec.architecture, `layer ${layer} is out of range; the model has layers 0..${spec.layers - 1}`);
  }
  if (!Number.isSafeInteger(unit) || unit < 0 || unit >= U) {
    throw new ModelError("bad-unit", spec.architecture, `unit ${unit} is out of range; granularity "${granularity}" gives units 0..${U - 1} per layer`);
  }
  if (granularity !== "group" && granularity !== "query-head") {
    throw new ModelError("bad-unit", spec.architecture, `granularity ${JSON.stringify(granularity)} is not "group" or "query-head"`);
  }
  const t = spec.layerTensors[layer]!;
  const { headDim: dh, hidden: d } = spec;
  const g = spec.heads / spec.kvHeads;
  // Query heads [h0, h1) and the kv head the unit owns or reads.
  const [h0, h1] = granularity === "group" ? [unit * g, (unit + 1) * g] : [unit, unit + 1];
  const kv = granularity === "group" ? unit : Math.floor(unit / g);
  const qb = h0 * dh,
    qe = h1 * dh,
    kb = kv * dh,
    ke = (kv + 1) * dh;
  const bias = (name: string | undefined, b: number, e: number): SliceRef | undefined => (name ? one(name, 0, b, e) : undefined);
  switch (spec.family) {
    case "llama":
    case "bert":
      return {
        q: one(t.q, 0, qb, qe),
        k: one(t.k, 0, kb, ke),
        v: one(t.v, 0, kb, ke),
        o: one(t.o, 1, qb, qe),
        ...opt("qBias", bias(t.qBias, qb, qe)),
        ...opt("kBias", bias(t.kBias, kb, ke)),
        ...opt("vBias", bias(t.vBias, kb, ke)),
        transposed: false,
      };
    case "gpt2":
      // c_attn [d, 3d]: q columns [0, d), k [d, 2d), v [2d, 3d); c_proj [d(in), d(out)]: head rows.
      return {
        q: one(t.q, 1, qb, qe),
        k: one(t.k, 1, d + kb, d + ke),
        v: one(t.v, 1, 2 * d + kb, 2 * d + ke),
        o: one(t.o, 0, qb, qe),
        ...opt("qBias", bias(t.qBias, qb, qe)),
        ...opt("kBias", bias(t.kBias, d + kb, d + ke)),
        ...opt("vBias", bias(t.vBias, 2 * d + kb, 2 * d + ke)),
        transposed: true,
      };
    case "gpt-neox": {
      // query_key_value rows [H, 3, dh]: head h's q at h·3dh, k at h·3dh+dh, v at h·3dh+2dh.
      const rows = (off: number, a: number, b: number): (readonly [number, number])[] => {
        const r: (readonly [number, number])[] = [];
        for (let h = a; h < b; h++) r.push([h * 3 * dh + off * dh, h * 3 * dh + (off + 1) * dh]);
        return r;
      };
      const ref = (name: string, off: number, a: number, b: number): SliceRef => ({ tensor: name, axis: 0, ranges: rows(off, a, b) });
      return {
        q: ref(t.q, 0, h0, h1),
        k: ref(t.k, 1, kv, kv + 1),
        v: ref(t.v, 2, kv, kv + 1),
        o: one(t.o, 1, qb, qe),
        ...opt("qBias", t.qBias ? ref(t.qBias, 0, h0, h1) : undefined),
        ...opt("kBias", t.kBias ? ref(t.kBias, 1, kv, kv + 1) : undefined),
        ...opt("vBias", t.vBias ? ref(t.vBias, 2, kv, kv + 1) : undefined),
        transposed: false,
      };
    }
  }
}

function opt<K extends string>(k: K, v: SliceRef | undefined): Partial<Record<K, SliceRef>> {
  return v ? ({ [k]: v } as Record<K, SliceRef>) : {};
}

/** [a, b] row-major → [b, a] row-major. */
export function transpose(x: Float32Array, a: number, b: number): Float32Array {
  const out = new Float32Array(a * b); // [b, a] f32 row-major
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = x[i * b + j]!;
  return out;
}

/** Whole-tensor reads are used for column blocks when the tensor is at most this big... */
const WHOLE_READ_MAX_BYTES = 1 << 20;
/** ...or at most this many times the bytes actually needed. */
const WHOLE_READ_MAX_FACTOR = 4;
/** Concurrent positioned reads when reading column blocks row by row. */
const ROW_READ_CONCURRENCY = 64;

/**
 * Reads a slice as float32 in stored orientation: axis 0 → [Σ rows, rest]; axis 1 of a 2-D
 * tensor [R, C] → [R, Σ cols].
 */
export async function readSliceStored(source: TensorSource, ref: SliceRef): Promise<{ data: Float32Array; rows: number; cols: number }> {
  const info = source.info(ref.tensor);
  const size = DTYPE_SIZE[info.dtype];
  if (ref.axis === 0) {
    const rest = info.shape.slice(1).reduce((a, b) => a * b, 1);
    const parts = await Promise.all(ref.ranges.map(([b, e]) => source.readRowsF32(ref.tensor, b, e)));
    const rows = ref.ranges.reduce((s, [b, e]) => s + (e - b), 0);
    const data = new Float32Array(rows * rest); // [Σ range rows, rest] f32 row-major
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    return { data, rows, cols: rest };
  }
  if (info.shape.length !== 2) {
    throw new ModelError("shape-mismatch", source.path, `tensor "${ref.tensor}" has shape [${info.shape.join(", ")}]; a column slice needs a 2-D tensor`);
  }
  const [R, C] = info.shape as [number, number];
  const W = ref.ranges.reduce((s, [b, e]) => s + (e - b), 0);
  const out = new Uint8Array(R * W * size); // [R, W] in the stored dtype, row-major
  const wholeBytes = R * C * size;
  if (wholeBytes <= WHOLE_READ_MAX_BYTES || wholeBytes <= WHOLE_READ_MAX_FACTOR * out.byteLength) {
    const all = await source.readBytes(ref.tensor);
    for (let r = 0; r < R; r++) {
      let o = r * W * size;
      for (const [b, e] of ref.ranges) {
        out.set(all.subarray((r * C + b) * size, (r * C + e) * size), o);
        o += (e - b) * size;
      }
    }
  } else if (source.readStridedBytes) {
    // One strided read per range (a chunk per row), interleaved into [R, W].
    let o = 0;
    for (const [b, e] of ref.ranges) {
      const w = (e - b) * size;
      const part = await source.readStridedBytes(ref.tensor, b * size, w, C * size, R);
      if (ref.ranges.length === 1) {
        out.set(part);
        break;
      }
      for (let r = 0; r < R; r++) out.set(part.subarray(r * w, (r + 1) * w), r * W * size + o);
      o += w;
    }
  } else {
    const jobs: (() => Promise<void>)[] = [];
    for (let r = 0; r < R; r++) {
      let o = r * W * size;
      for (const [b, e] of ref.ranges) {
        const at = o;
        jobs.push(async () => out.set(await source.readBytes(ref.tensor, (r * C + b) * size, (r * C + e) * size), at));
        o += (e - b) * size;
      }
    }
    for (let i = 0; i < jobs.length; i += ROW_READ_CONCURRENCY) await Promise.all(jobs.slice(i, i + ROW_READ_CONCURRENCY).map((j) => j()));
  }
  return { data: bytesToF32(out, info.dtype), rows: R, cols: W };
}

/** Reads a slice in canonical nn.Linear orientation (transposing Conv1D weights; biases as is). */
export async function readSlice(source: TensorSource, ref: SliceRef, transposed: boolean): Promise<Float32Array> {
  const { data, rows, cols } = await readSliceStored(source, ref);
  const is2d = source.info(ref.tensor).shape.length === 2;
  return transposed && is2d ? transpose(data, rows, cols) : data;
}

/**
 * Reads the named slices of one unit (only those bytes, see readSliceStored). Bias projections
 * the architecture lacks are left out of the result.
 */
export async function readUnit(
  ckpt: Pick<Checkpoint, "source" | "spec" | "compact">,
  layer: number,
  unit: number,
  granularity: Granularity,
  projs: readonly UnitProj[],
): Promise<Record<string, Float32Array>> {
  if (ckpt.compact) {
    throw new ModelError(
      "compact-checkpoint",
      ckpt.source.path,
      "is a compact headshare checkpoint; unit slices need the dense layout (run headshare expand first)",
    );
  }
  for (const p of projs) {
    if (!UNIT_PROJS.includes(p)) throw new ModelError("bad-unit", ckpt.source.path, `unknown projection ${JSON.stringify(p)}; use ${UNIT_PROJS.join(", ")}`);
  }
  const layout = unitLayout(ckpt.spec, layer, unit, granularity);
  const out: Record<string, Float32Array> = {};
  await Promise.all(
    projs.map(async (p) => {
      const ref = layout[p];
      if (ref) out[p] = await readSlice(ckpt.source, ref, layout.transposed);
    }),
  );
  return out;
}
