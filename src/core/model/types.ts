/**
 * The canonical view of a transformer checkpoint that the adapters (`adapters/*.ts`) produce
 * from `config.json` + tensor names. Everything above this (matching, sharing, graphs) uses only
 * this view, never architecture-specific tensor names.
 */
import type { DType } from "../safetensors/types";

/** Families we support. */
export type Family = "llama" | "gpt2" | "bert" | "gpt-neox";

/** The four attention projections. */
export type Proj = "q" | "k" | "v" | "o";

/** What a sharing unit is: a KV group (default; = one head for MHA) or one query head. */
/** What one sharing unit is: a KV group (one head for multi-head attention) or one query head. */
export const GRANULARITIES = ["group", "query-head"] as const;
/** The attention projections (query, key, value, output): the one word for them across the code. */
export const PROJECTIONS = ["q", "k", "v", "o"] as const;
export type Projection = (typeof PROJECTIONS)[number];
export type Granularity = (typeof GRANULARITIES)[number];

/**
 * Where a unit's slice lives in a stored tensor: along `axis` (0 = rows, 1 = columns of a
 * 2-D tensor; 0 for a 1-D bias) the index ranges [begin, end), in order. Concatenating the ranges
 * in order (and, for axis 1, reading row by row) gives the unit's slice in canonical order.
 */
export interface SliceRef {
  readonly tensor: string;
  readonly axis: 0 | 1;
  readonly ranges: readonly (readonly [number, number])[];
}

/**
 * A unit's slices per projection. Weight slices are read into canonical "nn.Linear" orientation
 * ([rows_of_unit, in] for q/k/v; [out=hidden, cols_of_unit] for o), so one unit's q slice of a
 * GPT-2 Conv1D layout equals the transposed block. `qBias`/`kBias`/`vBias` exist where the
 * architecture has q/k/v biases.
 */
export interface UnitLayout {
  readonly q: SliceRef;
  readonly k: SliceRef;
  readonly v: SliceRef;
  readonly o: SliceRef;
  readonly qBias?: SliceRef;
  readonly kBias?: SliceRef;
  readonly vBias?: SliceRef;
  /** True when the stored tensor is transposed relative to nn.Linear (GPT-2 Conv1D). */
  readonly transposed: boolean;
}

/** Attention tensor names of one layer, in the checkpoint's own naming. */
export interface AttentionTensors {
  /** q/k/v projection weights; for fused layouts all three name the same tensor. */
  readonly q: string;
  readonly k: string;
  readonly v: string;
  readonly o: string;
  readonly qBias?: string;
  readonly kBias?: string;
  readonly vBias?: string;
  readonly oBias?: string;
}

/** Tensor names of one layer, in the checkpoint's own naming. */
export interface LayerTensors extends AttentionTensors {
  /** Everything else the layer owns (norms, MLP), role → tensor name. */
  readonly other: Readonly<Record<string, string>>;
}

export interface ModelSpec {
  readonly family: Family;
  /** `config.architectures[0]` (e.g. "LlamaForCausalLM"), or the family name when absent. */
  readonly architecture: string;
  readonly layers: number; // L
  readonly heads: number; // H   (query heads per layer)
  readonly kvHeads: number; // Hkv
  readonly headDim: number; // dh
  readonly hidden: number; // d
  readonly intermediate: number; // MLP width
  readonly vocab: number;
  readonly maxPositions: number;
  readonly tiedEmbeddings: boolean;
  readonly normEps: number;
  readonly ropeTheta?: number; // llama family
  readonly activation: string; // "silu" | "gelu_new" | "gelu" | ...
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
  /** Tensor names per layer. */
  readonly layerTensors: readonly LayerTensors[];
  /** Non-layer tensors, role → name (embed, lm_head, final norm, positions...). */
  readonly globals: Readonly<Record<string, string>>;
  /** The raw config.json object. */
  readonly config: Readonly<Record<string, unknown>>;
}

/** Units per layer for a granularity: Hkv for "group", H for "query-head". */
export function unitsPerLayer(spec: ModelSpec, g: Granularity): number {
  return g === "group" ? spec.kvHeads : spec.heads;
}

/** Parameters one unit owns (what sharing it saves). */
export function parametersPerUnit(spec: ModelSpec, g: Granularity, hasQkvBias: boolean): number {
  const qHeads = g === "group" ? spec.heads / spec.kvHeads : 1;
  const q = qHeads * spec.headDim * spec.hidden;
  const kv = g === "group" ? 2 * spec.headDim * spec.hidden : 0;
  const o = qHeads * spec.headDim * spec.hidden;
  const bias = hasQkvBias ? qHeads * spec.headDim + (g === "group" ? 2 * spec.headDim : 0) : 0;
  return q + kv + o + bias;
}

export type { DType };
