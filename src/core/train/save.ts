/**
 * Writes trained weights as a normal Hugging Face folder beside nothing it reads: every tensor of
 * the source checkpoint in its order and dtype (trained ones converted from float32, the others
 * copied byte for byte), plus config.json and the tokenizer files. The folder is staged and
 * swapped in when complete (src/core/output/folder.ts); the input folder is never written.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Checkpoint } from "../model/checkpoint";
import { copyFileAtomic, stageOutputFolder } from "../output";
import { DTYPE_SIZE, f32ToBytes } from "../safetensors/dtype";
import type { TensorToWrite } from "../safetensors/types";
import { writeSafetensors } from "../safetensors/writer";
import { asTrainError, TrainError } from "./errors";

const SIDE_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "tokenizer.model",
  "vocab.json",
  "merges.txt",
];

function trainedTensors(ckpt: Checkpoint, trained: ReadonlyMap<string, Float32Array>): TensorToWrite[] {
  return ckpt.source.tensors.map((info) => {
    const w = trained.get(info.name);
    if (w) {
      if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16" && info.dtype !== "F64") {
        throw new TrainError("bad-checkpoint", `tensor "${info.name}" is ${info.dtype}; only float tensors can be trained`, ckpt.weightsPath);
      }
      return {
        name: info.name,
        dtype: info.dtype,
        shape: [...info.shape],
        data: () => Promise.resolve(f32ToBytes(w, info.dtype as "F32" | "F64" | "F16" | "BF16")),
      };
    }
    return { name: info.name, dtype: info.dtype, shape: [...info.shape], data: () => ckpt.source.readBytes(info.name) };
  });
}

/** The side files to copy: regular files only (a FIFO or device under one of these names is refused by name). */
async function sideFiles(ckpt: Checkpoint): Promise<string[]> {
  const found: string[] = [];
  for (const f of SIDE_FILES) {
    const st = await fs.stat(path.join(ckpt.dir, f)).catch(() => undefined);
    if (!st) continue;
    if (!st.isFile())
      throw new TrainError(
        "bad-checkpoint",
        `${f} is not a regular file (a folder, FIFO or device); replace it with the model's file or remove it`,
        path.join(ckpt.dir, f),
      );
    found.push(f);
  }
  return found;
}

/** Writes the trained checkpoint's files into `dir`, a folder this run owns (a staging folder). */
export async function writeTrainedFiles(
  ckpt: Checkpoint,
  trained: ReadonlyMap<string, Float32Array>,
  dir: string,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const tensors = trainedTensors(ckpt, trained);
  const side = await sideFiles(ckpt);
  await writeSafetensors(path.join(dir, "model.safetensors"), tensors, { ...ckpt.source.metadata, ...(metadata ?? {}) }, { protect: [ckpt.weightsPath] });
  for (const f of side) await copyFileAtomic(path.join(ckpt.dir, f), path.join(dir, f));
}

/** Writes the trained checkpoint to `outDir` (staged; an existing non-empty folder needs force and is replaced whole). */
export async function writeTrainedCheckpoint(
  ckpt: Checkpoint,
  trained: ReadonlyMap<string, Float32Array>,
  outDir: string,
  opts: { force?: boolean; wait?: boolean | number; metadata?: Readonly<Record<string, string>>; signal?: AbortSignal } = {},
): Promise<string> {
  const tensors = trainedTensors(ckpt, trained); // refuses untrainable dtypes before anything is written
  await sideFiles(ckpt);
  const need = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype], 0);
  const staged = await asTrainError(() =>
    stageOutputFolder({
      out: outDir,
      inputs: [ckpt.dir],
      what: "the trained checkpoint",
      needBytes: need,
      ...(opts.force !== undefined ? { force: opts.force } : {}),
      ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    }),
  );
  try {
    await writeTrainedFiles(ckpt, trained, staged.stage, opts.metadata);
    await staged.commit();
  } catch (e) {
    await staged.abort();
    throw e;
  }
  return staged.out;
}
