/**
 * What every adapter shares: the context it builds a ModelSpec from, tensor look-ups that fail
 * with the file and tensor named, and the split of a checkpoint's names into layers and globals.
 */
import type { TensorSource } from "../../safetensors/types";
import { ConfigReader } from "../config";
import { ModelError } from "../errors";
import { definedOnly } from "../../defined";
import type { AttentionTensors, Family, LayerTensors, ModelSpec } from "../types";

export interface AdapterContext {
  readonly config: ConfigReader;
  readonly source: TensorSource;
  /**
   * The dense (Hugging Face) shape of a tensor: the stored shape, or for a compact headshare
   * checkpoint the original shape recorded in `headshare.originalShapes`. Undefined when absent.
   */
  shapeOf(name: string): readonly number[] | undefined;
}

export interface Adapter {
  readonly family: Family;
  /** Architecture class names (config.architectures[0]) this adapter reads. */
  readonly architectures: readonly string[];
  /** config.model_type values this adapter reads. */
  readonly modelTypes: readonly string[];
  buildSpec(ctx: AdapterContext): ModelSpec;
}

/** The source's path, for messages about tensors. */
function where(ctx: AdapterContext): string {
  return ctx.source.path;
}

/** Requires a tensor to exist with exactly `shape`; `what` says what it is for. */
export function requireTensor(ctx: AdapterContext, name: string, shape: readonly number[], what: string): string {
  const s = ctx.shapeOf(name);
  if (!s) {
    throw new ModelError(
      "missing-tensor",
      where(ctx),
      `tensor "${name}" (${what}) is missing, but config.json (${ctx.config.file}) describes a model that needs it; the weights and config do not belong together, or the checkpoint is incomplete`,
    );
  }
  if (s.length !== shape.length || s.some((v, i) => v !== shape[i])) {
    throw new ModelError(
      "shape-mismatch",
      where(ctx),
      `tensor "${name}" (${what}) has shape [${s.join(", ")}], but config.json (${ctx.config.file}) implies [${shape.join(", ")}]; the weights and config do not belong together`,
    );
  }
  return name;
}

/** An optional tensor: its name when present (shape checked), else undefined. */
export function optionalTensor(ctx: AdapterContext, name: string, shape: readonly number[], what: string): string | undefined {
  return ctx.shapeOf(name) ? requireTensor(ctx, name, shape, what) : undefined;
}

/** The prefix before `suffix` of the first tensor whose name ends with it (e.g. "model." for embed_tokens). */
export function detectPrefix(ctx: AdapterContext, suffix: string, candidates: readonly string[]): string {
  for (const p of candidates) if (ctx.source.has(p + suffix)) return p;
  throw new ModelError(
    "missing-tensor",
    where(ctx),
    `found no "${candidates.map((p) => p + suffix).join('" or "')}"; this is not a ${ctx.config.architecture() ?? ctx.config.modelType() ?? "recognised"} checkpoint (the tensor names do not match config.json ${ctx.config.file})`,
  );
}

/**
 * The layer count from config.json, refused when the checkpoint cannot hold that many layers
 * (each layer has tensors): a corrupt or hostile count must not size arrays (2^53 → RangeError).
 */
/** The layer index in a transformer block's tensor name: llama/neox "layers.N.", gpt2 "h.N.", bert "layer.N.". */
const LAYER_INDEX = /(?:^|\.)(?:layers|h|layer)\.(\d+)\./;

export function layerCount(ctx: AdapterContext, keys: readonly string[]): number {
  const L = ctx.config.int(keys);
  if (L > ctx.source.tensors.length) {
    throw new ModelError(
      "inconsistent-config",
      ctx.config.file,
      `config.json says ${L} layers ("${keys[0]}"), but the checkpoint holds only ${ctx.source.tensors.length} tensors; the config does not belong to these weights`,
    );
  }
  // Fewer layers than the weights hold: the extra layers would be silently ignored. Refused by name.
  let extra: { index: number; name: string } | undefined;
  for (const t of ctx.source.tensors) {
    const m = LAYER_INDEX.exec(t.name);
    if (m && Number(m[1]) >= L && (!extra || Number(m[1]) > extra.index)) extra = { index: Number(m[1]), name: t.name };
  }
  if (extra) {
    throw new ModelError(
      "inconsistent-config",
      ctx.config.file,
      `config.json says ${L} layers ("${keys[0]}"), but the weights hold layers up to ${extra.index} (e.g. "${extra.name}"); they would be ignored. Set "${keys[0]}" to ${extra.index + 1}, or use the config that belongs to these weights`,
    );
  }
  return L;
}

/** Config keys of a multi-head model's width, heads and layers, first name first (it names them in errors). */
export interface MhaKeys {
  readonly hidden: readonly string[];
  readonly heads: readonly string[];
  readonly layers: readonly string[];
}

/**
 * Width d, heads H, layers L and head size dh = d / H of a model whose heads split the width evenly
 * (GPT-2, BERT, GPT-NeoX), read and checked in that order.
 */
export function mhaDims(ctx: AdapterContext, keys: MhaKeys): { d: number; H: number; L: number; dh: number } {
  const d = ctx.config.int(keys.hidden);
  const H = ctx.config.int(keys.heads);
  const L = layerCount(ctx, keys.layers);
  requireDivides(ctx, d, keys.hidden[0]!, H, keys.heads[0]!);
  return { d, H, L, dh: d / H };
}

export function requireDivides(ctx: AdapterContext, a: number, aName: string, b: number, bName: string): void {
  if (a % b !== 0) {
    throw new ModelError("inconsistent-config", ctx.config.file, `${bName} = ${b} does not divide ${aName} = ${a}; fix config.json`);
  }
}

/**
 * Everything under `layerPrefix(l)` that is not one of the attention tensors becomes the layer's
 * `other` (role = the name after the prefix); tensors outside every layer become globals unless
 * already given a role.
 */
export function collectOthers(
  ctx: AdapterContext,
  layerPrefix: (l: number) => string,
  layers: readonly AttentionTensors[],
  globals: Record<string, string>,
): { layerTensors: LayerTensors[]; globals: Record<string, string> } {
  const attention = new Set<string>();
  for (const lt of layers) {
    for (const n of [lt.q, lt.k, lt.v, lt.o, lt.qBias, lt.kBias, lt.vBias, lt.oBias]) if (n) attention.add(n);
  }
  const prefixes = layers.map((_, l) => layerPrefix(l));
  const others: Record<string, string>[] = layers.map(() => ({}));
  const named = new Set(Object.values(globals));
  const outGlobals = { ...globals };
  for (const t of ctx.source.tensors) {
    if (attention.has(t.name) || named.has(t.name)) continue;
    const l = prefixes.findIndex((p) => t.name.startsWith(p));
    if (l >= 0) others[l]![t.name.slice(prefixes[l]!.length)] = t.name;
    else outGlobals[t.name] = t.name;
  }
  return { layerTensors: layers.map((lt, l) => ({ ...lt, other: others[l]! })), globals: outGlobals };
}

/** A fused q/k/v layout (GPT-2 c_attn, GPT-NeoX query_key_value): q, k and v name one tensor, and one bias when there is one. */
export function fusedAttention(qkv: string, qkvBias: string | undefined, o: string, oBias: string | undefined): AttentionTensors {
  return { q: qkv, k: qkv, v: qkv, o, ...definedOnly({ qBias: qkvBias, kBias: qkvBias, vBias: qkvBias, oBias }) };
}

/** Checks that q/k/v biases are all present or all absent in every layer. */
export function checkBiasConsistency(ctx: AdapterContext, layers: readonly AttentionTensors[]): boolean {
  const has = layers.map((l) => [l.qBias, l.kBias, l.vBias].map((b) => b !== undefined));
  const any = has.some((h) => h.some(Boolean));
  if (!any) return false;
  for (let l = 0; l < has.length; l++) {
    const missing = ["q", "k", "v"].filter((_, i) => !has[l]![i]);
    if (missing.length) {
      throw new ModelError(
        "missing-tensor",
        where(ctx),
        `layer ${l} lacks the ${missing.join("/")} projection bias while other layers have q/k/v biases; the checkpoint is incomplete`,
      );
    }
  }
  return true;
}

/**
 * Whether logits use the token embedding. True when no LM head tensor is stored; an LM-head
 * architecture whose config says `tie_word_embeddings: false` but stores no head is incomplete.
 */
export function resolveTied(ctx: AdapterContext, lmHeadName: string, lmHead: string | undefined, tieDefault: boolean): boolean {
  if (lmHead) return false;
  const arch = ctx.config.architecture() ?? "";
  const hasHead = /(ForCausalLM|LMHeadModel|ForMaskedLM|ForPreTraining)$/.test(arch);
  if (hasHead && !ctx.config.bool(["tie_word_embeddings"], tieDefault)) {
    throw new ModelError(
      "missing-tensor",
      where(ctx),
      `tensor "${lmHeadName}" (LM head) is missing while config.json (${ctx.config.file}) says tie_word_embeddings is false; the checkpoint is incomplete`,
    );
  }
  return true;
}

/**
 * Tensors that checkpoints store but that are buffers, not parameters (HF's num_parameters skips
 * them): GPT-2's causal-mask `attn.bias` / `attn.masked_bias`, GPT-NeoX's `attention.bias` /
 * `attention.masked_bias`, rotary `inv_freq`, BERT's `position_ids`.
 */
const BUFFER_PATTERNS: readonly RegExp[] = [
  /(^|\.)attn\.(masked_)?bias$/,
  /(^|\.)attention\.(masked_)?bias$/,
  /(^|\.)rotary_emb\.inv_freq$/,
  /(^|\.)embeddings\.position_ids$/,
];
export function isBufferTensor(name: string): boolean {
  return BUFFER_PATTERNS.some((re) => re.test(name));
}
