/**
 * The write jobs the crash tests kill (child side). `input` is the folder of prepared inputs
 * (see `prepareInputs`), `out` the folder the job writes into (DirectShare outputs go to
 * `<out>/shared`, so its staging folder `<out>/.headshare-tmp-shared-*` is watched too).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { openCheckpoint } from "../../src/core/model/checkpoint";
import { writeSyntheticModel } from "../../src/core/model/synthetic";
import { openSafetensors, writeSafetensors, writeShardedSafetensors } from "../../src/core/safetensors";
import type { TensorSource, TensorToWrite } from "../../src/core/safetensors";
import { planSharing } from "../../src/core/share/plan";
import type { MatchTable, SharingPlan } from "../../src/core/share/types";
import { expandCompact, writeShared } from "../../src/core/share/write";
import { syntheticTable } from "./table";

function lazyCopies(src: TensorSource): TensorToWrite[] {
  return src.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.readBytes(t.name) }));
}

const MODEL = { family: "llama" as const, layers: 3, heads: 4, kvHeads: 2, headDim: 8, intermediate: 24, vocab: 48, seed: 7 };

function table(): MatchTable {
  return syntheticTable(MODEL.layers, MODEL.kvHeads);
}

/** Parent side: the inputs every job reads (a single-file and a sharded model, plans, a compact output). */
export async function prepareInputs(dir: string): Promise<void> {
  await writeSyntheticModel(path.join(dir, "single"), MODEL);
  await writeSyntheticModel(path.join(dir, "sharded"), { ...MODEL, shards: 2 });
  await fs.writeFile(path.join(dir, "single", "tokenizer_config.json"), JSON.stringify({ add_bos_token: true }));
  for (const r of [0.25, 0.5]) await fs.writeFile(path.join(dir, `plan-${r * 100}.json`), JSON.stringify(planSharing(table(), r)));
  const ck = await openCheckpoint(path.join(dir, "single"));
  try {
    await writeShared(ck, await plan(dir, 50), { format: "compact", outDir: path.join(dir, "compact") });
  } finally {
    await ck.close();
  }
}

async function plan(input: string, pct: number): Promise<SharingPlan> {
  return JSON.parse(await fs.readFile(path.join(input, `plan-${pct}.json`), "utf8")) as SharingPlan;
}

async function share(input: string, out: string, model: string, pct: number, format: "compact" | "dense"): Promise<void> {
  await fs.mkdir(out, { recursive: true }); // the output's parent must exist (src/core/output/folder.ts)
  const ck = await openCheckpoint(path.join(input, model));
  try {
    await writeShared(ck, await plan(input, pct), { format, outDir: path.join(out, "shared"), force: true });
  } finally {
    await ck.close();
  }
}

export const JOBS: Record<string, (input: string, out: string) => Promise<void>> = {
  /** A dense single-file output: every tensor re-written (safetensors writer). */
  async dense(input, out) {
    const src = await openSafetensors(path.join(input, "single", "model.safetensors"));
    try {
      await fs.mkdir(out, { recursive: true });
      await writeSafetensors(path.join(out, "model.safetensors"), lazyCopies(src), src.metadata);
    } finally {
      await src.close();
    }
  },
  /** A sharded output: three shards, then the index. */
  async sharded(input, out) {
    const src = await openSafetensors(path.join(input, "single", "model.safetensors"));
    try {
      await fs.mkdir(out, { recursive: true });
      await writeShardedSafetensors(out, lazyCopies(src), 3, src.metadata);
    } finally {
      await src.close();
    }
  },
  /** The same sharded output with other metadata: replaces a "sharded" output in place. */
  async "sharded-over"(input, out) {
    const src = await openSafetensors(path.join(input, "single", "model.safetensors"));
    try {
      await writeShardedSafetensors(out, lazyCopies(src), 3, { ...src.metadata, variant: "second run" });
    } finally {
      await src.close();
    }
  },
  /** DirectShare compact checkpoint (+ config/tokenizer copies) at ratio 0.5. */
  "share-compact": (input, out) => share(input, out, "single", 50, "compact"),
  /** DirectShare dense checkpoint at ratio 0.5. */
  "share-dense": (input, out) => share(input, out, "single", 50, "dense"),
  /** Expanding the prepared compact checkpoint back to dense. */
  async "share-expand"(input, out) {
    await fs.mkdir(out, { recursive: true });
    await expandCompact(path.join(input, "compact"), { outDir: path.join(out, "shared"), force: true });
  },
  /** Sharded compact at ratio 0.25 (the prior output for the next job). */
  "share-compact-sharded": (input, out) => share(input, out, "sharded", 25, "compact"),
  /** Sharded compact at ratio 0.5 written over the ratio-0.25 output (--force). */
  "share-compact-sharded-over": (input, out) => share(input, out, "sharded", 50, "compact"),
  /** A single-file dense output written over the sharded ratio-0.25 output (--force): no old shard or index may survive. */
  "share-dense-over-sharded": (input, out) => share(input, out, "single", 50, "dense"),
};

/** Jobs whose output folder `<out>/shared` is staged and swapped: after a kill and recovery it is exactly the old or the new output. */
export const WHOLE: Record<string, string> = Object.fromEntries(
  Object.keys(JOBS)
    .filter((j) => j.startsWith("share-"))
    .map((j) => [j, "shared"]),
);

/** Jobs that replace another job's output in place: the prior output is made first. */
export const REPLACES: Record<string, string> = {
  "sharded-over": "sharded",
  "share-compact-sharded-over": "share-compact-sharded",
  "share-dense-over-sharded": "share-compact-sharded",
};
