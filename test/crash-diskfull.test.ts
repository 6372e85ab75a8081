/**
 * Disk full: every writer fails with a clear typed error (naming the file and the cause) and
 * leaves nothing half-written: no partial file under a final name, no temporary, and no orphan
 * shards without their index. Runs on a real 64 KiB tmpfs when this machine lets the test mount
 * one (root), and always with a simulated ENOSPC from the file layer.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { writeSafetensors, writeShardedSafetensors, writeTextAtomic } from "../src/core/safetensors";
import type { TensorToWrite } from "../src/core/safetensors";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { planSharing } from "../src/core/share/plan";
import type { SharingPlan } from "../src/core/share/types";
import { writeShared } from "../src/core/share/write";
import { mountSmallTmpfs, simulateDiskFull } from "./crash/diskfull";
import { syntheticTable } from "./crash/table";
import { removeDir, scratchDir } from "./fuzz/tmp";

/** A ~150 KiB model (input on the normal temp folder) and a plan for it. */
let model = "";
let plan: SharingPlan;
let modelRoot = "";
test.before(async () => {
  modelRoot = scratchDir("diskfull-model");
  model = await writeSyntheticModel(path.join(modelRoot, "m"), {
    family: "llama",
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    intermediate: 64,
    vocab: 128,
    seed: 4,
  });
  plan = planSharing(syntheticTable(2, 2), 0.25);
});
test.after(() => removeDir(modelRoot));

/** 4 tensors of 24 KiB (96 KiB of data): more than the 64 KiB disk. */
function tensors(): TensorToWrite[] {
  return [0, 1, 2, 3].map((i) => ({ name: `layers.${i}.weight`, dtype: "F32" as const, shape: [48, 128], data: new Uint8Array(48 * 128 * 4).fill(i + 1) }));
}

function isDiskFullError(e: unknown, file: string): boolean {
  return (
    e instanceof Error &&
    e.name === "SafetensorsError" &&
    (e as { code?: string }).code === "io" &&
    e.message.includes(file) &&
    /ENOSPC|no space/i.test(e.message)
  );
}

/** `fresh()` runs before each writer: a full disk again (the simulation's budget is per writer). */
async function checkWriters(dir: string, what: string, fresh: () => Promise<void>): Promise<void> {
  await fresh();
  const dense = path.join(dir, "dense");
  fs.mkdirSync(dense);
  await assert.rejects(
    writeSafetensors(path.join(dense, "model.safetensors"), tensors(), { format: "pt" }),
    (e) => isDiskFullError(e, "model.safetensors"),
    `${what}: dense`,
  );
  assert.deepEqual(fs.readdirSync(dense), [], `${what}: a failed single-file write leaves nothing`);

  await fresh();
  const sharded = path.join(dir, "sharded");
  fs.mkdirSync(sharded);
  await assert.rejects(writeShardedSafetensors(sharded, tensors(), 3, { format: "pt" }), (e) => isDiskFullError(e, ".safetensors"), `${what}: sharded`);
  const left = fs.readdirSync(sharded);
  assert.ok(!left.some((n) => n.startsWith(".headshare-tmp-")), `${what}: temporaries left: ${left.join(", ")}`);
  assert.deepEqual(left, [], `${what}: a failed sharded write leaves no orphan shards and no index (left: ${left.join(", ")})`);

  // A whole DirectShare output (staged in a folder, then renamed): nothing of it is left.
  await fresh();
  const shared = path.join(dir, "shared-parent");
  fs.mkdirSync(shared);
  const ck = await openCheckpoint(model);
  try {
    // A real disk is measured up front (statfs): refused before the first byte; the simulation fails mid-write.
    const upFront = what === "tmpfs" ? /not enough free space .*nothing was written/ : /ENOSPC|no space/i;
    await assert.rejects(
      writeShared(ck, plan, { format: "dense", outDir: path.join(shared, "out") }),
      (e) => e instanceof Error && upFront.test(e.message) && typeof (e as { code?: unknown }).code === "string" && !e.message.includes(".headshare-tmp-"),
      `${what}: writeShared (the message names the output, not its staging folder)`,
    );
  } finally {
    await ck.close();
  }
  assert.deepEqual(fs.readdirSync(shared), [], `${what}: a failed DirectShare write leaves no output and no staging folder`);

  await fresh();
  const text = path.join(dir, "text");
  fs.mkdirSync(text);
  await assert.rejects(writeTextAtomic(path.join(text, "config.json"), "x".repeat(200_000)), (e) => isDiskFullError(e, "config.json"), `${what}: text`);
  assert.deepEqual(fs.readdirSync(text), [], `${what}: a failed text write leaves nothing`);
}

test("crash: disk full on a real 64 KiB tmpfs", async (t) => {
  const root = scratchDir("diskfull");
  const mnt = path.join(root, "mnt");
  const m = mountSmallTmpfs(mnt, 64 * 1024);
  if ("reason" in m) {
    t.skip(m.reason);
    removeDir(root);
    return;
  }
  try {
    await checkWriters(mnt, "tmpfs", async () => undefined);
  } finally {
    m.unmount();
    removeDir(root);
  }
});

test("crash: disk full simulated by ENOSPC from the file layer", async () => {
  const root = scratchDir("enospc");
  let restore: (() => void) | undefined;
  try {
    await checkWriters(root, "simulated", async () => {
      restore?.();
      restore = await simulateDiskFull(64 * 1024);
    });
  } finally {
    restore?.();
    removeDir(root);
  }
});
