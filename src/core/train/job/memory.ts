/**
 * Memory per rank of a PostShare job as train.py lays it out (README table): frozen weights in their
 * stored dtype, trainable weights, gradients and AdamW's two moments in float32; ZeRO-1 shards the
 * moments over the ranks. Activations are an estimate, not a measurement: bf16 tensors saved for
 * backward with fused attention (PyTorch ≥ 2 on CUDA: scaled_dot_product_attention, no S × S
 * probabilities kept) plus float32 logits and log-softmax; with --grad-checkpoint only each layer's
 * input is kept (and one layer's tensors while it is recomputed).
 */
import { DTYPE_SIZE } from "../../safetensors/dtype";
import type { DType } from "../../safetensors/types";
import type { JobFile } from "./format";
import type { MemoryRow } from "../results";

export type { MemoryRow };

/** Bytes of state per rank for `ranks` ranks: [plain DDP, ZeRO-1] (activations excluded). */
export function stateBytes(job: JobFile, ranks: number): { ddp: number; zero: number } {
  const trainable = new Set(job.trainable);
  let frozen = 0,
    t = 0;
  for (const [name, [dtype, shape]] of Object.entries(job.tensors)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (trainable.has(name)) t += n;
    else frozen += n * (DTYPE_SIZE[dtype as DType] ?? 4);
  }
  const base = frozen + 4 * t + 4 * t; // frozen + f32 master weights + f32 gradients
  return { ddp: base + 8 * t, zero: base + (8 * t) / ranks };
}

/** Activation bytes of one rank's micro-batch of `b` sequences (estimate): [plain, with --grad-checkpoint]. */
export function activationBytes(job: JobFile, b: number): [number, number] {
  const f = job.forward,
    S = job.schedule.seqLen;
  const mlp = f.family === "llama" ? 3 * (job.tensors[f.layerNames[0]?.up ?? ""]?.[1]?.[0] ?? 4 * f.hidden) : 2 * 4 * f.hidden;
  const perLayer = 2 * (8 * f.hidden + mlp); // bf16 per token: norms, q/k/v/o, attention output, MLP widths
  const head = 3 * 4 * f.vocab; // float32 logits, log-softmax and its gradient per token
  return [b * S * (f.layers * perLayer + head), b * S * (f.layers * 2 * f.hidden + perLayer + head)];
}

export function memoryTable(job: JobFile, ranksList: readonly number[] = [1, 2, 4, 8, 16, 32, 64]): MemoryRow[] {
  const B = job.schedule.batchSize;
  return ranksList.map((r) => {
    const { ddp, zero } = stateBytes(job, r);
    const per = B % r === 0 ? B / r : 0;
    const [activations, activationsCheckpointed] = per ? activationBytes(job, per) : [0, 0];
    return { ranks: r, perRank: per ? String(per) : `— (${B} not divisible)`, ddp, zero, activations, activationsCheckpointed };
  });
}
