/**
 * PostShare as an exported PyTorch job (src/core/train/job/, assets/postshare-job/train.py):
 * the window order replays headshare's sampler; on stories260K-hf a 40-step job run by train.py on
 * 2 CPU ranks (gloo, DDP + ZeRO-1) gives headshare's own trainer's loss curve (same weights, order,
 * hyperparameters) within 1e-3 relative; 1 rank, 2 ranks, with and without ZeRO give the same final
 * weights within 1e-5; postshare-import's output equals headshare's PostShare output; bad inputs are
 * errors that name the file and write nothing. GPT-2, GPT-NeoX and Qwen2 (q/k/v biases, GQA)
 * forwards of train.py are checked against headshare's on seeded synthetic models.
 * Needs PyTorch (/usr/bin/python3 with python3-torch) for the train.py parts: skipped with the reason otherwise.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import type { Family } from "../src/core/model/types";
import { openSafetensors } from "../src/core/safetensors/reader";
import { byteTokenizerConfig, byteTokenizerJson } from "../src/core/train/byteTokenizer";
import { BlockSampler, OrderedSampler } from "../src/core/train/data";
import { exportPostShareJob } from "../src/core/train/job/export";
import { JOB_FILE, ORDER_FILE, readJobArray, readJobFile } from "../src/core/train/job/format";
import { importPostShareJob, readJobMetrics } from "../src/core/train/job/import";
import { runJobHere } from "../src/core/train/job/runHere";
import { postShare, type PostShareOptions } from "../src/core/train/postshare";
import { sharedPath, sharedSkip } from "./helpers/shared";
import { torchPython, torchSkip } from "./helpers/torch";

const RT = { providers: ["cpu"] as const, intraOpThreads: 1 };

function runTrainPy(job: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(torchPython()!, [path.join(job, "train.py"), path.join(job, JOB_FILE), ...args], { encoding: "utf8", timeout: 300_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function trainOk(job: string, args: string[]): void {
  const t0 = performance.now();
  const r = runTrainPy(job, args);
  console.log(`# train.py ${args.join(" ")}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(r.status, 0, `train.py ${args.join(" ")} failed:\n${r.stderr.slice(-4000)}`);
}

async function readAll(file: string): Promise<Map<string, Float32Array>> {
  const src = await openSafetensors(file);
  try {
    const m = new Map<string, Float32Array>();
    for (const t of src.tensors) m.set(t.name, await src.readF32(t.name));
    return m;
  } finally {
    await src.close();
  }
}

/** Largest |a − b| over every tensor of two weight maps (same names). */
function maxAbsDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let m = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    assert.equal(x.length, y.length, k);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m;
}

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

test("train-job: OrderedSampler over an exported order replays BlockSampler's batches", () => {
  const stream = Int32Array.from({ length: 500 }, (_, i) => (i * 7919) % 97);
  const s = new BlockSampler(stream, 3, 16, 5);
  const order = new Int32Array(10 * 3);
  for (let k = 0; k < 10; k++) order.set(s.offsets(k), k * 3);
  const o = new OrderedSampler(stream, order, 3, 16);
  for (let k = 0; k < 10; k++) assert.deepEqual(o.batch(k), s.batch(k));
  assert.throws(() => o.batch(10), /past the window order/);
  assert.throws(() => new OrderedSampler(stream, Int32Array.of(490, 1, 2), 3, 16), /window 0 starts at 490/);
});

const STORIES = "models/stories260K-hf",
  TEXT = "corpus/tinystories-valid-excerpt.txt";
const skipStories = sharedSkip(STORIES) || sharedSkip(TEXT) || torchSkip();

test(
  "train-job: stories260K, 40 steps on 2 gloo ranks = headshare's trainer; 1/2 ranks and ZeRO agree; import = headshare's PostShare; bad input",
  { skip: skipStories },
  async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-job-"));
    try {
      const model = sharedPath(STORIES)!,
        text = sharedPath(TEXT)!;
      const opts: PostShareOptions = {
        ratio: 0.3,
        text: [text],
        heldoutDocs: 10,
        steps: 40,
        batchSize: 4,
        seqLen: 32,
        trainOn: "text",
        warmupSteps: 5,
        ...RT,
      };
      const job = path.join(dir, "job");
      const exp = await exportPostShareJob(model, { ...opts, outDir: job, modelAsGiven: model });
      assert.deepEqual([...exp.files].sort(), ["README.md", "heldout.bin", "job.json", "launch.sh", "order.bin", "tokens.bin", "train.py"]);
      const jf = await readJobFile(job);
      assert.equal(jf.plan.targets, jf.plan.sharingPlan.selected);
      assert.equal(jf.plan.pairs.length, 4 * jf.plan.targets); // q, k, v, o per target
      assert.equal(jf.schedule.steps, 40);
      assert.match(await fs.readFile(path.join(job, "launch.sh"), "utf8"), /torchrun --standalone --nproc_per_node/);
      assert.match(await fs.readFile(path.join(job, "README.md"), "utf8"), /\| 8 \| — \(4 not divisible\)|\| 4 \| 1 \|/);

      // headshare's own trainer with the same weights, order (BlockSampler with the job's seed) and hyperparameters.
      const own = path.join(dir, "own");
      let t0 = performance.now();
      const ref = await postShare(model, { ...opts, outDir: own });
      console.log(`# headshare postshare (40 steps + 4 held-out scorings): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const order = await readJobArray(job, jf, ORDER_FILE, "int32", jf.data.microBatches * jf.schedule.batchSize);
      assert.equal(order.length, 40 * 4);

      trainOk(job, ["--local-ranks", "2"]);
      const curve = await readJobMetrics(path.join(job, "run", "metrics.jsonl"));
      assert.equal(curve.length, 40);
      let worst = 0;
      for (let i = 0; i < 40; i++) {
        const a = curve[i]!,
          b = ref.lossCurve[i]!;
        assert.equal(a.step, b.step);
        assert.ok(rel(a.lr, b.lr) < 1e-9, `lr at step ${a.step}: ${a.lr} vs ${b.lr}`);
        for (const k of ["lm", "weight"] as const) {
          worst = Math.max(worst, rel(a[k], b[k]));
          assert.ok(rel(a[k], b[k]) < 1e-3, `${k} at step ${a.step}: train.py ${a[k]} vs headshare ${b[k]}`);
        }
      }
      console.log(`# train.py (2 ranks, ZeRO-1) vs headshare's trainer: worst relative difference of lm/weight over 40 steps ${worst.toExponential(2)}`);

      // headshare's own trainer on the job's files (OrderedSampler over tokens.bin/order.bin) replays its postshare run exactly.
      const here = await runJobHere({ jobDir: job, outDir: path.join(dir, "here"), ...RT });
      assert.deepEqual(
        here.curve.map((e) => [e.lm, e.weight, e.lr]),
        ref.lossCurve.map((e) => [e.lm, e.weight, e.lr]),
      );
      assert.deepEqual(
        (await readJobMetrics(path.join(dir, "here", "metrics.jsonl"))).map((e) => e.lm),
        ref.lossCurve.map((e) => e.lm),
      );

      const two = await readAll(path.join(job, "run", "model.safetensors"));
      // 1 rank, stopped after 20 steps with a checkpoint and resumed to 40; 2 ranks with plain DDP.
      const r1 = path.join(dir, "r1");
      trainOk(job, ["--local-ranks", "1", "--out", r1, "--steps", "20", "--checkpoint-every", "10"]);
      trainOk(job, ["--local-ranks", "1", "--out", r1, "--resume"]);
      assert.deepEqual(
        (await readJobMetrics(path.join(r1, "metrics.jsonl"))).map((r) => r.step),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      trainOk(job, ["--local-ranks", "2", "--no-zero", "--out", path.join(dir, "r2-ddp")]);
      const d1 = maxAbsDiff(two, await readAll(path.join(r1, "model.safetensors")));
      const dz = maxAbsDiff(two, await readAll(path.join(dir, "r2-ddp", "model.safetensors")));
      console.log(`# final weights: 2 ranks ZeRO-1 vs 1 rank (resumed at step 20) max |Δ| ${d1.toExponential(2)}; ZeRO-1 vs plain DDP ${dz.toExponential(2)}`);
      assert.ok(d1 <= 1e-5 && dz <= 1e-5, `1 vs 2 ranks ${d1}, ZeRO vs DDP ${dz}`);

      // Import = headshare's own PostShare output (same plan, compact).
      t0 = performance.now();
      const imp = await importPostShareJob({ jobDir: job, outDir: path.join(dir, "imported"), ...RT });
      console.log(`# postshare-import: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      assert.equal(imp.lossCurve.length, 40);
      assert.ok(rel(imp.postShare.nll, ref.postShare.nll) < 1e-3, `PostShare nll ${imp.postShare.nll} vs ${ref.postShare.nll}`);
      assert.ok(rel(imp.directShare.nll, ref.directShare.nll) < 1e-9);
      assert.ok(rel(imp.original.nll, ref.original.nll) < 1e-9);
      const a = await readAll(path.join(dir, "imported", "model.safetensors")),
        b = await readAll(path.join(own, "model.safetensors"));
      const di = maxAbsDiff(a, b);
      console.log(
        `# import vs headshare's PostShare: max |Δ| weights ${di.toExponential(2)}, PostShare ppl ${imp.postShare.ppl.toFixed(4)} vs ${ref.postShare.ppl.toFixed(4)} (DirectShare ${imp.directShare.ppl.toFixed(4)})`,
      );
      assert.ok(di <= 1e-3, `imported weights differ from headshare's PostShare by ${di}`);
      const meta = await openSafetensors(path.join(dir, "imported", "model.safetensors"));
      assert.ok(meta.metadata["headshare.plan"], "the plan is in the output's metadata");
      await meta.close();

      // Bad input: nothing written.
      const bad = async (o: Parameters<typeof importPostShareJob>[0], re: RegExp): Promise<void> => {
        await assert.rejects(importPostShareJob({ ...o, ...RT }), re);
        assert.equal(
          await fs.stat(o.outDir).then(
            () => true,
            () => false,
          ),
          false,
          `${o.outDir} was written`,
        );
      };
      const weights = path.join(job, "run", "model.safetensors");
      await bad(
        { jobDir: job, outDir: path.join(dir, "x1"), weights: path.join(dir, "none.safetensors") },
        /none\.safetensors: the trained weights are missing/,
      );
      const truncated = path.join(dir, "truncated.safetensors");
      const full = await fs.readFile(weights);
      await fs.writeFile(truncated, full.subarray(0, full.length - 100));
      await bad({ jobDir: job, outDir: path.join(dir, "x2"), weights: truncated }, /truncated\.safetensors: the trained weights are unreadable/);
      await bad({ jobDir: job, outDir: path.join(dir, "x3"), model: path.join(dir, "imported") }, /job\.json: .* is not the model this job was exported from/);
      const other = path.join(dir, "other-job");
      await fs.cp(job, other, { recursive: true });
      const edited = JSON.parse(await fs.readFile(path.join(other, JOB_FILE), "utf8")) as { plan: { sharingPlan: { targets: { rootUnit: number }[] } } };
      edited.plan.sharingPlan.targets[0]!.rootUnit += 1;
      await fs.writeFile(path.join(other, JOB_FILE), JSON.stringify(edited));
      await bad({ jobDir: other, outDir: path.join(dir, "x4") }, /job\.json: its sharing plan hashes to .*\(the plan was edited\)/);
      const otherPlan = path.join(dir, "plan-b");
      await exportPostShareJob(model, { ...opts, ratio: 0.5, outDir: otherPlan });
      await bad({ jobDir: otherPlan, outDir: path.join(dir, "x5"), weights }, /model\.safetensors: trained for plan .* belong to another job/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  },
);

async function synthetic(dir: string, family: Family, extra: Record<string, unknown>): Promise<{ model: string; text: string }> {
  const model = path.join(dir, `model-${family}`);
  await writeSyntheticModel(model, { family, layers: 3, heads: 4, headDim: 8, intermediate: 48, vocab: 259, maxPositions: 64, seed: 7, ...extra } as Parameters<
    typeof writeSyntheticModel
  >[1]);
  if (family === "gpt-neox") {
    // headshare's autodiff has no Erf rule: the tanh GELU keeps its trainer comparable
    const cfg = JSON.parse(await fs.readFile(path.join(model, "config.json"), "utf8")) as Record<string, unknown>;
    await fs.writeFile(path.join(model, "config.json"), JSON.stringify({ ...cfg, hidden_act: "gelu_new" }));
  }
  await fs.writeFile(path.join(model, "tokenizer.json"), JSON.stringify(byteTokenizerJson()));
  await fs.writeFile(path.join(model, "tokenizer_config.json"), JSON.stringify(byteTokenizerConfig(64)));
  const words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to"];
  const docs = Array.from({ length: 16 }, (_, d) => Array.from({ length: 24 }, (_, i) => words[(d * 7 + i * 3) % words.length]).join(" ") + ".");
  const text = path.join(dir, `text-${family}.txt`);
  await fs.writeFile(text, docs.join("\n<|endoftext|>\n"));
  return { model, text };
}

for (const [family, extra] of [
  ["gpt2", {}],
  ["gpt-neox", {}],
  ["llama", { kvHeads: 2, qkvBias: true }],
] as const) {
  test(`train-job: train.py's ${family} forward and gradients follow headshare's trainer (5 steps, all weights)`, { skip: torchSkip() }, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `headshare-job-${family}-`));
    try {
      const { model, text } = await synthetic(dir, family, extra);
      const opts: PostShareOptions = {
        ratio: 0.5,
        text: [text],
        heldoutDocs: 3,
        steps: 5,
        batchSize: 2,
        seqLen: 24,
        trainOn: "text",
        warmupSteps: 1,
        lr: 1e-2,
        trainable: "all",
        ...RT,
      };
      const job = path.join(dir, "job");
      await exportPostShareJob(model, { ...opts, outDir: job });
      const ref = await postShare(model, opts);
      trainOk(job, ["--local-ranks", "1"]);
      const curve = await readJobMetrics(path.join(job, "run", "metrics.jsonl"));
      assert.equal(curve.length, 5);
      for (let i = 0; i < 5; i++) {
        for (const k of ["lm", "weight"] as const) {
          assert.ok(
            rel(curve[i]![k], ref.lossCurve[i]![k]) < 1e-3,
            `${family} ${k} at step ${i + 1}: train.py ${curve[i]![k]} vs headshare ${ref.lossCurve[i]![k]}`,
          );
        }
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

test(
  "train-job: a BF16 checkpoint — float32 master weights follow headshare's trainer; bf16 autocast runs; the import writes BF16; train.py refuses another model and an unsplittable batch",
  { skip: torchSkip() },
  async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-job-bf16-"));
    try {
      const { model, text } = await synthetic(dir, "llama", { kvHeads: 2, dtype: "BF16" });
      const opts: PostShareOptions = {
        ratio: 0.5,
        text: [text],
        heldoutDocs: 3,
        steps: 5,
        batchSize: 2,
        seqLen: 24,
        trainOn: "text",
        warmupSteps: 1,
        lr: 1e-2,
        ...RT,
      };
      const job = path.join(dir, "job");
      await exportPostShareJob(model, { ...opts, outDir: job });
      const ref = await postShare(model, opts);
      trainOk(job, ["--local-ranks", "1"]);
      const curve = await readJobMetrics(path.join(job, "run", "metrics.jsonl"));
      for (let i = 0; i < 5; i++) assert.ok(rel(curve[i]!.lm, ref.lossCurve[i]!.lm) < 1e-3, `lm at step ${i + 1}: ${curve[i]!.lm} vs ${ref.lossCurve[i]!.lm}`);
      trainOk(job, ["--local-ranks", "1", "--dtype", "bf16", "--out", path.join(dir, "autocast")]);
      const auto = await readJobMetrics(path.join(dir, "autocast", "metrics.jsonl"));
      assert.ok(rel(auto[0]!.lm, ref.lossCurve[0]!.lm) < 2e-2, `bf16 autocast lm at step 1: ${auto[0]!.lm} vs ${ref.lossCurve[0]!.lm}`);
      const out = path.join(dir, "imported");
      const imp = await importPostShareJob({ jobDir: job, outDir: out, format: "dense", ...RT });
      assert.ok(Number.isFinite(imp.postShare.nll));
      const src = await openSafetensors(path.join(out, "model.safetensors"));
      assert.ok(
        src.tensors.every((t) => t.dtype === "BF16"),
        "the output keeps the checkpoint's dtype",
      );
      await src.close();

      const other = await synthetic(dir, "gpt2", {});
      const wrong = runTrainPy(job, ["--local-ranks", "1", "--model", other.model, "--out", path.join(dir, "wrong")]);
      assert.equal(wrong.status, 1);
      assert.match(wrong.stderr, /model-gpt2: tensor .* is missing; this is not the model the job was exported from/);
      const split = runTrainPy(job, ["--local-ranks", "3", "--out", path.join(dir, "split")]);
      assert.notEqual(split.status, 0);
      assert.match(split.stderr, /the job's batch of 2 sequences cannot be split over 3 ranks/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  },
);

const cli = path.resolve(__dirname, "../../dist/cli.js");
const noCli = existsSync(cli) ? false : "dist/cli.js is not built (npm run build)";

test(
  "train-job: CLI postshare-job writes the folder (--json: plan, memory); postshare-import refuses missing weights and writes nothing; flag errors",
  { skip: noCli },
  async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-job-cli-"));
    try {
      const { model, text } = await synthetic(dir, "llama", { kvHeads: 2 });
      const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
        const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", cwd: dir, timeout: 120_000 });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      const job = path.join(dir, "job");
      const r = run([
        "postshare-job",
        model,
        "--ratio",
        "0.5",
        "--text",
        text,
        "--heldout-docs",
        "3",
        "--steps",
        "6",
        "--batch-size",
        "4",
        "--seq-len",
        "16",
        "--train-on",
        "text",
        "--regularize",
        "q,k,v",
        "--out",
        job,
        "--providers",
        "cpu",
        "--json",
      ]);
      assert.equal(r.status, 0, r.stderr);
      const o = JSON.parse(r.stdout) as {
        selected: number;
        steps: number;
        microBatches: number;
        memory: { ranks: number; zero: number; ddp: number }[];
        files: string[];
      };
      assert.equal(o.selected, 3);
      assert.equal(o.microBatches, 6);
      assert.ok(o.memory.find((m) => m.ranks === 2)!.zero < o.memory.find((m) => m.ranks === 2)!.ddp, "ZeRO-1 shards the AdamW state");
      const jf = await readJobFile(job);
      assert.deepEqual(jf.loss.regularize, ["q", "k", "v"]);
      assert.equal(jf.plan.pairs.length, 3 * 3);
      assert.equal(jf.model, model);
      const again = run(["postshare-job", model, "--ratio", "0.5", "--text", text, "--out", job]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /not empty.*--force/);
      const out = path.join(dir, "imported");
      const imp = run(["postshare-import", job, "--out", out]);
      assert.equal(imp.status, 1);
      assert.match(imp.stderr, /run[/\\]model\.safetensors: the trained weights are missing; run the job first/);
      assert.equal(existsSync(out), false);
      assert.match(run(["postshare-import", job]).stderr, /postshare-import: --out DIR is required/);
      assert.match(run(["postshare-job", model, "--ratio", "0.5", "--out", path.join(dir, "j2")]).stderr, /postshare-job: --text FILE is required/);
      assert.match(
        run(["postshare-job", model, "--ratio", "0.5", "--text", text, "--regularize", "q,x", "--out", path.join(dir, "j3")]).stderr,
        /postshare-job: --regularize needs/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  },
);
