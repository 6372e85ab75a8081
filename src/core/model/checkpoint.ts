/**
 * Opening a checkpoint: a folder (config.json + model.safetensors or model.safetensors.index.json),
 * a `.safetensors` file or an index json (config.json beside it). The adapter for config.json maps
 * the tensor names to a ModelSpec. Compact headshare checkpoints (metadata `headshare.plan`) are
 * recognised: the spec is built from `headshare.originalShapes`, and `compact` carries the plan.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { assertInsideFolder } from "../safetensors/contained";
import { INDEX_SUFFIX, openTensorSource } from "../safetensors/sharded";
import type { TensorSource } from "../safetensors/types";
import { ADAPTERS, selectAdapter } from "./adapters";
import { ConfigReader, readConfig } from "./config";
import { ModelError } from "./errors";
import type { ModelSpec } from "./types";

/** Metadata keys of a compact headshare checkpoint (written by DirectShare). */
export const PLAN_METADATA_KEY = "headshare.plan";
export const ORIGINAL_SHAPES_METADATA_KEY = "headshare.originalShapes";

export interface CompactInfo {
  /** The parsed plan JSON (a SharingPlan; validated by its owner, not here). */
  readonly plan: unknown;
  /** Dense Hugging Face shape of every tensor whose stored shape differs. */
  readonly originalShapes: Readonly<Record<string, readonly number[]>>;
}

export interface Checkpoint {
  readonly dir: string;
  readonly source: TensorSource;
  readonly spec: ModelSpec;
  readonly configPath: string;
  readonly weightsPath: string;
  /** Present for a compact headshare checkpoint. */
  readonly compact?: CompactInfo;
  close(): Promise<void>;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Resolves what the user passed to (config.json, weights path). */
export async function resolveCheckpointPaths(input: string): Promise<{ dir: string; configPath: string; weightsPath: string }> {
  const abs = path.resolve(input);
  let st;
  try {
    st = await fs.stat(abs);
  } catch {
    throw new ModelError("io", abs, "does not exist; pass a checkpoint folder (config.json + model.safetensors) or a .safetensors file");
  }
  if (st.isDirectory()) {
    const single = path.join(abs, "model.safetensors");
    const index = path.join(abs, `model${INDEX_SUFFIX}`);
    let weightsPath: string | undefined;
    if (await exists(single)) weightsPath = single;
    else if (await exists(index)) weightsPath = index;
    else {
      const entries = (await fs.readdir(abs)).filter((n) => n.endsWith(".safetensors") || n.endsWith(INDEX_SUFFIX));
      const indexes = entries.filter((n) => n.endsWith(INDEX_SUFFIX));
      if (indexes.length === 1) weightsPath = path.join(abs, indexes[0]!);
      else if (indexes.length === 0 && entries.length === 1) weightsPath = path.join(abs, entries[0]!);
      else {
        throw new ModelError(
          "no-weights",
          abs,
          entries.length === 0
            ? "holds no model.safetensors or model.safetensors.index.json; pass a folder with Hugging Face safetensors weights"
            : `holds several weight files (${entries.join(", ")}) and no model.safetensors; pass the one to use`,
        );
      }
    }
    await assertInsideFolder(abs, weightsPath, "weights file");
    await assertInsideFolder(abs, path.join(abs, "config.json"), "config.json");
    return { dir: abs, configPath: path.join(abs, "config.json"), weightsPath };
  }
  const base = path.basename(abs);
  const dir = path.dirname(abs);
  if (base === "config.json") return resolveCheckpointPaths(dir);
  if (base.endsWith(".safetensors") || base.endsWith(".index.json")) {
    await assertInsideFolder(dir, path.join(dir, "config.json"), "config.json");
    return { dir, configPath: path.join(dir, "config.json"), weightsPath: abs };
  }
  throw new ModelError("no-weights", abs, "is neither a folder, a .safetensors file, nor a safetensors index json");
}

function parseCompact(source: TensorSource): CompactInfo | undefined {
  const planText = source.metadata[PLAN_METADATA_KEY];
  if (planText === undefined) return undefined;
  let plan: unknown;
  let shapes: unknown;
  try {
    plan = JSON.parse(planText);
  } catch {
    throw new ModelError(
      "bad-config",
      source.path,
      `metadata "${PLAN_METADATA_KEY}" is not valid JSON; the compact checkpoint is corrupt, re-create it with headshare share`,
    );
  }
  const shapesText = source.metadata[ORIGINAL_SHAPES_METADATA_KEY];
  try {
    shapes = shapesText === undefined ? {} : JSON.parse(shapesText);
  } catch {
    throw new ModelError(
      "bad-config",
      source.path,
      `metadata "${ORIGINAL_SHAPES_METADATA_KEY}" is not valid JSON; the compact checkpoint is corrupt, re-create it with headshare share`,
    );
  }
  if (
    typeof shapes !== "object" ||
    shapes === null ||
    Array.isArray(shapes) ||
    !Object.values(shapes).every((s) => Array.isArray(s) && s.every((x) => Number.isSafeInteger(x) && x >= 0))
  ) {
    throw new ModelError(
      "bad-config",
      source.path,
      `metadata "${ORIGINAL_SHAPES_METADATA_KEY}" is not an object of tensor name → shape; the compact checkpoint is corrupt`,
    );
  }
  return { plan, originalShapes: shapes as Record<string, number[]> };
}

/** Builds the ModelSpec for an open source and its config (no I/O beyond what is given). */
export function buildSpec(config: ConfigReader, source: TensorSource, compact?: CompactInfo): ModelSpec {
  const adapter = selectAdapter(config);
  const shapes = compact?.originalShapes ?? {};
  return adapter.buildSpec({
    config,
    source,
    shapeOf: (name) => (source.has(name) ? (shapes[name] ?? source.info(name).shape) : undefined),
  });
}

/** Opens a checkpoint folder or file; the caller must close() it. */
export async function openCheckpoint(pathToFileOrFolder: string): Promise<Checkpoint> {
  const { dir, configPath, weightsPath } = await resolveCheckpointPaths(pathToFileOrFolder);
  const config = new ConfigReader(configPath, await readConfig(configPath));
  selectAdapter(config); // fail on unsupported architectures before opening weights
  const source = await openTensorSource(weightsPath);
  try {
    const compact = parseCompact(source);
    const spec = buildSpec(config, source, compact);
    return { dir, source, spec, configPath, weightsPath, ...(compact ? { compact } : {}), close: () => source.close() };
  } catch (e) {
    await source.close();
    throw e;
  }
}

export const SUPPORTED_ARCHITECTURES: readonly string[] = ADAPTERS.flatMap((a) => a.architectures);
