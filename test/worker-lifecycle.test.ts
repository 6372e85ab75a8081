// The worker process lifecycle through WorkerClient: real child processes, with a test job table.
// This file is also its own worker: forked with HEADSHARE_TEST_WORKER_ROLE set, it serves a job
// table whose `headshare/inspect` handler obeys the path it is given (/t/sleep/200, /t/crash, …),
// so no test-only job ships in dist/worker.js.
import test from "node:test";
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { RpcError } from "../src/protocol/rpc";
import type { Progress } from "../src/protocol/worker";
import { runWorkerProcess } from "../src/worker/ipc";
import type { JobTable } from "../src/worker/serve";
import { WorkerClient, type ClientStatus } from "../src/host/workerClient";

const role = process.env.HEADSHARE_TEST_WORKER_ROLE;

class TestJobError extends Error {
  readonly code = "test-error";
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(new Error("aborted"));
      },
      { once: true },
    );
  });

/** A well-formed (empty) checkpoint summary whose metadata carries what the test job wants to report. */
function summary(meta: Record<string, string | number>) {
  return {
    path: "/t",
    weights: "/t",
    config: null,
    architecture: null,
    family: null,
    layers: null,
    heads: null,
    kvHeads: null,
    headDim: null,
    hidden: null,
    intermediate: null,
    vocab: null,
    tiedEmbeddings: null,
    parameters: 0,
    buffers: { tensors: 0, elements: 0 },
    bytes: 0,
    fileBytes: 0,
    dtypes: {},
    attentionParameters: null,
    attentionShare: null,
    tensors: [],
    plan: null,
    compact: false,
    denseParameters: 0,
    modelError: null,
    metadata: Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, String(v)])),
  };
}
const meta = (r: { summary: { metadata: Record<string, string> } }) => r.summary.metadata;

const testTable: JobTable = {
  "headshare/inspect": {
    label: (p) => path.basename(p.model),
    async run(p, ctx) {
      const [, , what, arg] = p.model.split("/");
      switch (what) {
        case "echo":
          return { summary: summary({ name: arg!, pid: process.pid, providers: JSON.stringify(ctx.providers) }), provider: "none" };
        case "sleep": {
          const ms = Number(arg);
          for (let t = 0; t < ms; t += 10) {
            ctx.progress({ phase: "sleeping", done: t, total: ms });
            await sleep(10, ctx.signal);
          }
          ctx.progress({ phase: "sleeping", done: ms, total: ms });
          return { summary: summary({ slept: ms }), provider: "cpu" };
        }
        case "crash":
          setTimeout(() => {
            process.stderr.write("test worker: about to crash\n");
            process.exit(7);
          }, 20);
          return sleep(10_000, ctx.signal).then(() => ({ summary: summary({}), provider: "none" as const }));
        case "hang": {
          await sleep(20);
          const end = Date.now() + 60_000;
          while (Date.now() < end) {
            /* blocks the event loop */
          }
          return { summary: summary({}), provider: "none" };
        }
        case "oom": {
          const keep: number[][] = [];
          for (;;) keep.push(new Array(1e6).fill(keep.length));
        }
        case "throw":
          throw new TestJobError(`${p.model}: the test job failed on purpose; nothing to do`);
        case "tmpfile": {
          // Writes a temporary file and removes it when cancelled (what the real writers do).
          const tmp = path.join(decodeURIComponent(arg!), ".headshare-tmp-test");
          fs.writeFileSync(tmp, "partial");
          try {
            await sleep(10_000, ctx.signal);
          } finally {
            fs.rmSync(tmp, { force: true });
          }
          return { summary: summary({}), provider: "none" };
        }
        default:
          throw new Error(`unknown test instruction ${p.model}`);
      }
    },
  },
};

if (role === "worker") {
  runWorkerProcess(testTable);
} else if (role === "crash-at-start") {
  process.stderr.write("test worker: cannot load the native runtime (simulated)\n");
  process.exit(3);
} else if (role === "silent") {
  setInterval(() => undefined, 1000); // never answers the handshake
} else {
  registerTests();
}

function client(extra: ConstructorParameters<typeof WorkerClient>[0] = {}, roleName = "worker"): WorkerClient {
  return new WorkerClient({ workerPath: __filename, env: { HEADSHARE_TEST_WORKER_ROLE: roleName }, ...extra });
}
const inspect = (c: WorkerClient, what: string, opts: Parameters<WorkerClient["request"]>[2] = {}) =>
  c.request("headshare/inspect", { model: `/t/${what}` }, opts);
const isRpc = (code: string, re?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof RpcError, `expected an RpcError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function registerTests(): void {
  test("worker: lazy start, typed round trip, providers passed, progress and status events", async () => {
    const c = client({ providers: ["cpu"] });
    const statuses: ClientStatus[] = [];
    c.onStatus((s) => statuses.push(s));
    assert.equal(c.pid, undefined, "nothing started before the first request");
    const r = await inspect(c, "echo/hello");
    assert.deepEqual(meta(r), { name: "hello", pid: String(c.pid), providers: '["cpu"]' });
    const progress: Progress[] = [];
    const t0 = Date.now();
    const slept = await inspect(c, "sleep/600", { onProgress: (p) => progress.push(p) });
    const ms = Date.now() - t0;
    assert.deepEqual(meta(slept), { slept: "600" });
    assert.equal(slept.provider, "cpu");
    assert.ok(progress.length >= 2, `got ${progress.length} progress events`);
    assert.ok(progress.length <= Math.ceil(ms / 250) + 2, `${progress.length} events in ${ms} ms exceeds 4/s + phase/final`);
    assert.deepEqual(progress.at(-1), { job: progress[0]!.job, phase: "sleeping", done: 600, total: 600 });
    assert.ok(statuses.some((s) => s.state === "computing" && "job" in s && s.job?.method === "headshare/inspect" && s.job.label === "600"));
    await waitFor(() => c.status.state === "idle");
    assert.equal(c.status.provider, "cpu");
    assert.equal(c.starts, 1);
    await c.dispose();
  });

  test("worker: a job that throws rejects with its typed error; the worker lives on", async () => {
    const c = client();
    await inspect(c, "echo/x");
    const pid = c.pid;
    await assert.rejects(inspect(c, "throw"), isRpc("test-error", /the test job failed on purpose/));
    await waitFor(() => c.status.state === "error");
    assert.match(c.status.message ?? "", /headshare\/inspect #\d+ \(throw\) failed/);
    assert.equal(Number(meta(await inspect(c, "echo/y")).pid), pid);
    await c.dispose();
  });

  test("worker: killed mid-job → error naming the job, and the next request starts a fresh worker", async () => {
    const c = client();
    await inspect(c, "echo/a");
    const pid1 = c.pid!;
    const job = inspect(c, "sleep/5000");
    const other = c.request("headshare/inspect", { model: "/t/sleep/4000" }, { label: "second job" });
    await new Promise((r) => setTimeout(r, 100));
    process.kill(pid1, "SIGKILL");
    await assert.rejects(
      job,
      isRpc(
        "worker-exited",
        /^headshare\/inspect #\d+ \(5000\) failed: the compute worker exited unexpectedly \(signal SIGKILL: most likely out of memory .*run on a machine or container with more memory, or on a smaller model\)\. The next request starts a fresh worker\./,
      ),
    );
    await assert.rejects(other, isRpc("worker-exited", /\(second job\) failed/));
    assert.equal(c.status.state, "error");
    const r = await inspect(c, "echo/b");
    assert.notEqual(Number(meta(r).pid), pid1);
    assert.equal(c.starts, 2);
    await c.dispose();
  });

  test("worker: a crash mid-job reports the exit code and the worker's last output", async () => {
    const c = client();
    await assert.rejects(
      inspect(c, "crash"),
      isRpc(
        "worker-exited",
        /headshare\/inspect #\d+ \(crash\) failed: the compute worker exited unexpectedly \(exit code 7\); its last output: test worker: about to crash/,
      ),
    );
    assert.equal(meta(await inspect(c, "echo/again")).name, "again");
    await c.dispose();
  });

  test("worker: out of memory is reported as such", async () => {
    const c = client({ execArgv: ["--max-old-space-size=48"] });
    await assert.rejects(
      inspect(c, "oom"),
      isRpc("worker-exited", /headshare\/inspect #\d+ \(oom\) failed: the compute worker exited unexpectedly \([^)]*out of memory\)/),
    );
    await c.dispose();
  });

  test("worker: a job hung past its timeout is rejected and the worker replaced", async () => {
    const c = client({ jobTimeoutMs: { "headshare/inspect": 400 } });
    const pid1 = Number(meta(await inspect(c, "echo/a")).pid);
    const bystander = inspect(c, "sleep/3000", { timeoutMs: 0 });
    const t0 = Date.now();
    await assert.rejects(
      inspect(c, "hang"),
      isRpc("timeout", /headshare\/inspect #\d+ \(hang\) did not finish within 400 ms; the worker was stopped \(presumed hung\)/),
    );
    assert.ok(Date.now() - t0 < 2000);
    await assert.rejects(
      bystander,
      isRpc("worker-exited", /the compute worker was stopped because headshare\/inspect #\d+ \(hang\) did not finish within 400 ms/),
    );
    await waitFor(() => !alive(pid1));
    assert.notEqual(Number(meta(await inspect(c, "echo/b")).pid), pid1);
    await c.dispose();
  });

  test("worker: cancellation aborts the job cleanly and keeps the worker; an ignored cancel kills it", async () => {
    const dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? "/tmp"), "hs-worker-"));
    const c = client({ cancelGraceMs: 300 });
    const pid = Number(meta(await inspect(c, "echo/a")).pid);
    const ac = new AbortController();
    const job = inspect(c, `tmpfile/${encodeURIComponent(dir)}`, { signal: ac.signal });
    await waitFor(() => fs.existsSync(path.join(dir, ".headshare-tmp-test")));
    ac.abort();
    await assert.rejects(job, isRpc("cancelled", /headshare\/inspect #\d+ .*was cancelled/));
    assert.deepEqual(fs.readdirSync(dir), [], "the job removed its temporary file before answering");
    assert.equal(Number(meta(await inspect(c, "echo/b")).pid), pid, "same worker after a clean cancel");
    // A job that blocks the event loop cannot confirm: after the grace period the worker is killed.
    const ac2 = new AbortController();
    const hung = inspect(c, "hang", { signal: ac2.signal });
    await new Promise((r) => setTimeout(r, 100));
    ac2.abort();
    await assert.rejects(hung, isRpc("cancelled", /did not confirm within 300 ms/));
    await waitFor(() => !alive(pid as number));
    assert.notEqual(Number(meta(await inspect(c, "echo/c")).pid), pid);
    await c.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("worker: crash at start and a silent worker give start errors; nothing hangs", async () => {
    const c = client({}, "crash-at-start");
    await assert.rejects(
      inspect(c, "echo/a"),
      isRpc(
        "worker-start-failed",
        /failed to start: the compute worker (was stopped because it failed to start|exited unexpectedly) \(exit code 3\); its last output: test worker: cannot load the native runtime/,
      ),
    );
    await assert.rejects(inspect(c, "echo/a"), isRpc("worker-start-failed"));
    assert.equal(c.starts, 2, "each request tries a fresh worker");
    await c.dispose();
    const s = client({ startTimeoutMs: 500 }, "silent");
    await assert.rejects(inspect(s, "echo/a"), isRpc("worker-start-failed", /did not answer within 500 ms of starting/));
    await s.dispose();
  });

  test("worker: missing worker script, invalid params and disposed client are refused without starting anything", async () => {
    const m = new WorkerClient({ workerPath: "/nonexistent/dist/worker.js" });
    await assert.rejects(inspect(m, "echo/a"), isRpc("worker-missing", /\/nonexistent\/dist\/worker\.js does not exist\. Build it with `npm run build`/));
    const c = client();
    await assert.rejects(c.request("headshare/inspect", { model: "relative/path" }), isRpc("invalid-params", /model: .*absolute path/));
    assert.equal(c.starts, 0);
    const pending = inspect(c, "sleep/5000").then(
      () => "resolved",
      (e: unknown) => e,
    );
    await waitFor(() => c.status.state === "computing");
    const pid = c.pid!;
    await c.dispose();
    assert.ok(isRpc("disposed", /was abandoned: the worker client was disposed/)(await pending));
    assert.equal(alive(pid), false);
    assert.equal(c.status.state, "stopped");
    await assert.rejects(inspect(c, "echo/a"), isRpc("disposed"));
  });

  test("worker: SIGINT is left to the parent; a disconnected parent makes the worker clean up and exit", async () => {
    const c = client();
    const pid = Number(meta(await inspect(c, "echo/a")).pid);
    process.kill(pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(Number(meta(await inspect(c, "echo/b")).pid), pid);
    await c.dispose();
    // Parent disconnect: fork the worker directly, start a job that holds a temp file, then disconnect.
    const dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? "/tmp"), "hs-worker-"));
    const child = fork(__filename, [], {
      env: { ...process.env, HEADSHARE_TEST_WORKER_ROLE: "worker" },
      serialization: "advanced",
      stdio: ["ignore", "ignore", "ignore", "ipc"],
      execArgv: [],
    });
    child.send({ kind: "request", id: 1, method: "headshare/initialize", params: { protocolVersion: 1 } });
    child.send({ kind: "request", id: 2, method: "headshare/inspect", params: { model: `/t/tmpfile/${encodeURIComponent(dir)}` } });
    await waitFor(() => fs.existsSync(path.join(dir, ".headshare-tmp-test")));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.disconnect();
    assert.equal(await exited, 0);
    assert.deepEqual(fs.readdirSync(dir), []);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test(
    "worker: the built dist/worker.js starts, shakes hands and answers a bad job with a typed error",
    { skip: fs.existsSync(path.resolve(__dirname, "../../dist/worker.js")) ? false : "dist/worker.js is not built" },
    async () => {
      const c = new WorkerClient({ workerPath: path.resolve(__dirname, "../../dist/worker.js") });
      // A malformed match table is refused on this side, before any worker starts.
      await assert.rejects(c.request("headshare/plan", { table: { format: "headshare.match" } as never, ratio: 0.3 }), isRpc("invalid-params"));
      assert.equal(c.starts, 0);
      await assert.rejects(c.request("headshare/inspect", { model: "/nonexistent/model" }), (e: unknown) => {
        assert.ok(e instanceof RpcError && e.code !== "worker-exited" && e.code !== "worker-start-failed" && e.code !== "internal", String(e));
        assert.match(e.message, /\/nonexistent\/model/);
        assert.match(e.job ?? "", /^headshare\/inspect #\d+ \(model\)$/);
        return true;
      });
      assert.equal(c.starts, 1);
      await c.dispose();
    },
  );
}
