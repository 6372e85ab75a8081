/**
 * Small JSON files a model folder holds (config.json, the index, tokenizer files) are read whole;
 * a huge one (corrupt, or hostile: a 1 GiB sparse "config.json", which a plain readFile would allocate) must be refused from its size,
 * quickly and without allocating it. And a safetensors header claiming a 2^40-byte tensor must
 * not allocate it either.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { openSafetensors, openShardedSafetensors } from "../src/core/safetensors";
import { removeDir, scratchDir } from "./fuzz/tmp";

const GiB = 2 ** 30;

async function bounded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    const m1 = process.memoryUsage();
    const grew = m1.arrayBuffers + m1.heapUsed - m0.arrayBuffers - m0.heapUsed;
    assert.ok(grew < 64 * 2 ** 20, `${what}: allocated ${(grew / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(performance.now() - t0 < 2000, `${what}: took ${(performance.now() - t0).toFixed(0)} ms`);
  }
}

function sparse(file: string, size: number, head = "{"): void {
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, head);
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
}

const code = (e: unknown): string | undefined => (e as { code?: string }).code;

test("sizes: a 1 GiB config.json, index or tokenizer.json is refused from its size without reading it", async () => {
  const root = scratchDir("sizes");
  try {
    const dir = await writeSyntheticModel(path.join(root, "m"), { family: "llama", layers: 1, heads: 2, headDim: 2, intermediate: 4, vocab: 8, seed: 1 });
    sparse(path.join(dir, "config.json"), GiB);
    await bounded("config.json", () =>
      assert.rejects(openCheckpoint(dir), (e) => code(e) === "bad-config" && /config\.json/.test((e as Error).message) && /bytes/.test((e as Error).message)),
    );

    const idx = path.join(root, "model.safetensors.index.json");
    sparse(idx, GiB);
    await bounded("index", () => assert.rejects(openShardedSafetensors(idx), (e) => code(e) === "bad-index" && /index\.json/.test((e as Error).message)));

    const tokDir = path.join(root, "tok");
    fs.mkdirSync(tokDir);
    sparse(path.join(tokDir, "tokenizer.json"), GiB);
    await bounded("tokenizer.json", () =>
      assert.rejects(loadTokenizer(tokDir), (e) => code(e) === "no-tokenizer" && /tokenizer\.json/.test((e as Error).message)),
    );
  } finally {
    removeDir(root);
  }
});

test("sizes: a header claiming a 2^40-byte tensor in a small (or sparse 2^40-byte) file allocates nothing", async () => {
  const root = scratchDir("sizes-header");
  try {
    const header = JSON.stringify({ huge: { dtype: "F32", shape: [2 ** 18, 2 ** 20], data_offsets: [0, 2 ** 40] } });
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    const small = path.join(root, "small.safetensors");
    fs.writeFileSync(small, Buffer.concat([prefix, Buffer.from(header)]));
    await bounded("small file", () => assert.rejects(openSafetensors(small), (e) => code(e) === "offsets-out-of-range"));
    // The same header in a sparse file that really is 2^40 bytes long: opens (headers only), reads nothing big.
    const big = path.join(root, "big.safetensors");
    fs.writeFileSync(big, Buffer.concat([prefix, Buffer.from(header)]));
    let sparseOk = true;
    try {
      fs.truncateSync(big, 8 + header.length + 2 ** 40);
    } catch {
      sparseOk = false;
    }
    if (sparseOk) {
      await bounded("sparse 1 TiB file", async () => {
        const src = await openSafetensors(big);
        try {
          assert.equal(src.tensors[0]!.dataOffsets[1], 2 ** 40);
          const row = await src.readRowsF32("huge", 5, 6); // one row: 4 MiB
          assert.equal(row.length, 2 ** 20);
          assert.ok(src.bytesRead < 8 * 2 ** 20, `read ${src.bytesRead} bytes`);
        } finally {
          await src.close();
        }
      });
    }
  } finally {
    removeDir(root);
  }
});
