/**
 * The output-folder module (src/core/output) and the writers that use it (issue 18, findings 1, 2
 * and 8): a failed or cancelled `--force` leaves the previous output byte-identical; every check
 * that can fail runs before the first byte; one writer per folder (lock, --wait, stale locks by
 * owner tag, not by PID alone); the cleaner removes only dead writers' files and puts back an
 * output a killed swap had moved aside; path and parent rules with clear messages.
 * Synthetic models only (milliseconds each). The SIGKILL kill points of the swap are in
 * crash-write.test.ts (jobs share-*-over*).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import {
  checkNotLocked,
  cleanStale,
  formatOwner,
  lockHolder,
  lockOutput,
  lockPathFor,
  myOwnerTag,
  OutputError,
  ownerLiveness,
  parseTempName,
  stageOutputFolder,
  tempPathFor,
} from "../src/core/output";
import { planSharing } from "../src/core/share/plan";
import { ShareError } from "../src/core/share/errors";
import { writeShared } from "../src/core/share/write";
import { snapshot } from "./crash/harness";
import { simulateDiskFull } from "./crash/diskfull";
import { syntheticTable } from "./crash/table";
import { removeDir, scratchDir } from "./fuzz/tmp";

const MODEL = { family: "llama" as const, layers: 3, heads: 4, kvHeads: 2, headDim: 8, intermediate: 24, vocab: 48, seed: 5 };
const plan = (r: number) => planSharing(syntheticTable(MODEL.layers, MODEL.kvHeads), r);

/** A pid that existed and is gone now. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout.trim());
}

async function withModels(f: (root: string, single: string, sharded: string) => Promise<void>): Promise<void> {
  const root = scratchDir("outfolder");
  try {
    const single = await writeSyntheticModel(path.join(root, "single"), MODEL);
    const sharded = await writeSyntheticModel(path.join(root, "sharded"), { ...MODEL, shards: 2 });
    fs.writeFileSync(path.join(single, "tokenizer_config.json"), JSON.stringify({ add_bos_token: true }));
    await f(root, single, sharded);
  } finally {
    removeDir(root);
  }
}

async function share(
  model: string,
  out: string,
  r: number,
  format: "compact" | "dense",
  extra: { force?: boolean; signal?: AbortSignal; wait?: boolean | number } = {},
) {
  const ck = await openCheckpoint(model);
  try {
    return await writeShared(ck, plan(r), { format, outDir: out, ...extra });
  } finally {
    await ck.close();
  }
}

const leftovers = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.startsWith(".headshare-"));

test("output: a --force replace that fails on a tokenizer link outside the model leaves the previous output byte-identical, and fails before writing", async () => {
  await withModels(async (root, single, sharded) => {
    const out = path.join(root, "prev");
    await share(sharded, out, 0.25, "compact");
    const before = snapshot(out);
    const secret = path.join(root, "secret.json");
    fs.writeFileSync(secret, "{}");
    fs.rmSync(path.join(single, "tokenizer_config.json"));
    fs.symlinkSync(secret, path.join(single, "tokenizer_config.json"));
    await assert.rejects(
      share(single, out, 0.5, "dense", { force: true }),
      (e: unknown) => e instanceof Error && /tokenizer_config\.json/.test(e.message) && /outside/.test(e.message),
    );
    assert.deepEqual(snapshot(out), before, "the previous output is unchanged");
    assert.deepEqual(leftovers(root), [], "nothing was staged: the link check runs before the first byte");
  });
});

test(
  "output: a FIFO under a tokenizer file's name is refused by name before anything is written",
  { skip: process.platform === "win32" ? "no FIFOs" : false },
  async () => {
    await withModels(async (root, single) => {
      const fifo = path.join(single, "merges.txt");
      if (spawnSync("mkfifo", [fifo]).status !== 0) return;
      const out = path.join(root, "out");
      await assert.rejects(share(single, out, 0.5, "compact"), (e: unknown) => e instanceof ShareError && /merges\.txt is not a regular file/.test(e.message));
      assert.equal(fs.existsSync(out), false);
      assert.deepEqual(leftovers(root), []);
    });
  },
);

test("output: a --force replace cancelled mid-write, or failing with ENOSPC, keeps the previous (sharded) output byte-identical and says so", async () => {
  await withModels(async (root, single, sharded) => {
    const out = path.join(root, "prev");
    await share(sharded, out, 0.25, "compact");
    const before = snapshot(out);
    // cancel after the first tensors were written
    const ac = new AbortController();
    const ck = await openCheckpoint(single);
    let n = 0;
    try {
      await assert.rejects(
        writeShared(ck, plan(0.5), {
          format: "dense",
          outDir: out,
          force: true,
          signal: ac.signal,
          onProgress: () => {
            if (++n === 3) ac.abort();
          },
        }),
        (e: unknown) => e instanceof ShareError && e.code === "aborted" && /previous output was kept unchanged/.test(e.message),
      );
    } finally {
      await ck.close();
    }
    assert.ok(n >= 3, "the cancel came mid-write");
    assert.deepEqual(snapshot(out), before, "cancel: previous output unchanged");
    assert.deepEqual(leftovers(root), [], "cancel: staging and lock removed");
    // a disk that fills up mid-write
    const restore = await simulateDiskFull(2000);
    try {
      await assert.rejects(
        share(single, out, 0.5, "dense", { force: true }),
        (e: unknown) => e instanceof Error && /ENOSPC|space/i.test(e.message) && /previous output was kept/.test(e.message),
      );
    } finally {
      restore();
    }
    assert.deepEqual(snapshot(out), before, "ENOSPC: previous output unchanged");
    assert.deepEqual(leftovers(root), []);
    // and the replace itself: a single-file output over a sharded one leaves no old shard or index
    await share(single, out, 0.5, "dense", { force: true });
    assert.deepEqual(fs.readdirSync(out).sort(), ["config.json", "model.safetensors", "tokenizer_config.json"]);
  });
});

test("output: too little free space is refused up front naming both sizes; nothing is created", async () => {
  await withModels(async (root, single) => {
    const out = path.join(root, "out");
    process.env.HEADSHARE_TEST_FREE_BYTES = String(4096);
    try {
      await assert.rejects(
        share(single, out, 0.5, "compact"),
        (e: unknown) => e instanceof ShareError && /not enough free space .* needs about .* has .* free; nothing was written/.test(e.message),
      );
    } finally {
      delete process.env.HEADSHARE_TEST_FREE_BYTES;
    }
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(leftovers(root), []);
  });
});

test("output: two writers of one folder: exactly one wins, the other is refused naming the owner, the folder is exactly the winner's output", async () => {
  await withModels(async (root, single) => {
    const out = path.join(root, "both");
    const ref3 = path.join(root, "ref3"),
      ref6 = path.join(root, "ref6");
    await share(single, ref3, 0.3, "dense");
    await share(single, ref6, 0.6, "dense");
    const results = await Promise.allSettled([share(single, out, 0.3, "dense", { force: true }), share(single, out, 0.6, "dense", { force: true })]);
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(ok.length, 1, `one writer succeeds (${results.map((r) => r.status).join(", ")})`);
    assert.match(String(refused[0]!.reason?.message), /is being written by headshare pid \d+ on .*nothing was changed/);
    const winner = results[0]!.status === "fulfilled" ? ref3 : ref6;
    assert.deepEqual(snapshot(out), snapshot(winner), "the folder is exactly the successful run's output");
    // --wait: the second writer waits for the first and then replaces its output
    const lock = await lockOutput(out, { what: "a test holding the lock" });
    const waiting = share(single, out, 0.6, "dense", { force: true, wait: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(snapshot(out), snapshot(winner), "nothing changes while the lock is held");
    await lock.release();
    await waiting;
    assert.deepEqual(snapshot(out), snapshot(ref6));
    assert.deepEqual(leftovers(root), []);
  });
});

test("output: a stale lock (dead owner, or a reused PID with another start time) is broken; another host's lock is not", async () => {
  const root = scratchDir("outlock");
  try {
    const out = path.join(root, "o");
    const me = myOwnerTag();
    const write = (owner: string, pid: number) => fs.writeFileSync(lockPathFor(out), JSON.stringify({ pid, host: "h", owner, started: "then", what: "x" }));
    write(formatOwner({ ...me, pid: deadPid() }), 1);
    assert.equal(await lockHolder(out), undefined, "a dead owner's lock holds nothing (the extension does not ask)");
    (await lockOutput(out, { what: "t" })).release();
    // our own PID with another start time: a PID reused after the owner died (or a container's PID)
    write(formatOwner({ ...me, life: me.life === "00000000" ? "00000001" : "00000000" }), process.pid);
    const l2 = await lockOutput(out, { what: "t" });
    await l2.release();
    assert.equal(fs.existsSync(lockPathFor(out)), false);
    // another host / PID namespace: liveness unknown, so the lock stands
    write(formatOwner({ ...me, host: me.host === "000000" ? "000001" : "000000" }), 4242);
    assert.deepEqual(await lockHolder(out), { who: "headshare pid 4242 on h (x, started then)", state: "unknown", file: lockPathFor(out) });
    await assert.rejects(
      lockOutput(out, { what: "t" }),
      (e: unknown) => e instanceof OutputError && e.code === "locked" && /another host or container.*delete/.test(e.message),
    );
    // a live owner with the right tag (this process)
    fs.rmSync(lockPathFor(out));
    const held = await lockOutput(out, { what: "first" });
    const h = await lockHolder(out);
    assert.equal(h?.state, "alive");
    assert.match(h!.who, new RegExp(`^headshare pid ${process.pid} on .* \\(first, started `), "the owner's details the extension shows");
    await assert.rejects(
      lockOutput(out, { what: "second" }),
      (e: unknown) => e instanceof OutputError && e.code === "locked" && /\(first, started/.test(e.message),
    );
    await held.release();
    assert.equal(await lockHolder(out), undefined, "free after release");
    // a breaker killed after removing the stale lock but before removing itself: the next holder clears
    // it; a live breaker (this process) is left to its owner
    const breaker = `${lockPathFor(out)}.break`;
    fs.writeFileSync(
      breaker,
      JSON.stringify({ pid: 1, host: "h", owner: formatOwner({ ...me, pid: deadPid() }), started: "then", what: "breaking a stale lock" }),
    );
    await (await lockOutput(out, { what: "t" })).release();
    assert.equal(fs.existsSync(breaker), false, "a dead breaker is removed by the next lock holder");
    fs.writeFileSync(breaker, JSON.stringify({ pid: process.pid, host: "h", owner: formatOwner(me), started: "now", what: "breaking a stale lock" }));
    await (await lockOutput(out, { what: "t" })).release();
    assert.equal(fs.existsSync(breaker), true, "a live breaker is kept");
    fs.rmSync(breaker);
  } finally {
    removeDir(root);
  }
});

test("output: a waiting writer is told once whom it waits for (one line of at most 200 characters, whatever the lock file says); checkNotLocked refuses a live owner early, not a dead one", async () => {
  const root = scratchDir("outwait");
  try {
    const out = path.join(root, "o");
    const me = myOwnerTag();
    // a live owner (this process) whose lock file carries a 1000-character "what"
    const long = "x".repeat(1000);
    fs.writeFileSync(lockPathFor(out), JSON.stringify({ pid: process.pid, host: "h", owner: formatOwner(me), started: "now", what: long }));
    const told: string[] = [];
    await assert.rejects(
      lockOutput(out, { what: "t", wait: 600, pollMs: 100, onWait: (p) => told.push(p) }),
      (e: unknown) => e instanceof OutputError && e.code === "locked",
    );
    assert.equal(told.length, 1, "told once, not at every poll");
    assert.equal(told[0]!.length, 200);
    assert.match(told[0]!, new RegExp(`^waiting for headshare pid ${process.pid} on h \\(x+… to finish$`), "the description cut, the line whole");
    await assert.rejects(
      checkNotLocked(out),
      (e: unknown) => e instanceof OutputError && e.code === "locked" && /is being written by headshare pid/.test(e.message),
    );
    // a dead owner: nothing to refuse (the writer breaks the stale lock when it takes it)
    fs.writeFileSync(lockPathFor(out), JSON.stringify({ pid: 1, host: "h", owner: formatOwner({ ...me, pid: deadPid() }), started: "then", what: "x" }));
    await checkNotLocked(out);
    fs.rmSync(lockPathFor(out));
    await checkNotLocked(out);
    // a short description is told whole
    const held = await lockOutput(out, { what: "first" });
    const short: string[] = [];
    await assert.rejects(lockOutput(out, { what: "second", wait: 300, pollMs: 100, onWait: (p) => short.push(p) }));
    assert.match(short[0]!, new RegExp(`^waiting for headshare pid ${process.pid} on .+ \\(first, started [^)]+\\) to finish$`));
    await held.release();
  } finally {
    removeDir(root);
  }
});

test("output: cleanStale removes only dead owners' temporaries and puts back an output moved aside by a killed swap", async () => {
  const root = scratchDir("outclean");
  try {
    const me = myOwnerTag();
    const dead = formatOwner({ ...me, pid: deadPid() });
    const other = formatOwner({ ...me, host: me.host === "000000" ? "000001" : "000000" });
    const names = {
      deadStage: `.headshare-tmp-out-${dead}-0123abcd`,
      deadAside: `.headshare-tmp-out-${dead}-89abcdef.old`,
      deadFile: `.headshare-tmp-model.safetensors-${dead}-00000000`,
      mine: path.basename(tempPathFor(path.join(root, "model.safetensors"))),
      otherHost: `.headshare-tmp-x-${other}-11111111`,
    };
    for (const [k, n] of Object.entries(names)) {
      if (k === "deadStage" || k === "deadAside") {
        fs.mkdirSync(path.join(root, n));
        fs.writeFileSync(path.join(root, n, "f"), k);
      } else fs.writeFileSync(path.join(root, n), k);
    }
    const pm = parseTempName(names.mine);
    assert.ok(pm && "owner" in pm && ownerLiveness(pm.owner) === "alive", "this process's temporary is alive");
    const r = await cleanStale(root);
    assert.deepEqual(r.restored, [names.deadAside], "the aside is put back where its target is missing");
    assert.deepEqual(r.removed.sort(), [names.deadFile, names.deadStage].sort());
    assert.deepEqual(fs.readdirSync(root).sort(), [names.mine, names.otherHost, "out"].sort());
    assert.equal(fs.readFileSync(path.join(root, "out", "f"), "utf8"), "deadAside");
  } finally {
    removeDir(root);
  }
});

test("output: path rules: a missing or unwritable parent, the input folder, a folder holding other files — each refused with what to do, nothing created", async () => {
  await withModels(async (root, single) => {
    const rules: [string, RegExp, object?][] = [
      [path.join(root, "missing", "out"), /parent folder .*missing does not exist; create it first/],
      [single, /input model's folder/, { force: true }],
      [path.join(single, "inner"), /inside the input model's folder/],
    ];
    for (const [out, re, extra] of rules)
      await assert.rejects(share(single, out, 0.5, "compact", extra ?? {}), (e: unknown) => e instanceof ShareError && re.test(e.message), out);
    const notes = path.join(root, "notes");
    fs.mkdirSync(notes);
    fs.writeFileSync(path.join(notes, "model.safetensors"), "x");
    fs.writeFileSync(path.join(notes, "my-notes.txt"), "mine");
    await assert.rejects(
      share(single, notes, 0.5, "compact", { force: true }),
      (e: unknown) => e instanceof ShareError && /holds files that are not a checkpoint's \(my-notes\.txt\)/.test(e.message),
    );
    assert.equal(fs.readFileSync(path.join(notes, "my-notes.txt"), "utf8"), "mine");
    if (os.userInfo().uid !== 0) {
      const ro = path.join(root, "ro");
      fs.mkdirSync(ro, { mode: 0o555 });
      await assert.rejects(
        stageOutputFolder({ out: path.join(ro, "x"), what: "t" }),
        (e: unknown) => e instanceof OutputError && e.code === "not-writable" && /not writable/.test(e.message),
      );
    }
    assert.deepEqual(leftovers(root), []);
  });
});
