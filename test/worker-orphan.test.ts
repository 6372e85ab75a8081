/**
 * Workers die with their caller (issue 18, findings 3 and 4): SIGKILL of the CLI while its worker
 * writes a shared checkpoint, and while it evaluates; within 10 s no worker process and no staging
 * remain. And the parent watch alone (src/worker/parentWatch.ts): a process whose main thread is
 * stuck in a busy loop still exits within seconds of its parent's death and removes its staging.
 * Linux only (finds the worker through /proc).
 */
import assert from "node:assert/strict";
import { fork, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { byteTokenizerConfig, byteTokenizerJson, BYTE_VOCAB } from "../src/core/train/byteTokenizer";
import { removeDir, scratchDir } from "./fuzz/tmp";

const ROLE = "HEADSHARE_ORPHAN_ROLE";
const CLI = path.resolve(__dirname, "../../dist/cli.js");
const skip = process.platform !== "linux" ? "needs /proc (Linux)" : !fs.existsSync(CLI) ? "dist/cli.js is not built (npm run build)" : false;

/** Child roles: "stuck-parent" forks "stuck-worker"; the worker registers a staging folder, starts the watch, then spins forever. */
async function role(name: string): Promise<void> {
  if (name === "stuck-parent") {
    const child = fork(__filename, [], { env: { ...process.env, [ROLE]: "stuck-worker" }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.on("message", (m) => process.stdout.write(`${JSON.stringify(m)}\n`));
    return;
  }
  const { watchParent } = await import("../src/worker/parentWatch");
  const { addLiveStaging } = await import("../src/core/output/live");
  const stage = process.env.HEADSHARE_ORPHAN_STAGE!;
  fs.mkdirSync(stage);
  fs.writeFileSync(path.join(stage, "partial.safetensors"), Buffer.alloc(1 << 20));
  addLiveStaging(stage);
  watchParent(() => undefined, { graceMs: 1500, pollMs: 100 }); // the main thread never gets to run this callback
  process.send!({ worker: process.pid });
  setTimeout(() => {
    for (;;) {
      /* stuck: a catastrophic regex, a long native call */
    }
  }, 50);
}

if (process.env[ROLE]) {
  void role(process.env[ROLE]!);
} else {
  /** pid → start time, from /proc (to tell a process from a later one with a reused PID). */
  const startOf = (pid: number): string | undefined => {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      return s.slice(s.lastIndexOf(")") + 2).split(" ")[19];
    } catch {
      return undefined;
    }
  };
  const childrenOf = (ppid: number): number[] =>
    fs
      .readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((pid) => {
        try {
          const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
          return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]) === ppid;
        } catch {
          return false;
        }
      });
  const gone = async (pid: number, start: string | undefined, ms: number): Promise<number> => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      const st = startOf(pid);
      if (st === undefined || st !== start || fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")) return Date.now() - t0;
      await new Promise((r) => setTimeout(r, 100));
    }
    return -1;
  };
  const staging = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith(".headshare-tmp-")) : []);

  /** Runs the CLI until its stderr matches `when`, then SIGKILLs it; returns the worker's pid and start time. */
  const killCliWhen = (args: string[], when: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ worker: number; start: string | undefined; cli: ChildProcess }> =>
    new Promise((resolve, reject) => {
      const cli = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
      let err = "";
      const timer = setTimeout(() => {
        cli.kill("SIGKILL");
        reject(new Error(`the CLI never reached ${when}: ${err}`));
      }, 60_000);
      cli.stderr!.on("data", (d) => {
        err += d;
        if (!when.test(err)) return;
        when = /$^/; // once
        const [worker] = childrenOf(cli.pid!);
        if (worker === undefined) {
          clearTimeout(timer);
          cli.kill("SIGKILL");
          reject(new Error("no worker process found under the CLI"));
          return;
        }
        const start = startOf(worker);
        cli.kill("SIGKILL");
        clearTimeout(timer);
        resolve({ worker, start, cli });
      });
      cli.on("exit", (code) => {
        if (when.source !== "$^") {
          clearTimeout(timer);
          reject(new Error(`the CLI exited (${code}) before ${when}: ${err}`));
        }
      });
    });

  /** A ~10 MB byte-level model that eval can run (tokenizer files beside it). */
  async function model(dir: string): Promise<string> {
    await writeSyntheticModel(dir, {
      family: "llama",
      layers: 4,
      heads: 8,
      kvHeads: 4,
      headDim: 64,
      intermediate: 512,
      vocab: BYTE_VOCAB,
      maxPositions: 512,
      seed: 3,
    });
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(byteTokenizerJson()));
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(byteTokenizerConfig(512)));
    return dir;
  }

  test("orphan: SIGKILL of the CLI while its worker writes: within 10 s no worker and no staging remain", { skip, timeout: 120_000 }, async () => {
    const root = scratchDir("orphan-write");
    try {
      const m = await model(path.join(root, "m"));
      // Slows the worker's writes (NODE_OPTIONS reaches the worker through the CLI's environment), so the kill lands mid-write.
      const preload = path.join(root, "slow.js");
      fs.writeFileSync(
        preload,
        `if (process.argv[1] && process.argv[1].endsWith("worker.js")) {
  const fsp = require("node:fs/promises");
  fsp.open(__filename, "r").then((fh) => { const p = Object.getPrototypeOf(fh); fh.close(); const w = p.write;
    p.write = async function (...a) { await new Promise((r) => setTimeout(r, 40)); return w.apply(this, a); }; });
}`,
      );
      const outParent = path.join(root, "outs");
      fs.mkdirSync(outParent);
      const { worker, start } = await killCliWhen(["share", m, "--ratio", "0.3", "--out", path.join(outParent, "shared")], /share: write/, {
        NODE_OPTIONS: `--require ${preload}`,
      });
      assert.ok(staging(outParent).length > 0, "the kill landed while the staging folder existed");
      const ms = await gone(worker, start, 10_000);
      assert.ok(ms >= 0, `worker ${worker} still runs 10 s after its caller was killed`);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(staging(outParent), [], "the worker removed its staging folder before exiting");
      assert.equal(fs.existsSync(path.join(outParent, "shared")), false);
      console.log(`orphan write: worker exited ${ms} ms after the CLI was killed, staging removed`);
    } finally {
      removeDir(root);
    }
  });

  test("orphan: SIGKILL of the CLI during eval: within 10 s the worker has stopped computing and exited", { skip, timeout: 120_000 }, async () => {
    const root = scratchDir("orphan-eval");
    try {
      const m = await model(path.join(root, "m"));
      const text = path.join(root, "text.txt");
      fs.writeFileSync(text, "the model shares heads across layers and keeps its quality. ".repeat(2000));
      const { worker, start } = await killCliWhen(["eval", m, "--text", text, "--window", "512"], /eval: scoring/);
      const ms = await gone(worker, start, 10_000);
      assert.ok(ms >= 0, `worker ${worker} still runs 10 s after its caller was killed`);
      console.log(`orphan eval: worker exited ${ms} ms after the CLI was killed`);
    } finally {
      removeDir(root);
    }
  });

  test(
    "orphan: a worker whose main thread is stuck exits within seconds of its parent's death and removes its staging (parent watch)",
    { skip: process.platform !== "linux" ? "needs /proc" : false, timeout: 60_000 },
    async () => {
      const root = scratchDir("orphan-stuck");
      try {
        const stage = path.join(root, ".headshare-tmp-out-stuck");
        const env: NodeJS.ProcessEnv = { ...process.env, [ROLE]: "stuck-parent", HEADSHARE_ORPHAN_STAGE: stage };
        delete env.NODE_TEST_CONTEXT; // the child is a plain script, not a test-runner subprocess
        const parent = spawn(process.execPath, [__filename], { env, stdio: ["ignore", "pipe", "inherit"] });
        const worker = await new Promise<number>((resolve, reject) => {
          let out = "";
          parent.stdout!.on("data", (d) => {
            out += d;
            const m = /"worker":(\d+)/.exec(out);
            if (m) resolve(Number(m[1]));
          });
          parent.on("exit", () => reject(new Error(`the parent exited first: ${out}`)));
        });
        const start = startOf(worker);
        await new Promise((r) => setTimeout(r, 300)); // the worker is spinning now
        assert.ok(fs.existsSync(stage));
        parent.kill("SIGKILL");
        const ms = await gone(worker, start, 10_000);
        assert.ok(ms >= 0, `the stuck worker ${worker} still runs 10 s after its parent died`);
        assert.equal(fs.existsSync(stage), false, "its staging folder was removed by the watch");
        console.log(`orphan stuck: worker killed by its parent watch ${ms} ms after the parent died`);
      } finally {
        removeDir(root);
      }
    },
  );
}
