/**
 * Crash safety through the real compute worker (dist/worker.js), complementing
 * test/worker-lifecycle.test.ts (which covers kills, crashes, hangs and start failures with test
 * jobs): a real `headshare/share` job killed while it writes — by SIGKILL when its write phase
 * starts, and by per-job timeouts that fire at spread-out moments (the client then kills the
 * "hung" worker). Each time the caller gets an error naming the job, the input is byte-identical,
 * the output folder is absent or complete, and only `.headshare-tmp-*` staging remains; the next
 * job starts a fresh worker, succeeds, and leaves no temporaries.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { RpcError } from "../src/protocol/rpc";
import type { MatchTable } from "../src/core/share/types";
import { WorkerClient } from "../src/host/workerClient";
import { LOCK_PREFIX, snapshot, TEMP_PREFIX } from "./crash/harness";
import { syntheticTable } from "./crash/table";
import { removeDir, scratchDir } from "./fuzz/tmp";

const ROOT = path.resolve(__dirname, "../..");
const WORKER = path.join(ROOT, "dist", "worker.js");
/** ~30 MB of F32: large enough that a write takes a while, small enough for CI. */
const MODEL = { family: "llama" as const, layers: 4, heads: 8, kvHeads: 4, headDim: 64, intermediate: 768, vocab: 4096, seed: 21 };

function table(): MatchTable {
  return syntheticTable(MODEL.layers, MODEL.kvHeads, 5);
}

/** Kill points (k-th mutating fs call in the worker) — spread over a share job's ~20-40 calls. */
const KILL_POINTS = [1, 2, 4, 7, 11, 16];
/** Preloaded into the worker (`--require`): SIGKILL at the k-th write/rename/mkdir/copy. */
const KILLPOINT_PRELOAD = `
const fs = require("node:fs"), fsp = require("node:fs/promises");
const at = Number(process.env.HEADSHARE_TEST_KILL_AT || 0); let n = 0;
const tick = () => { if (at && ++n === at) process.kill(process.pid, "SIGKILL"); };
for (const name of ["rename", "mkdir", "copyFile", "rm", "writeFile"]) { const o = fsp[name]; fsp[name] = function (...a) { tick(); return o.apply(this, a); }; }
fsp.open(__filename, "r").then((fh) => { const p = Object.getPrototypeOf(fh); fh.close();
  for (const name of ["write", "sync", "close"]) { const o = p[name]; p[name] = function (...a) { tick(); return o.apply(this, a); }; } });
`;

function checkParent(parent: string, ref: ReadonlyMap<string, string>, what: string): number {
  let temps = 0;
  for (const [name, hash] of snapshot(parent)) {
    if (name.split("/").some((p) => p.startsWith(TEMP_PREFIX) || p.startsWith(LOCK_PREFIX))) {
      temps++;
      continue;
    }
    assert.ok(ref.has(name), `${what}: unexpected file ${name}`);
    assert.equal(hash, ref.get(name), `${what}: ${name} is under its final name but incomplete`);
  }
  return temps;
}

test(
  "crash: a share job in the real worker, killed or timed out mid-write, leaves nothing half-written; the next job gets a fresh worker",
  { skip: fs.existsSync(WORKER) ? false : `${WORKER} is not built (npm test builds it)`, timeout: 120_000 },
  async () => {
    const root = scratchDir("crash-worker");
    const client = new WorkerClient({ workerPath: WORKER, providers: ["cpu"] });
    try {
      const input = await writeSyntheticModel(path.join(root, "input"), MODEL);
      const inputBefore = snapshot(input);
      const params = (out: string) => ({ model: input, ratio: 0.5, out, format: "compact" as const, table: table() as never });

      // The reference output, written by the worker without interruption.
      const refParent = path.join(root, "ref");
      for (const d of ["warm", "ref", "out"]) fs.mkdirSync(path.join(root, d)); // an output's parent must exist
      const tc = performance.now();
      await client.request("headshare/share", params(path.join(root, "warm", "shared"))); // starts the worker
      const coldMs = performance.now() - tc;
      const t0 = performance.now();
      await client.request("headshare/share", params(path.join(refParent, "shared")));
      const refMs = performance.now() - t0;
      const ref = snapshot(refParent);
      assert.ok(ref.has("shared/model.safetensors") && ref.has("shared/config.json"));

      const parent = path.join(root, "out");
      const out = path.join(parent, "shared");
      let kills = 0,
        temps = 0,
        pointKills = 0;
      // 1. Deterministic kill points inside the real worker: a preload SIGKILLs it at its k-th write/rename.
      const preload = path.join(root, "killpoint-preload.js");
      fs.writeFileSync(preload, KILLPOINT_PRELOAD);
      for (const k of KILL_POINTS) {
        const killing = new WorkerClient({
          workerPath: WORKER,
          providers: ["cpu"],
          execArgv: ["--require", preload],
          env: { HEADSHARE_TEST_KILL_AT: String(k) },
        });
        try {
          const res = await killing.request("headshare/share", params(out), { label: `kill point ${k}` }).then(
            () => "completed",
            (e: unknown) => e,
          );
          if (res !== "completed") {
            assert.ok(
              res instanceof RpcError && res.code === "worker-exited" && res.message.includes(`(kill point ${k}) failed`) && /SIGKILL/.test(res.message),
              `error names the job: ${String(res)}`,
            );
            pointKills++;
          } else fs.rmSync(out, { recursive: true, force: true });
        } finally {
          await killing.dispose();
        }
        assert.deepEqual(snapshot(input), inputBefore, "the input is byte-identical");
        temps += checkParent(parent, ref, `kill point ${k}`);
      }
      assert.ok(pointKills >= 4, `only ${pointKills} of ${KILL_POINTS.length} kill points were reached`);
      kills += pointKills;
      // 2. Per-job timeouts at spread-out moments: the client kills the "hung" worker.
      const starts0 = client.starts;
      for (const frac of [0.2, 0.4, 0.6, 0.8]) {
        // After a timeout kill the next job also starts a worker (coldMs); otherwise the worker is warm.
        const timeoutMs = Math.max(3, Math.round((client.pid ? 0 : Math.max(0, coldMs - refMs)) + refMs * frac));
        const res = await client.request("headshare/share", params(out), { label: `timeout ${timeoutMs}`, timeoutMs }).then(
          () => "completed",
          (e: unknown) => e,
        );
        if (res !== "completed") {
          assert.ok(
            res instanceof RpcError && res.code === "timeout" && /headshare\/share #\d+ \(timeout \d+\)/.test(res.message),
            `timeout error names the job: ${String(res)}`,
          );
          kills++;
        } else fs.rmSync(out, { recursive: true, force: true });
        assert.deepEqual(snapshot(input), inputBefore, "the input is byte-identical");
        temps += checkParent(parent, ref, `timeout ${timeoutMs} ms`);
      }

      // Regression (found here): the request right after a timeout kill must go to a fresh worker,
      // not to the dying one (it failed with "the compute worker was stopped because … did not finish").
      await assert.rejects(
        client.request("headshare/share", params(out), { label: "1 ms", timeoutMs: 1 }),
        (e: unknown) => e instanceof RpcError && e.code === "timeout",
      );
      await client.request("headshare/inspect", { model: input }, { label: "right after the timeout" });
      if (fs.existsSync(out)) checkParent(parent, ref, "after the 1 ms timeout");
      // 3. The next job: a fresh worker, a complete output, no temporaries left.
      if (fs.existsSync(out)) fs.rmSync(out, { recursive: true, force: true });
      await client.request("headshare/share", params(out), { label: "final" });
      if (kills > pointKills) assert.ok(client.starts > starts0, "a fresh worker was started after the timeout kills");
      assert.deepEqual(snapshot(parent), ref, "after a complete run only the complete output remains (staging of killed runs cleaned)");
      console.log(
        `crash worker: reference share ${refMs.toFixed(0)} ms; ${pointKills} of ${KILL_POINTS.length} kill points hit and ${kills - pointKills} of 4 timeouts fired mid-job; ${temps} leftover temporaries seen, all cleaned by the next job`,
      );
    } finally {
      await client.dispose();
      removeDir(root);
    }
  },
);
