/**
 * The write jobs the crash tests kill (child side). Each reads a checkpoint folder `input` and
 * writes its output folder `out` through the project's own writers.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { openSafetensors, writeSafetensors, writeShardedSafetensors } from "../../src/core/safetensors";
import type { TensorSource, TensorToWrite } from "../../src/core/safetensors";

function lazyCopies(src: TensorSource): TensorToWrite[] {
  return src.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.readBytes(t.name) }));
}

export const JOBS: Record<string, (input: string, out: string) => Promise<void>> = {
  /** A dense single-file output: every tensor re-written (safetensors writer). */
  async dense(input, out) {
    const src = await openSafetensors(path.join(input, "model.safetensors"));
    try {
      await fs.mkdir(out, { recursive: true });
      await writeSafetensors(path.join(out, "model.safetensors"), lazyCopies(src), src.metadata);
    } finally { await src.close(); }
  },
  /** The same sharded output with other metadata: replaces a "sharded" output in place (--force). */
  async "sharded-over"(input, out) {
    const src = await openSafetensors(path.join(input, "model.safetensors"));
    try {
      await writeShardedSafetensors(out, lazyCopies(src), 3, { ...src.metadata, variant: "second run" });
    } finally { await src.close(); }
  },
  /** A sharded output: three shards, then the index. */
  async sharded(input, out) {
    const src = await openSafetensors(path.join(input, "model.safetensors"));
    try {
      await fs.mkdir(out, { recursive: true });
      await writeShardedSafetensors(out, lazyCopies(src), 3, src.metadata);
    } finally { await src.close(); }
  },
};
