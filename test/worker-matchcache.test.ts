// The match-table cache: checkpoint identity (single file and sharded), key stability, round trip,
// misses on other options / a changed file / a corrupt entry; and the worker's share job reusing a
// cached table gives the same checkpoint as computing it.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { computeMatchTable } from "../src/core/share/match";
import { MatchCache, checkpointIdentity, matchCacheKey } from "../src/host/matchCache";
import { WorkerClient } from "../src/host/workerClient";
import { RpcError } from "../src/protocol/rpc";

const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cache-"));
const single = path.join(tmp, "single");
const sharded = path.join(tmp, "sharded");
test.before(async () => {
  fs.mkdirSync(single);
  fs.mkdirSync(sharded);
  await writeSyntheticModel(single, { family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, intermediate: 32, vocab: 32, seed: 5 });
  await writeSyntheticModel(sharded, { family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, intermediate: 32, vocab: 32, seed: 5, shards: 2 });
});
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("worker-matchcache: identity of folders, files and sharded checkpoints", async () => {
  const weights = path.join(single, "model.safetensors");
  const st = fs.statSync(weights);
  const id = await checkpointIdentity(single);
  assert.deepEqual(id, { path: weights, size: st.size, mtimeMs: st.mtimeMs });
  assert.deepEqual(await checkpointIdentity(weights), id, "the file and its folder are the same checkpoint");
  const sid = await checkpointIdentity(sharded);
  assert.ok(sid.path.endsWith("model.safetensors.index.json"));
  const files = fs.readdirSync(sharded).filter((f) => f.endsWith(".safetensors") || f.endsWith(".index.json"));
  assert.ok(files.length >= 3, `index + 2 shards: ${files.join(", ")}`);
  assert.equal(
    sid.size,
    files.reduce((s, f) => s + fs.statSync(path.join(sharded, f)).size, 0),
  );
  assert.equal(sid.mtimeMs, Math.max(...files.map((f) => fs.statSync(path.join(sharded, f)).mtimeMs)));
  await assert.rejects(checkpointIdentity(path.join(tmp, "absent")), (e: unknown) => e instanceof Error && /absent/.test(e.message));
});

test("worker-matchcache: keys are stable and differ by every component", async () => {
  const id = await checkpointIdentity(single);
  const k = { ...id, strategy: "qk" as const, granularity: "group" as const };
  assert.equal(matchCacheKey(k), matchCacheKey({ ...k }));
  assert.match(matchCacheKey(k), /^[0-9a-f]{64}$/);
  const variants = [
    { ...k, strategy: "q" as const },
    { ...k, granularity: "query-head" as const },
    { ...k, size: k.size + 1 },
    { ...k, mtimeMs: k.mtimeMs + 1 },
    { ...k, path: `${k.path}x` },
  ];
  const keys = new Set([matchCacheKey(k), ...variants.map(matchCacheKey)]);
  assert.equal(keys.size, 6);
});

test("worker-matchcache: round trip, misses, corrupt entries, and a changed file", async () => {
  const cache = new MatchCache(path.join(tmp, "cache"));
  const ckpt = await openCheckpoint(single);
  const table = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group", providers: ["cpu"] }).finally(() => ckpt.close());
  const key = { ...(await checkpointIdentity(single)), strategy: "qk" as const, granularity: "group" as const };
  assert.equal(await cache.get(key), undefined, "empty cache misses");
  const file = await cache.set(key, table);
  assert.ok(fs.existsSync(file));
  assert.deepEqual(fs.readdirSync(cache.dir), [path.basename(file)], "no temporary leftovers");
  const got = await cache.get(key);
  assert.ok(got);
  assert.deepEqual(got.entries, table.entries);
  assert.equal(await cache.get({ ...key, strategy: "q" }), undefined);
  // The weights change (same size, new mtime): a new identity, a miss.
  const w = path.join(single, "model.safetensors");
  const later = new Date(fs.statSync(w).mtimeMs + 5000);
  fs.utimesSync(w, later, later);
  const changed = { ...(await checkpointIdentity(single)), strategy: "qk" as const, granularity: "group" as const };
  assert.notEqual(matchCacheKey(changed), matchCacheKey(key));
  assert.equal(await cache.get(changed), undefined);
  // A corrupt entry is a miss, not an error; a table stored under a key it does not match is a miss.
  fs.writeFileSync(file, "{ not json");
  assert.equal(await cache.get(key), undefined);
  fs.writeFileSync(cache.fileFor(changed), fs.readFileSync(await cache.set(key, table)));
  assert.equal(await cache.get(changed), undefined, "the stamped identity must match the key");
});

const workerJs = path.resolve(__dirname, "../../dist/worker.js");
test(
  "worker-matchcache: share with a cached table equals share computing it; a table for another model is refused",
  { skip: fs.existsSync(workerJs) ? false : "dist/worker.js is not built" },
  async () => {
    const c = new WorkerClient({ workerPath: workerJs, providers: ["cpu"] });
    try {
      const { table } = await c.request("headshare/match", { model: single });
      const a = await c.request("headshare/share", { model: single, ratio: 0.5, out: path.join(tmp, "a") });
      const b = await c.request("headshare/share", { model: single, ratio: 0.5, out: path.join(tmp, "b"), table });
      assert.deepEqual([a.match.cached, b.match.cached, a.provider, b.provider], [false, true, "cpu", "none"]);
      assert.deepEqual(b.plan, a.plan);
      assert.ok(fs.readFileSync(path.join(tmp, "a", "model.safetensors")).equals(fs.readFileSync(path.join(tmp, "b", "model.safetensors"))));
      // A well-formed table of another shape (5 layers): valid on its own, wrong for this checkpoint.
      const { lowerCosines: _dropped, ...rest } = table;
      const other = {
        ...rest,
        layers: 5,
        entries: [1, 2, 3, 4].flatMap((l) => [0, 1].map((u) => ({ layer: l, unit: u, sourceLayer: 0, sourceUnit: 0, score: 0.5 }))),
      };
      await assert.rejects(
        c.request("headshare/share", { model: single, ratio: 0.5, out: path.join(tmp, "c"), table: other }),
        (e: unknown) => e instanceof RpcError && e.code === "bad-options" && /does not fit this checkpoint/.test(e.message),
      );
      assert.ok(!fs.existsSync(path.join(tmp, "c")));
    } finally {
      await c.dispose();
    }
  },
);
