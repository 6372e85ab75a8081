/**
 * Every input bounded in time and memory (issue 18, findings 3 and 5): tokenizer files that are
 * FIFOs are refused by name (never opened for a blocking read), evaluation texts above the limit
 * are refused up front, a job past the CLI's --timeout stops with a message saying how to raise
 * it, and a worker killed by SIGKILL that nobody sent is reported as out of memory with the
 * cgroup's limit (v1 and v2 layouts, on fake cgroup trees) and the model's size.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { readRegularFile, RegularFileError } from "../src/core/safetensors/regularFile";
import { byteTokenizerConfig, byteTokenizerJson, BYTE_VOCAB } from "../src/core/train/byteTokenizer";
import { wholeModelNeed } from "../src/core/eval/memoryBudget";
import { cgroupMemory, oomReport } from "../src/host/memoryLimit";
import { removeDir, scratchDir } from "./fuzz/tmp";

const CLI = path.resolve(__dirname, "../../dist/cli.js");
const noCli = fs.existsSync(CLI) ? false : "dist/cli.js is not built (npm run build)";
const mkfifo = (p: string): boolean => process.platform !== "win32" && spawnSync("mkfifo", [p]).status === 0;

function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: os.tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const hard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(hard);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

async function byteModel(dir: string): Promise<string> {
  await writeSyntheticModel(dir, {
    family: "llama",
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    intermediate: 32,
    vocab: BYTE_VOCAB,
    maxPositions: 128,
    seed: 1,
  });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(byteTokenizerJson()));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(byteTokenizerConfig(128)));
  return dir;
}

test("bounded: a FIFO merges.txt or tokenizer_config.json is refused by name at once (no blocking read)", async (t) => {
  const root = scratchDir("fifo");
  try {
    const gpt2 = path.join(root, "gpt2");
    fs.mkdirSync(gpt2);
    fs.writeFileSync(path.join(gpt2, "vocab.json"), JSON.stringify({ a: 0, b: 1 }));
    if (!mkfifo(path.join(gpt2, "merges.txt"))) {
      t.skip("mkfifo is not available");
      return;
    }
    const t0 = performance.now();
    await assert.rejects(
      loadTokenizer(gpt2),
      (e: unknown) => e instanceof Error && /merges\.txt.*not a regular file \(a folder, FIFO or device\)/.test(e.message),
    );
    const m = await byteModel(path.join(root, "m"));
    fs.rmSync(path.join(m, "tokenizer_config.json"));
    mkfifo(path.join(m, "tokenizer_config.json"));
    await assert.rejects(
      loadTokenizer(m),
      (e: unknown) => e instanceof Error && /tokenizer_config\.json: the tokenizer config is not a regular file/.test(e.message),
    );
    assert.ok(performance.now() - t0 < 5000, "refused without waiting for a writer");
    // the reader itself: a FIFO, a folder, a file over the bound
    await assert.rejects(
      readRegularFile(path.join(m, "tokenizer_config.json"), 1024),
      (e: unknown) => e instanceof RegularFileError && e.reason === "not-regular",
    );
    await assert.rejects(readRegularFile(m, 1024), (e: unknown) => e instanceof RegularFileError && e.reason === "not-regular");
    await assert.rejects(
      readRegularFile(path.join(m, "tokenizer.json"), 10),
      (e: unknown) => e instanceof RegularFileError && e.reason === "too-large" && e.size! > 10,
    );
  } finally {
    removeDir(root);
  }
});

test(
  "bounded: eval --text over the size limit or a FIFO is refused up front with one line; --timeout stops a job with how to raise it",
  { skip: noCli, timeout: 120_000 },
  async () => {
    const root = scratchDir("bounded-cli");
    try {
      const m = await byteModel(path.join(root, "m"));
      const big = path.join(root, "big.txt");
      fs.closeSync(fs.openSync(big, "w"));
      fs.truncateSync(big, 65 * 2 ** 20); // sparse: no disk used
      const r = await run(["eval", m, "--text", big]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /big\.txt: cannot read the text file \(it is 68157440 bytes, more than the 64 MiB an evaluation text may be\); pass an excerpt/);
      assert.ok(!/heap|at \w+ \(/.test(r.stderr), "no stack trace");
      const fifo = path.join(root, "text.fifo");
      if (mkfifo(fifo)) {
        const f = await run(["eval", m, "--text", fifo]);
        assert.equal(f.code, 1);
        assert.match(f.stderr, /text\.fifo: cannot read the text file \(it is not a regular file: a folder, FIFO or device\)/);
      }
      const text = path.join(root, "t.txt");
      fs.writeFileSync(text, "the heads are shared. ".repeat(200));
      const slow = await run(["eval", m, "--text", text, "--timeout", "0.0005"]); // 30 ms
      assert.equal(slow.code, 1, slow.stderr);
      assert.match(slow.stderr, /did not finish within 30 ms; the worker was stopped .* raise the limit \(--timeout MINUTES on the command line/);
      const bad = await run(["eval", m, "--text", text, "--timeout", "soon"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--timeout soon: give the job time limit in minutes/);
    } finally {
      removeDir(root);
    }
  },
);

test("bounded: an unexplained SIGKILL is reported as out of memory with the cgroup limit (v2 and v1) and the model's size", () => {
  const root = scratchDir("cgroup");
  try {
    // cgroup v2: /proc/self/cgroup says 0::/job; the limit and the OOM counter live in <root>/job
    const v2 = path.join(root, "v2");
    fs.mkdirSync(path.join(v2, "job"), { recursive: true });
    fs.writeFileSync(path.join(root, "cg2"), "0::/job\n");
    fs.writeFileSync(path.join(v2, "job", "memory.max"), `${2 * 2 ** 30}\n`);
    fs.writeFileSync(path.join(v2, "job", "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    const before = cgroupMemory(v2, path.join(root, "cg2"));
    assert.deepEqual(before, { limit: 2 * 2 ** 30, source: path.join(v2, "job", "memory.max"), oomKills: 1 });
    fs.writeFileSync(path.join(v2, "job", "memory.events"), "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n");
    const after = cgroupMemory(v2, path.join(root, "cg2"));
    const msg = oomReport(before, after, 3 * 2 ** 30);
    assert.match(
      msg,
      /^out of memory: the kernel's OOM killer stopped it; the memory limit is 2\.00 GiB \(.*memory\.max\); the model's weights alone take 3\.00 GiB on disk/,
    );
    // with the job's estimate (eval's estimator, reported by the worker): the need and the limit, not the file size
    const need = wholeModelNeed({ f32WeightBytes: 6 * 2 ** 30, hidden: 2048, heads: 16, ffn: 5632, vocab: 32000 }, 512, 64, 2048, 1);
    assert.equal(need.bytes, 6 * 2 ** 30 + 2048 * (4 * (8 * 2048 + 3 * 5632) + 8 * 16 * 64 + 8 * 2048) + 2048 * 32000 * 4, "closed form");
    assert.match(
      oomReport(before, after, 3 * 2 ** 30, need),
      /^out of memory: the kernel's OOM killer stopped it; the memory limit is 2\.00 GiB \(.*memory\.max\); the job was estimated to need about 6\.54 GiB \(whole-model forward: weights as float32 6\.00 GiB, activations of a 2048-token batch 0\.30 GiB, logits 0\.24 GiB\); run on/,
    );
    // cgroup v1 with no limit ("max" v1 style: 2^63 - 4096), and no counter change: "most likely"
    const v1 = path.join(root, "v1");
    fs.mkdirSync(path.join(v1, "memory"), { recursive: true });
    fs.writeFileSync(path.join(root, "cg1"), "4:memory:/x\n");
    fs.writeFileSync(path.join(v1, "memory", "memory.limit_in_bytes"), "9223372036854771712\n");
    fs.writeFileSync(path.join(v1, "memory", "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    const m1 = cgroupMemory(v1, path.join(root, "cg1"));
    assert.deepEqual(m1, { oomKills: 0 });
    assert.match(oomReport(m1, m1, undefined), /^most likely out of memory \(the kernel's OOM killer sends SIGKILL\); run on a machine/);
    fs.writeFileSync(path.join(v1, "memory", "memory.limit_in_bytes"), `${512 * 2 ** 20}\n`);
    assert.equal(cgroupMemory(v1, path.join(root, "cg1")).limit, 512 * 2 ** 20);
    // this machine's own cgroup reads without throwing
    cgroupMemory();
  } finally {
    removeDir(root);
  }
});
