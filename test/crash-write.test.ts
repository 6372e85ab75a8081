/**
 * Crash safety of every writer: SIGKILL at many kill points (every mutating file-system call,
 * torn writes included) and at random times while writing dense, sharded, compact and expanded
 * outputs; the input stays byte-identical, no final name ever holds a partial file, leftover
 * temporaries are `.headshare-tmp-*` and the next run cleans them. See test/crash/harness.ts.
 * HEADSHARE_CRASH_POINTS=N tests up to N kill points per job (default 14, spread over the job plus seeded random ones; "all" for every one).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { CHILD_ENV, crashTestJob, type ChildSpec } from "./crash/harness";
import { JOBS, prepareInputs, REPLACES, WHOLE } from "./crash/jobs";
import { installKillPoints, opsSoFar } from "./crash/killpoints";
import { removeDir, scratchDir } from "./fuzz/tmp";

async function childRole(spec: ChildSpec): Promise<void> {
  const job = JOBS[spec.job];
  if (!job) throw new Error(`unknown crash job ${spec.job}`);
  await installKillPoints(spec.killAt);
  await job(spec.input, spec.out);
  process.stdout.write(`OPS ${opsSoFar()}\n`);
}

const childSpec = process.env[CHILD_ENV];
if (childSpec) {
  childRole(JSON.parse(childSpec) as ChildSpec).catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(3);
  });
} else {
  const envPoints = process.env.HEADSHARE_CRASH_POINTS;
  const maxPoints = envPoints === "all" ? Number.MAX_SAFE_INTEGER : Number(envPoints ?? 14);
  let root = "";
  let input = "";
  test.before(async () => {
    root = scratchDir("crash");
    input = path.join(root, "inputs");
    await prepareInputs(input);
  });
  test.after(() => removeDir(root));

  for (const [i, job] of Object.keys(JOBS).entries()) {
    test(`crash: ${job} output survives SIGKILL at kill points and at random times`, { timeout: 120_000 }, async () => {
      const priorJob = REPLACES[job];
      const prior = priorJob ? path.join(root, `prior-${job}`) : undefined;
      if (priorJob && prior) {
        const { runChild } = await import("./crash/harness");
        const r = await runChild(__filename, { job: priorJob, input, out: prior, killAt: 0 });
        assert.equal(r.code, 0, r.stderr);
      }
      const r = await crashTestJob(
        __filename,
        job,
        input,
        input,
        path.join(root, `out-${job}`),
        path.join(root, `ref-${job}`),
        maxPoints,
        3,
        1000 + i,
        prior,
        WHOLE[job],
      );
      const o = r.outcomes ? `; after recovery the folder was old ${r.outcomes.old} / new ${r.outcomes.new} / absent ${r.outcomes.absent} times` : "";
      console.log(
        `crash ${job}: ${r.ops} kill points in the job, ${r.killPoints} tested + ${r.externalKills} external kills, ${r.tempsSeen} leftover temporaries seen and cleaned${o}, ${r.seconds.toFixed(1)} s`,
      );
      assert.ok(fs.existsSync(path.join(root, `out-${job}`)));
    });
  }
}

if (!childSpec) {
  test("crash: cleanStaleTemps removes only temporaries of dead writers", async () => {
    const { cleanStaleTemps } = await import("../src/core/safetensors/writer");
    const dir = scratchDir("stale");
    try {
      const { spawnSync } = await import("node:child_process");
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout.trim();
      const names = {
        dead: `.headshare-tmp-model.safetensors-${dead}-0123abcd`,
        mine: `.headshare-tmp-model.safetensors-${process.pid}-0123abcd`,
        parent: `.headshare-tmp-config.json-${process.ppid}-89abcdef`,
        other: ".headshare-tmp-notes",
        user: "model.safetensors",
      };
      for (const n of Object.values(names)) fs.writeFileSync(path.join(dir, n), "x");
      const removed = await cleanStaleTemps(dir);
      assert.deepEqual(removed, [names.dead]);
      assert.deepEqual(fs.readdirSync(dir).sort(), [names.mine, names.parent, names.other, names.user].sort());
    } finally {
      removeDir(dir);
    }
  });
}

if (!childSpec) {
  test("crash: replacing a sharded output never deletes the index of a checkpoint being read", async () => {
    const { openShardedSafetensors, writeShardedSafetensors } = await import("../src/core/safetensors");
    const dir = scratchDir("own-index");
    try {
      await writeSyntheticModel(dir, { family: "llama", layers: 2, heads: 2, headDim: 4, intermediate: 8, vocab: 16, seed: 3, shards: 2 });
      const before = fs.readFileSync(path.join(dir, "model.safetensors.index.json"));
      const src = await openShardedSafetensors(path.join(dir, "model.safetensors.index.json"));
      try {
        const copies = src.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.readBytes(t.name) }));
        await assert.rejects(writeShardedSafetensors(dir, copies, 3), (e: unknown) => (e as { code?: string }).code === "overwrite-input");
      } finally {
        await src.close();
      }
      assert.deepEqual(fs.readFileSync(path.join(dir, "model.safetensors.index.json")), before, "the input's index is untouched");
      assert.ok(!fs.readdirSync(dir).some((n) => n.includes("-of-00003")), "no new shards written next to the input");
    } finally {
      removeDir(dir);
    }
  });
}
