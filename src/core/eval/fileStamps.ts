/**
 * The size and modification time of every weights file of a checkpoint, taken once per Checkpoint
 * object (at its first use here) and compared again while its weights are read: a checkpoint that
 * changes while it is read is an error naming the file, never a silent mix of two versions. Both
 * forwards use it: the layer-streamed one before every layer, the whole-model one after loading.
 */
import fs from "node:fs";
import type { Checkpoint } from "../model/checkpoint";
import { EvalError } from "./errors";

interface FileStamp {
  readonly size: number;
  readonly mtimeMs: number;
}

function stamp(file: string): FileStamp {
  try {
    const st = fs.statSync(file);
    return { size: st.size, mtimeMs: st.mtimeMs };
  } catch (e) {
    throw new EvalError(
      "changed",
      `${file}: cannot be read any more (${e instanceof Error ? e.message : String(e)}); it was moved or deleted while being evaluated`,
    );
  }
}

export class FileStamps {
  private readonly stamps: Map<string, FileStamp>;
  constructor(files: readonly string[]) {
    this.stamps = new Map([...new Set(files)].map((f) => [f, stamp(f)]));
  }

  /** Throws EvalError("changed") naming the file when a weights file changed since it was stamped. */
  check(): void {
    for (const [f, s] of this.stamps) {
      const now = stamp(f);
      if (now.size !== s.size || now.mtimeMs !== s.mtimeMs) {
        throw new EvalError(
          "changed",
          `${f}: the file changed while it was being evaluated (size ${s.size} → ${now.size} bytes, modified ${new Date(now.mtimeMs).toISOString()}); evaluate it again once it is complete`,
        );
      }
    }
  }
}

const byCheckpoint = new WeakMap<Checkpoint, FileStamps>();

/** The stamps of `ckpt`'s weights files, taken (synchronously) on the first call for this Checkpoint object. */
export function fileStamps(ckpt: Checkpoint): FileStamps {
  let s = byCheckpoint.get(ckpt);
  if (!s) {
    s = new FileStamps(ckpt.source.tensors.map((t) => t.file));
    byCheckpoint.set(ckpt, s);
  }
  return s;
}
