/**
 * The match kernel on several threads (matchParallel.ts + matchThread.js beside this bundle): the
 * same table bit for bit as one thread — the threads' products and squared-norm sums are added in
 * block order — on seeded synthetic models of every fast-path dtype, sharded too; cancellation
 * stops the threads; a thread that cannot open the model is an error naming the file; threads
 * that cannot start fall back to one thread; the "auto" choice stays on one thread for small models.
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel, type SyntheticOptions } from "../src/core/model/synthetic";
import { computeMatchTable, type MatchStats } from "../src/core/share/match";
import { activeParallelRuns, matchThreadScript, runParallel } from "../src/core/share/matchParallel";
import { GramSums } from "../src/core/share/gram";
import { MatchError } from "../src/core/share/errors";
import { parseMatchTable, serializeMatchTable } from "../src/core/share/matchTable";

const script = matchThreadScript();
const noScript = script ? false : "matchThread.js is not built beside the test bundle (node scripts/build.mjs --tests)";

async function withModel<T>(opts: SyntheticOptions, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-threads-"));
  try {
    await writeSyntheticModel(dir, opts);
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const stats = (): MatchStats => ({ readWait: 0, decode: 0, gram: 0, blocks: 0 });

test("share-match-threads: 2 and 3 threads give the one-thread table bit for bit (F32, BF16, F16, sharded, every strategy)", { skip: noScript }, async () => {
  const cases: SyntheticOptions[] = [
    { family: "llama", layers: 6, heads: 4, headDim: 8, seed: 21, dtype: "BF16" },
    { family: "llama", layers: 5, heads: 4, kvHeads: 2, headDim: 8, seed: 22, dtype: "F16", shards: 2 },
    { family: "llama", layers: 4, heads: 3, headDim: 6, seed: 23, dtype: "F32", qkvBias: true },
    { family: "gpt-neox", layers: 4, heads: 2, headDim: 8, seed: 24 },
  ];
  for (const opts of cases) {
    await withModel(opts, async (dir) => {
      const ckpt = await openCheckpoint(dir);
      try {
        for (const strategy of ["qk", "qkv", "v"] as const) {
          const base = { strategy, granularity: "group" as const, providers: ["cpu" as const], chunkBytes: 1024, keepLowerCosines: true };
          const s1 = stats(),
            s2 = stats();
          const one = await computeMatchTable(ckpt, { ...base, threads: 1, stats: s1 });
          const two = await computeMatchTable(ckpt, { ...base, threads: 2, stats: s2 });
          const three = await computeMatchTable(ckpt, { ...base, threads: 3 });
          assert.equal(s1.threads, 1);
          assert.equal(one.source?.threads, 1);
          assert.equal(two.source?.threads, 2, "the table says how many threads computed it");
          assert.equal(parseMatchTable(JSON.parse(serializeMatchTable(two)), "two.json").source?.threads, 2, "and keeps it through JSON");
          assert.equal(s2.threads, 2, `${opts.family}/${opts.dtype ?? "F32"} ${strategy}: ran on 2 threads`);
          assert.ok(s2.blocks >= 4, `${opts.family}/${opts.dtype ?? "F32"} ${strategy}: several blocks per thread (${s2.blocks})`);
          for (const t of [two, three]) {
            assert.deepEqual(t.entries, one.entries, `${opts.family}/${opts.dtype ?? "F32"} ${strategy}: entries`);
            assert.deepEqual(t.lowerCosines, one.lowerCosines, `${opts.family}/${opts.dtype ?? "F32"} ${strategy}: every cosine`);
            assert.equal(t.source?.bytesRead, one.source?.bytesRead, "the threads read the same bytes in all");
            assert.equal(t.source?.provider, "cpu");
          }
        }
      } finally {
        await ckpt.close();
      }
    });
  }
});

test("share-match-threads: cancelling stops the threads with a typed error; progress counts merged blocks", { skip: noScript }, async () => {
  await withModel({ family: "llama", layers: 8, heads: 4, headDim: 16, seed: 31, dtype: "BF16" }, async (dir) => {
    const ckpt = await openCheckpoint(dir);
    try {
      const ac = new AbortController();
      const seen: number[] = [];
      await assert.rejects(
        computeMatchTable(ckpt, {
          strategy: "qk",
          granularity: "group",
          providers: ["cpu"],
          chunkBytes: 1024,
          threads: 2,
          signal: ac.signal,
          onProgress: (p) => {
            seen.push(p.done);
            if (p.done === 3) ac.abort();
          },
        }),
        (e: unknown) => e instanceof MatchError && e.code === "aborted",
      );
      assert.deepEqual(seen.slice(0, 4), [0, 1, 2, 3], "progress reports blocks merged in order");
      assert.equal(activeParallelRuns(), 0, "a cancelled run no longer counts");
      let during = -1;
      await computeMatchTable(ckpt, {
        strategy: "qk",
        granularity: "group",
        providers: ["cpu"],
        chunkBytes: 1024,
        threads: 2,
        onProgress: (p) => {
          if (p.done === 1) during = activeParallelRuns();
        },
      });
      assert.equal(during, 1, 'a running threaded match counts ("auto" then stays on one thread)');
      assert.equal(activeParallelRuns(), 0);
      // a progress callback that throws fails the match (it does not escape as an uncaught exception)
      await assert.rejects(
        computeMatchTable(ckpt, {
          strategy: "qk",
          granularity: "group",
          providers: ["cpu"],
          chunkBytes: 1024,
          threads: 2,
          onProgress: (p) => {
            if (p.done === 2) throw new Error("progress sink broke");
          },
        }),
        (e: unknown) => e instanceof MatchError && /progress sink broke/.test(e.message),
      );
      // the model is still readable and a full run afterwards succeeds
      const t = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group", providers: ["cpu"], chunkBytes: 1024, threads: 2 });
      assert.equal(t.entries.length, 7 * 4);
    } finally {
      await ckpt.close();
    }
  });
});

test(
  "share-match-threads: cancelling at any point never takes the process down (threads are stopped, not terminated inside a Gemm)",
  { skip: noScript },
  async () => {
    await withModel({ family: "llama", layers: 8, heads: 8, headDim: 32, seed: 33, dtype: "BF16" }, async (dir) => {
      const ckpt = await openCheckpoint(dir);
      try {
        for (let at = 1; at <= 12; at++) {
          const ac = new AbortController();
          const t0 = performance.now();
          const run = computeMatchTable(ckpt, {
            strategy: "qk",
            granularity: "group",
            providers: ["cpu"],
            chunkBytes: 64 * 1024,
            threads: 2,
            signal: ac.signal,
            onProgress: (p) => {
              if (p.done === at) ac.abort();
            },
          });
          if (at > 6) setTimeout(() => ac.abort(), at - 6); // also mid-block, by the clock
          await assert.rejects(run, (e: unknown) => e instanceof MatchError && e.code === "aborted", `cancel at ${at}`);
          assert.ok(performance.now() - t0 < 30_000);
        }
      } finally {
        await ckpt.close();
      }
    });
  },
);

test("share-match-threads: when threads cannot start, the match runs on this thread and says why", async () => {
  await withModel({ family: "llama", layers: 4, heads: 4, headDim: 8, seed: 35, dtype: "BF16" }, async (dir) => {
    const broken = path.join(dir, "brokenThread.js");
    await fs.writeFile(broken, "throw new Error('threads are not allowed here');\n");
    const ckpt = await openCheckpoint(dir);
    try {
      const base = { strategy: "qk" as const, granularity: "group" as const, providers: ["cpu" as const], chunkBytes: 1024, keepLowerCosines: true };
      const s = stats();
      const t = await computeMatchTable(ckpt, { ...base, threads: 2, threadScript: broken, stats: s });
      assert.equal(s.threads, 1);
      assert.match(s.threadFallback ?? "", /could not start.*threads are not allowed here/);
      const one = await computeMatchTable(ckpt, { ...base, threads: 1 });
      assert.deepEqual(t.entries, one.entries);
      assert.deepEqual(t.lowerCosines, one.lowerCosines);
    } finally {
      await ckpt.close();
    }
  });
});

test("share-match-threads: a thread that cannot open the model fails the match with an error naming the file", { skip: noScript }, async () => {
  const missing = path.join(os.tmpdir(), "headshare-no-such-model", "model.safetensors");
  await assert.rejects(
    runParallel(
      { weightsPath: missing, strategy: "qk", granularity: "group", chunkBytes: 4096, units: 4, blocks: 4, threads: 2, intraOpThreads: 1, script: script! },
      new GramSums(2, 2),
    ),
    (e: unknown) => e instanceof MatchError && e.code === "read-failed" && e.message.includes("headshare-no-such-model"),
  );
});

test("share-match-threads: a thread that finds another schedule (the file changed) refuses with an error naming the file", { skip: noScript }, async () => {
  await withModel({ family: "llama", layers: 3, heads: 2, headDim: 8, seed: 37 }, async (dir) => {
    const weightsPath = path.join(dir, "model.safetensors");
    await assert.rejects(
      runParallel(
        { weightsPath, strategy: "qk", granularity: "group", chunkBytes: 1024, units: 6, blocks: 99, threads: 2, intraOpThreads: 1, script: script! },
        new GramSums(3, 2),
      ),
      (e: unknown) => e instanceof MatchError && e.message.includes(weightsPath) && /changed while it was being matched/.test(e.message),
    );
  });
});

test('share-match-threads: "auto" stays on one thread for a small model; bad thread counts are refused', async () => {
  await withModel({ family: "llama", layers: 4, heads: 2, headDim: 8, seed: 41 }, async (dir) => {
    const ckpt = await openCheckpoint(dir);
    try {
      const s = stats();
      await computeMatchTable(ckpt, { strategy: "qk", granularity: "group", providers: ["cpu"], chunkBytes: 512, stats: s });
      assert.equal(s.threads, 1, "start-up would cost more than the products");
      for (const threads of [0, 17, 1.5, "two"]) {
        await assert.rejects(
          computeMatchTable(ckpt, { strategy: "qk", granularity: "group", threads: threads as number }),
          (e: unknown) => e instanceof MatchError && e.code === "bad-options" && /threads must be "auto" or an integer 1\.\.16/.test(e.message),
        );
      }
    } finally {
      await ckpt.close();
    }
  });
});
