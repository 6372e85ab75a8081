/**
 * Paths that come from files never escape the model folder: shard names in an index, and
 * symlinks (shards, weights, config.json, tokenizer files) resolving outside the folder are
 * refused unless the user consents (HEADSHARE_FOLLOW_SYMLINKS=1). The Hugging Face hub cache
 * layout (snapshots/<rev>/* → ../../blobs/*) counts as inside.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { openShardedSafetensors } from "../src/core/safetensors";
import { syntheticTable } from "./crash/table";
import { removeDir, scratchDir } from "./fuzz/tmp";

const TINY = { family: "llama" as const, layers: 2, heads: 2, headDim: 4, intermediate: 8, vocab: 16, seed: 5 };

function code(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

async function withConsent<T>(fn: () => Promise<T>): Promise<T> {
  const prev = process.env.HEADSHARE_FOLLOW_SYMLINKS;
  process.env.HEADSHARE_FOLLOW_SYMLINKS = "1";
  try {
    return await fn();
  } finally {
    if (prev === undefined) delete process.env.HEADSHARE_FOLLOW_SYMLINKS;
    else process.env.HEADSHARE_FOLLOW_SYMLINKS = prev;
  }
}

test("paths: shard names in an index that leave the folder are refused", async () => {
  const root = scratchDir("paths-names");
  try {
    const dir = await writeSyntheticModel(path.join(root, "m"), { ...TINY, shards: 2 });
    const idxPath = path.join(dir, "model.safetensors.index.json");
    const idx = JSON.parse(fs.readFileSync(idxPath, "utf8")) as { weight_map: Record<string, string> };
    const first = Object.keys(idx.weight_map)[0]!;
    fs.copyFileSync(path.join(dir, idx.weight_map[first]!), path.join(root, "outside.safetensors"));
    for (const bad of [
      "../outside.safetensors",
      path.join(root, "outside.safetensors"),
      "sub/x.safetensors",
      "..",
      "a\\..\\b.safetensors",
      "..\\outside.safetensors",
    ]) {
      fs.writeFileSync(idxPath, JSON.stringify({ ...idx, weight_map: { ...idx.weight_map, [first]: bad } }));
      await assert.rejects(
        openShardedSafetensors(idxPath),
        (e) => code(e) === "shard-outside-folder" && String((e as Error).message).includes("index.json"),
        bad,
      );
    }
  } finally {
    removeDir(root);
  }
});

test("paths: a shard that is a symlink out of the folder is refused; inside links and consent are followed", async () => {
  const root = scratchDir("paths-shard-link");
  try {
    const dir = await writeSyntheticModel(path.join(root, "m"), { ...TINY, shards: 2 });
    const idxPath = path.join(dir, "model.safetensors.index.json");
    const shard = "model-00002-of-00002.safetensors";
    fs.renameSync(path.join(dir, shard), path.join(root, "elsewhere.safetensors"));
    fs.symlinkSync(path.join(root, "elsewhere.safetensors"), path.join(dir, shard));
    await assert.rejects(
      openShardedSafetensors(idxPath),
      (e) => code(e) === "symlink-outside-folder" && /HEADSHARE_FOLLOW_SYMLINKS/.test((e as Error).message) && (e as Error).message.includes(shard),
    );
    const consented = await withConsent(() => openShardedSafetensors(idxPath));
    assert.ok(consented.tensors.length > 0);
    await consented.close();
    // A link that stays inside the folder is fine.
    fs.unlinkSync(path.join(dir, shard));
    fs.renameSync(path.join(root, "elsewhere.safetensors"), path.join(dir, "real-shard.bin"));
    fs.symlinkSync("real-shard.bin", path.join(dir, shard));
    const ok = await openShardedSafetensors(idxPath);
    await ok.close();
  } finally {
    removeDir(root);
  }
});

test("paths: weights or config.json linking out of a checkpoint folder are refused", async () => {
  const root = scratchDir("paths-ckpt");
  try {
    const dir = await writeSyntheticModel(path.join(root, "m"), TINY);
    for (const f of ["model.safetensors", "config.json"]) {
      fs.renameSync(path.join(dir, f), path.join(root, f));
      fs.symlinkSync(path.join(root, f), path.join(dir, f));
      await assert.rejects(openCheckpoint(dir), (e) => code(e) === "symlink-outside-folder" && (e as Error).message.includes(f), f);
      const ck = await withConsent(() => openCheckpoint(dir));
      await ck.close();
      fs.unlinkSync(path.join(dir, f));
      fs.renameSync(path.join(root, f), path.join(dir, f));
    }
    // Opening the weights file directly: config.json beside it must not link out either.
    fs.renameSync(path.join(dir, "config.json"), path.join(root, "config.json"));
    fs.symlinkSync(path.join(root, "config.json"), path.join(dir, "config.json"));
    await assert.rejects(openCheckpoint(path.join(dir, "model.safetensors")), (e) => code(e) === "symlink-outside-folder");
    // A model folder that is itself a link (the user's own choice) is fine.
    fs.unlinkSync(path.join(dir, "config.json"));
    fs.renameSync(path.join(root, "config.json"), path.join(dir, "config.json"));
    fs.symlinkSync(dir, path.join(root, "alias"));
    const ck = await openCheckpoint(path.join(root, "alias"));
    await ck.close();
  } finally {
    removeDir(root);
  }
});

test("paths: the Hugging Face hub cache layout (snapshot links into blobs/) opens", async () => {
  const root = scratchDir("paths-hub");
  try {
    const src = await writeSyntheticModel(path.join(root, "src"), TINY);
    const repo = path.join(root, "hub", "models--org--tiny");
    const snap = path.join(repo, "snapshots", "0123abc");
    fs.mkdirSync(path.join(repo, "blobs"), { recursive: true });
    fs.mkdirSync(snap, { recursive: true });
    for (const [i, f] of ["model.safetensors", "config.json"].entries()) {
      fs.copyFileSync(path.join(src, f), path.join(repo, "blobs", `blob${i}`));
      fs.symlinkSync(`../../blobs/blob${i}`, path.join(snap, f));
    }
    const ck = await openCheckpoint(snap);
    assert.equal(ck.spec.layers, 2);
    await ck.close();
    // ...but a snapshot link leaving the repo folder is still refused.
    fs.unlinkSync(path.join(snap, "config.json"));
    fs.symlinkSync(path.join(src, "config.json"), path.join(snap, "config.json"));
    await assert.rejects(openCheckpoint(snap), (e) => code(e) === "symlink-outside-folder");
  } finally {
    removeDir(root);
  }
});

test("paths: tokenizer files linking out of the model folder are refused", async () => {
  const root = scratchDir("paths-tok");
  try {
    const dir = path.join(root, "m");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(root, "secret.json"), JSON.stringify({ not: "a tokenizer" }));
    fs.symlinkSync(path.join(root, "secret.json"), path.join(dir, "tokenizer.json"));
    await assert.rejects(loadTokenizer(dir), (e) => code(e) === "no-tokenizer" && /outside the model folder/.test((e as Error).message));
    fs.unlinkSync(path.join(dir, "tokenizer.json"));
    fs.writeFileSync(path.join(dir, "tokenizer.json"), "{}");
    fs.symlinkSync(path.join(root, "secret.json"), path.join(dir, "tokenizer_config.json"));
    await assert.rejects(
      loadTokenizer(dir),
      (e) => code(e) === "no-tokenizer" && /tokenizer_config\.json/.test((e as Error).message) && /outside the model folder/.test((e as Error).message),
    );
  } finally {
    removeDir(root);
  }
});

test("paths: a DirectShare output of a hub-cache snapshot gets its linked config/tokenizer files; a tokenizer linking out of the repo is refused", async () => {
  const { writeShared } = await import("../src/core/share/write");
  const { planSharing } = await import("../src/core/share/plan");
  const root = scratchDir("paths-share");
  try {
    const src = await writeSyntheticModel(path.join(root, "src"), TINY);
    fs.writeFileSync(path.join(src, "tokenizer.json"), "{}");
    const repo = path.join(root, "hub", "models--org--tiny");
    const snap = path.join(repo, "snapshots", "rev1");
    fs.mkdirSync(path.join(repo, "blobs"), { recursive: true });
    fs.mkdirSync(snap, { recursive: true });
    for (const [i, f] of ["model.safetensors", "config.json", "tokenizer.json"].entries()) {
      fs.copyFileSync(path.join(src, f), path.join(repo, "blobs", `b${i}`));
      fs.symlinkSync(`../../blobs/b${i}`, path.join(snap, f));
    }
    const plan = planSharing(syntheticTable(2, 2), 0.25);
    const ck = await openCheckpoint(snap);
    try {
      const r = await writeShared(ck, plan, { format: "compact", outDir: path.join(root, "out") });
      assert.deepEqual([...r.files].sort(), ["config.json", "model.safetensors", "tokenizer.json"]);
      assert.deepEqual(fs.readFileSync(path.join(root, "out", "config.json")), fs.readFileSync(path.join(src, "config.json")));
      // A tokenizer linking outside the repo folder: the share is refused, nothing is left.
      fs.unlinkSync(path.join(snap, "tokenizer.json"));
      fs.symlinkSync(path.join(src, "tokenizer.json"), path.join(snap, "tokenizer.json"));
      await assert.rejects(writeShared(ck, plan, { format: "compact", outDir: path.join(root, "out2") }), (e) => code(e) === "symlink-outside-folder");
      assert.ok(!fs.existsSync(path.join(root, "out2")), "no output folder after the refusal");
    } finally {
      await ck.close();
    }
  } finally {
    removeDir(root);
  }
});

test("paths: special files named like model files (a FIFO, a folder, a link to /dev/zero) are refused without hanging", async () => {
  const { execFileSync } = await import("node:child_process");
  const { openSafetensors } = await import("../src/core/safetensors");
  const { readConfig } = await import("../src/core/model/config");
  const root = scratchDir("paths-special");
  try {
    const fifo = path.join(root, "fifo.safetensors");
    execFileSync("mkfifo", [fifo]);
    const deadline = <T>(p: Promise<T>, what: string): Promise<T> =>
      Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what} hung`)), 3000).unref())]);
    await assert.rejects(deadline(openSafetensors(fifo), "opening a FIFO"), (e) => code(e) === "io" && /regular file/.test((e as Error).message));
    fs.mkdirSync(path.join(root, "dir.safetensors"));
    await assert.rejects(deadline(openSafetensors(path.join(root, "dir.safetensors")), "a folder"), (e) => code(e) === "io");
    fs.symlinkSync("/dev/zero", path.join(root, "zero.safetensors"));
    await assert.rejects(deadline(openSafetensors(path.join(root, "zero.safetensors")), "/dev/zero"), (e) => code(e) === "io");
    const cfgFifo = path.join(root, "config.json");
    execFileSync("mkfifo", [cfgFifo]);
    await assert.rejects(deadline(readConfig(cfgFifo), "a FIFO config.json"), (e) => code(e) === "bad-config" || code(e) === "io");
  } finally {
    removeDir(root);
  }
});
