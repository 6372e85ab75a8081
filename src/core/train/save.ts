/**
 * Writes trained weights as a normal Hugging Face folder beside nothing it reads: every tensor of
 * the source checkpoint in its order and dtype (trained ones converted from float32, the others
 * copied byte for byte), plus config.json and the tokenizer files. model.safetensors is written to
 * a temporary name and renamed; the input folder is never written.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Checkpoint } from "../model/checkpoint";
import { f32ToBytes } from "../safetensors/dtype";
import type { TensorToWrite } from "../safetensors/types";
import { writeSafetensors } from "../safetensors/writer";
import { TrainError } from "./errors";

const SIDE_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt"];

export async function writeTrainedCheckpoint(
  ckpt: Checkpoint,
  trained: ReadonlyMap<string, Float32Array>,
  outDir: string,
  opts: { force?: boolean; metadata?: Readonly<Record<string, string>> } = {},
): Promise<string> {
  const out = path.resolve(outDir);
  if (out === path.resolve(ckpt.dir)) throw new TrainError("bad-options", `the output folder is the input model's folder; choose another one`, out);
  await fs.mkdir(out, { recursive: true });
  const target = path.join(out, "model.safetensors");
  const exists = await fs.stat(target).then(() => true, () => false);
  if (exists && !opts.force) throw new TrainError("bad-options", "model.safetensors already exists there; pass --force to replace it or choose another --out folder", out);
  const tensors: TensorToWrite[] = ckpt.source.tensors.map((info) => {
    const w = trained.get(info.name);
    if (w) {
      if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16" && info.dtype !== "F64") {
        throw new TrainError("bad-checkpoint", `tensor "${info.name}" is ${info.dtype}; only float tensors can be trained`, ckpt.weightsPath);
      }
      return { name: info.name, dtype: info.dtype, shape: [...info.shape], data: () => Promise.resolve(f32ToBytes(w, info.dtype as "F32" | "F64" | "F16" | "BF16")) };
    }
    return { name: info.name, dtype: info.dtype, shape: [...info.shape], data: () => ckpt.source.readBytes(info.name) };
  });
  const metadata = { ...ckpt.source.metadata, ...(opts.metadata ?? {}) };
  await writeSafetensors(target, tensors, metadata, { protect: [ckpt.weightsPath] });
  for (const f of SIDE_FILES) {
    const src = path.join(ckpt.dir, f);
    if (await fs.stat(src).then((s) => s.isFile(), () => false)) {
      const tmp = path.join(out, `.headshare-tmp-${f}-${process.pid}`);
      await fs.copyFile(src, tmp);
      await fs.rename(tmp, path.join(out, f));
    }
  }
  return out;
}
