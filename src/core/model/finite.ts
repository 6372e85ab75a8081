/**
 * The first NaN or ±Infinity in a checkpoint's float tensors, naming the tensor, its file and the
 * element: what an evaluation reports when its result is not finite, instead of a schema error
 * about "result.nll". Reads tensor by tensor (one tensor in memory at a time).
 */
import type { Checkpoint } from "./checkpoint";

const FLOAT = new Set(["F64", "F32", "F16", "BF16"]);

export interface NonFinite {
  readonly tensor: string;
  readonly file: string;
  readonly index: number;
  readonly value: number;
}

export async function findNonFinite(ckpt: Checkpoint, signal?: AbortSignal): Promise<NonFinite | undefined> {
  for (const info of ckpt.source.tensors) {
    if (signal?.aborted) return undefined;
    if (!FLOAT.has(info.dtype)) continue;
    const x = await ckpt.source.readF32(info.name); // [numel] f32
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i]!)) return { tensor: info.name, file: info.file, index: i, value: x[i]! };
    }
  }
  return undefined;
}

/** "model.safetensors: tensor "…" holds NaN at element 12; …" — or a note that no weight is to blame. */
export async function describeNonFinite(ckpt: Checkpoint, what: string, signal?: AbortSignal): Promise<string> {
  const bad = await findNonFinite(ckpt, signal);
  if (bad)
    return `${bad.file}: tensor "${bad.tensor}" holds ${bad.value} at element ${bad.index}, so ${what} is not a number; the checkpoint is damaged (re-download or re-export it)`;
  return `${ckpt.source.path}: ${what} is not finite although every weight is; the model overflows on this text (try --window smaller, or a float32 copy of the model)`;
}
