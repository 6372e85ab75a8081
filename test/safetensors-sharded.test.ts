/**
 * Sharded checkpoints: writing shards + index and reading them back as one source; every bad
 * index (outside the folder, missing shard, malformed, disagreeing with the shards, leaving out
 * tensors the shards hold).
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  SafetensorsError,
  openShardedSafetensors,
  openTensorSource,
  writeSafetensors,
  writeShardedSafetensors,
  type TensorToWrite,
} from "../src/core/safetensors";
import { mulberry32 } from "../src/core/model/synthetic";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hs-sharded-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tensors(n: number, seed: number): TensorToWrite[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const v = new Float32Array(6 + i).map(() => rand()); // [6+i] f32
    return { name: `t${i}`, dtype: "F32" as const, shape: [6 + i], data: new Uint8Array(v.buffer) };
  });
}

async function rejectsCode(p: Promise<unknown>, code: string, file: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), e.message);
    return true;
  });
}

test("safetensors sharded: write 3 shards + index, read back as one source in order", async () => {
  const dir = fs.mkdtempSync(path.join(tmp, "ok-"));
  const ts = tensors(7, 1);
  const res = await writeShardedSafetensors(dir, ts, 3, { format: "pt" });
  assert.deepEqual(res.shards, ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]);
  const index = JSON.parse(fs.readFileSync(res.indexPath, "utf8"));
  assert.equal(
    index.metadata.total_size,
    ts.reduce((s, t) => s + (t.data as Uint8Array).byteLength, 0),
  );
  assert.equal(Object.keys(index.weight_map).length, 7);
  const src = await openTensorSource(res.indexPath);
  assert.equal(src.path, res.indexPath);
  assert.deepEqual(
    src.tensors.map((t) => t.name),
    ts.map((t) => t.name),
  );
  assert.deepEqual(src.metadata, { format: "pt" });
  for (const t of ts) assert.deepEqual(await src.readBytes(t.name), t.data);
  assert.equal(new Set(src.tensors.map((t) => t.file)).size, 3);
  await src.close();
});

async function indexDir(weightMap: unknown, raw?: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(tmp, "bad-"));
  await writeSafetensors(path.join(dir, "a.safetensors"), tensors(2, 2));
  const p = path.join(dir, "model.safetensors.index.json");
  fs.writeFileSync(p, raw ?? JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return p;
}

test("safetensors sharded bad input: shard name with a path separator", async () => {
  const p = await indexDir({ t0: "../a.safetensors", t1: "a.safetensors" });
  await rejectsCode(openShardedSafetensors(p), "shard-outside-folder", p);
  const q = await indexDir({ t0: "sub/a.safetensors" });
  await rejectsCode(openShardedSafetensors(q), "shard-outside-folder", q);
});
test("safetensors sharded bad input: shard name '..' or absolute", async () => {
  const p = await indexDir({ t0: ".." });
  await rejectsCode(openShardedSafetensors(p), "shard-outside-folder", p);
  const q = await indexDir({ t0: "/etc/passwd" });
  await rejectsCode(openShardedSafetensors(q), "shard-outside-folder", q);
});
test("safetensors sharded bad input: index pointing at a missing shard", async () => {
  const p = await indexDir({ t0: "a.safetensors", t1: "b.safetensors" });
  await rejectsCode(openShardedSafetensors(p), "missing-shard", p);
});
test("safetensors sharded bad input: index not JSON / without weight_map / bad entries", async () => {
  const p = await indexDir(undefined, "{nope");
  await rejectsCode(openShardedSafetensors(p), "bad-index", p);
  const q = await indexDir(undefined, JSON.stringify({ metadata: {} }));
  await rejectsCode(openShardedSafetensors(q), "bad-index", q);
  const r = await indexDir({ t0: 5 });
  await rejectsCode(openShardedSafetensors(r), "bad-index", r);
});
test("safetensors sharded bad input: index naming a tensor the shard does not hold", async () => {
  const p = await indexDir({ t0: "a.safetensors", zz: "a.safetensors" });
  await rejectsCode(openShardedSafetensors(p), "shard-mismatch", p);
});
test("safetensors sharded bad input: an index that leaves out a tensor its shard holds is refused, naming it", async () => {
  const p = await indexDir({ t0: "a.safetensors" });
  await rejectsCode(openShardedSafetensors(p), "index-incomplete", p);
  await assert.rejects(openShardedSafetensors(p), /does not list 1 tensor that its shards hold: "t1" \(in a\.safetensors\); regenerate the index/);
});
test("safetensors sharded bad input: a tensor in two shards", async () => {
  const p = await indexDir({ t0: "a.safetensors", t1: "b.safetensors" });
  await writeSafetensors(path.join(path.dirname(p), "b.safetensors"), tensors(2, 3));
  await rejectsCode(openShardedSafetensors(p), "duplicate-tensor", p);
});
test("safetensors sharded: a bad shard's error names the shard", async () => {
  const p = await indexDir({ t0: "a.safetensors", t1: "a.safetensors", t9: "c.safetensors" });
  const c = path.join(path.dirname(p), "c.safetensors");
  fs.writeFileSync(c, Buffer.from([1, 2]));
  await rejectsCode(openShardedSafetensors(p), "too-short", c);
});
