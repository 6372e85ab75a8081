/**
 * The checkpoint summary behind `headshare inspect` (CLI, worker job `headshare/inspect`, the
 * inspect view): architecture and sizes from the adapter, parameter and byte counts, parameters
 * per dtype, the attention's parameters, the tensor table, metadata, and for a compact headshare
 * checkpoint its sharing plan. Its shape is `checkpointSummarySchema` (./summarySchema.ts). Reads only headers and config.json.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { DTYPE_SIZE, numel } from "../safetensors/dtype";
import { openTensorSource } from "../safetensors/sharded";
import type { TensorSource } from "../safetensors/types";
import { type Checkpoint, ORIGINAL_SHAPES_METADATA_KEY, PLAN_METADATA_KEY, openCheckpoint, resolveCheckpointPaths } from "./checkpoint";
import { isBufferTensor } from "./adapters/common";
import { ModelError } from "./errors";
import type { ModelSpec } from "./types";

import type { CheckpointSummary, PlanSummary, TensorRow } from "./summarySchema";
export type { CheckpointSummary, PlanSummary, TensorRow };

const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
const nat = (x: unknown): number | null => (typeof x === "number" && Number.isSafeInteger(x) && x >= 0 ? x : null);

/** Summarises the plan JSON of a headshare checkpoint; tolerant of missing fields, never throws. */
export function summarizePlan(plan: unknown): PlanSummary | null {
  if (typeof plan !== "object" || plan === null) return null;
  const p = plan as Record<string, unknown>;
  const targets = Array.isArray(p.targets) ? p.targets : [];
  return {
    ratio: num(p.ratio) ?? 0,
    selected: nat(p.selected) ?? targets.length,
    savedUnits: nat(p.savedUnits) ?? nat(p.selected) ?? targets.length,
    strategy: typeof p.strategy === "string" ? p.strategy : "?",
    granularity: typeof p.granularity === "string" ? p.granularity : "?",
    unitsPerLayer: nat(p.unitsPerLayer),
    parametersBefore: nat(p.parametersBefore),
    parametersAfter: nat(p.parametersAfter),
    targets: targets.flatMap((t: unknown) => {
      const o = (typeof t === "object" && t !== null ? t : {}) as Record<string, unknown>;
      const [layer, unit, rootLayer, rootUnit, score] = [nat(o.layer), nat(o.unit), nat(o.rootLayer), nat(o.rootUnit), num(o.score)];
      return layer === null || unit === null || rootLayer === null || rootUnit === null || score === null ? [] : [{ layer, unit, rootLayer, rootUnit, score }];
    }),
  };
}

function attentionParameters(spec: ModelSpec, source: TensorSource): number {
  const names = new Set<string>();
  for (const t of spec.layerTensors) for (const n of [t.q, t.k, t.v, t.o, t.qBias, t.kBias, t.vBias, t.oBias]) if (n) names.add(n);
  let n = 0;
  for (const name of names) n += numel(source.info(name).shape);
  return n;
}

async function fileBytesOf(source: TensorSource): Promise<number> {
  let total = 0;
  for (const f of new Set(source.tensors.map((t) => t.file))) total += (await fs.stat(f)).size;
  return total;
}

function parseJsonOr<T>(text: string | undefined, fallback: T): unknown {
  if (text === undefined) return fallback;
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

async function summarize(
  inputPath: string,
  weights: string,
  source: TensorSource,
  ckpt: Checkpoint | undefined,
  modelError: string | null,
): Promise<CheckpointSummary> {
  const dtypes: Record<string, number> = {};
  let parameters = 0,
    bytes = 0,
    bufferTensors = 0,
    bufferElements = 0;
  const tensors: TensorRow[] = source.tensors.map((t) => {
    const n = numel(t.shape);
    bytes += n * DTYPE_SIZE[t.dtype];
    if (isBufferTensor(t.name)) {
      bufferTensors++;
      bufferElements += n;
    } else {
      parameters += n;
      dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + n;
    }
    return { name: t.name, dtype: t.dtype, shape: [...t.shape], bytes: n * DTYPE_SIZE[t.dtype] };
  });
  const plan = summarizePlan(parseJsonOr(source.metadata[PLAN_METADATA_KEY], undefined));
  const originalShapes = parseJsonOr(source.metadata[ORIGINAL_SHAPES_METADATA_KEY], {}) as Record<string, number[]>;
  let denseParameters = 0;
  for (const t of source.tensors) if (!isBufferTensor(t.name)) denseParameters += numel(originalShapes[t.name] ?? t.shape);
  const spec = ckpt?.spec;
  const att = spec ? attentionParameters(spec, source) : null;
  return {
    path: inputPath,
    weights,
    config: ckpt?.configPath ?? null,
    architecture: spec?.architecture ?? null,
    family: spec?.family ?? null,
    layers: spec?.layers ?? null,
    heads: spec?.heads ?? null,
    kvHeads: spec?.kvHeads ?? null,
    headDim: spec?.headDim ?? null,
    hidden: spec?.hidden ?? null,
    intermediate: spec?.intermediate ?? null,
    vocab: spec?.vocab ?? null,
    tiedEmbeddings: spec?.tiedEmbeddings ?? null,
    parameters,
    buffers: { tensors: bufferTensors, elements: bufferElements },
    bytes,
    fileBytes: await fileBytesOf(source),
    dtypes,
    attentionParameters: att,
    attentionShare: att === null || parameters === 0 ? null : att / parameters,
    tensors,
    metadata: { ...source.metadata },
    plan,
    compact: source.metadata[ORIGINAL_SHAPES_METADATA_KEY] !== undefined,
    denseParameters,
    modelError,
  };
}

/**
 * Summarises a checkpoint folder, a `.safetensors` file or an index json. A bare file without a
 * config.json beside it still gets its tensor table (model fields null, `modelError` says why);
 * every other problem (bad header, malformed config, unsupported architecture, config and
 * tensors disagreeing) is thrown as a typed error.
 */
export async function inspectCheckpoint(input: string): Promise<CheckpointSummary> {
  const inputPath = path.resolve(input);
  const { dir, weightsPath } = await resolveCheckpointPaths(inputPath);
  let ckpt: Checkpoint | undefined;
  try {
    ckpt = await openCheckpoint(inputPath);
  } catch (e) {
    const bareFile = weightsPath !== dir && (await fs.stat(inputPath)).isFile();
    if (!(e instanceof ModelError && e.code === "missing-config" && bareFile)) throw e;
    const source = await openTensorSource(weightsPath);
    try {
      return await summarize(inputPath, weightsPath, source, undefined, e.message);
    } finally {
      await source.close();
    }
  }
  try {
    return await summarize(inputPath, ckpt.weightsPath, ckpt.source, ckpt, null);
  } finally {
    await ckpt.close();
  }
}
