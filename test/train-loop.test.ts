/**
 * The optimizer against a slow obvious float64 implementation of AdamW and the closed-form
 * schedule; the training loop on a tiny seeded Llama (the loss falls on learnable data, resuming
 * from a checkpoint gives the same weights as an uninterrupted run, cancel stops it); the data
 * split and block sampler; the byte-level tokenizer round trip.
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { BlockSampler, loadTextData, splitDocuments } from "../src/core/train/data";
import { TrainError } from "../src/core/train/errors";
import { writeInitialLlama } from "../src/core/train/initModel";
import { lmTraining } from "../src/core/train/lmTraining";
import { AdamW, globalNorm, learningRate, type OptimizerOptions } from "../src/core/train/optimizer";
import { runTraining, Trainer } from "../src/core/train/trainer";
import { byteEncode, byteTokenizerConfig, byteTokenizerJson } from "../src/core/train/byteTokenizer";
import { rng } from "./helpers/train-gradcheck";

const opt: OptimizerOptions = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, warmupSteps: 3, minLrRatio: 0.1, clipNorm: 1 };

test("train-loop: AdamW matches a float64 reference for 5 steps (decay on matrices only)", () => {
  const r = rng(3);
  const w0 = Array.from({ length: 6 }, () => r() - 0.5),
    b0 = [0.3, -0.2];
  const grads = Array.from({ length: 5 }, () => ({ w: Array.from({ length: 6 }, () => r() - 0.5), b: [r() - 0.5, r() - 0.5] }));
  const adam = new AdamW(opt);
  adam.register("w", 6, true);
  adam.register("b", 2, false);
  const params = new Map([
    ["w", Float32Array.from(w0)],
    ["b", Float32Array.from(b0)],
  ]);
  // reference
  const ref = { w: [...w0], b: [...b0] },
    m = { w: new Array(6).fill(0), b: [0, 0] },
    v = { w: new Array(6).fill(0), b: [0, 0] };
  grads.forEach((g, s) => {
    const lr = learningRate(opt, s, 5);
    adam.update(
      params,
      new Map([
        ["w", Float32Array.from(g.w)],
        ["b", Float32Array.from(g.b)],
      ]),
      lr,
    );
    const t = s + 1;
    for (const k of ["w", "b"] as const) {
      for (let i = 0; i < ref[k].length; i++) {
        m[k][i] = 0.9 * m[k][i] + 0.1 * g[k][i]!;
        v[k][i] = 0.95 * v[k][i] + 0.05 * g[k][i]! ** 2;
        const mh = m[k][i] / (1 - 0.9 ** t),
          vh = v[k][i] / (1 - 0.95 ** t);
        ref[k][i] = ref[k][i]! - lr * (mh / (Math.sqrt(vh) + 1e-8) + (k === "w" ? 0.1 * ref[k][i]! : 0));
      }
    }
  });
  for (const k of ["w", "b"] as const) ref[k].forEach((x, i) => assert.ok(Math.abs(params.get(k)![i]! - x) < 1e-6, `${k}[${i}] ${params.get(k)![i]} vs ${x}`));
});

test("train-loop: learning-rate schedule — linear warm-up, cosine to the floor", () => {
  const total = 13;
  assert.equal(learningRate(opt, 0, total), opt.lr / 3);
  assert.equal(learningRate(opt, 2, total), opt.lr);
  assert.ok(Math.abs(learningRate(opt, 3, total) - opt.lr) < 1e-15);
  assert.ok(Math.abs(learningRate(opt, total - 1, total) - opt.lr * opt.minLrRatio) < 1e-15);
  // midpoint of the cosine: (lr + floor) / 2
  const mid = 3 + (total - 3 - 1) / 2;
  assert.ok(Math.abs(learningRate(opt, mid, total) - (opt.lr + opt.lr * opt.minLrRatio) / 2) < 1e-12);
  assert.equal(globalNorm([Float32Array.of(3), Float32Array.of(0, 4)]), 5);
});

test("train-loop: documents split at <|endoftext|> or blank lines; held-out never in the training stream", async () => {
  assert.deepEqual(splitDocuments(" a b <|endoftext|>\n\n c <|endoftext|> "), ["a b", "c"]);
  assert.deepEqual(splitDocuments("one\ntwo\n\n\nthree\r\n\r\nfour"), ["one\ntwo", "three", "four"]);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-train-data-"));
  try {
    const f = path.join(dir, "t.txt");
    await fs.writeFile(f, ["alpha beta", "gamma delta", "epsilon zeta", "eta theta", "iota kappa"].join("<|endoftext|>"));
    const data = await loadTextData([f], (t) => [1, ...byteEncode(t)], { heldoutDocs: 2 });
    assert.equal(data.train.length, 3);
    assert.equal(data.heldout.length, 2);
    assert.deepEqual(Array.from(data.heldout[1]!), [1, ...byteEncode("iota kappa")]);
    const text = Buffer.from(Array.from(data.stream, (x) => (x >= 3 ? x - 3 : 0x7c))).toString("latin1");
    assert.ok(!text.includes("eta theta") && !text.includes("iota"), "held-out documents are not in the training stream");
    const s = new BlockSampler(data.stream, 3, 5, 9);
    const b = s.batch(4);
    for (let r = 0; r < 3; r++) for (let i = 0; i < 4; i++) assert.equal(b.targets[r * 5 + i], b.inputIds[r * 5 + i + 1]);
    assert.deepEqual(s.batch(4), b, "batch k is a function of (seed, k)");
    await assert.rejects(
      loadTextData([path.join(dir, "missing.txt")], byteEncode),
      (e: unknown) => e instanceof TrainError && e.code === "bad-data" && /missing\.txt/.test(e.message),
    );
    assert.throws(
      () => new BlockSampler(Int32Array.of(1, 2, 3), 1, 8, 0),
      (e: unknown) => e instanceof TrainError && e.code === "bad-data",
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("train-loop: the byte-level tokenizer.json loads in @huggingface/tokenizers and round-trips text", () => {
  const tok = new Tokenizer(byteTokenizerJson(), byteTokenizerConfig(256));
  const text = "Hello, wörld — ünïcode ✓\nline two";
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  assert.deepEqual(ids, byteEncode(text));
  assert.equal(tok.decode(ids), text);
  assert.deepEqual(tok.encode("ab").ids, [1, ...byteEncode("ab")], "BOS is added by the post-processor");
});

async function tinySetup(dir: string): Promise<{ trainer: () => Promise<Trainer>; sampler: BlockSampler; close: () => Promise<void> }> {
  await writeInitialLlama(dir, { layers: 2, heads: 4, kvHeads: 2, headDim: 8, hidden: 32, intermediate: 48, vocab: 16, maxPositions: 64, tied: true, seed: 4 });
  const ckpt = await openCheckpoint(dir);
  const { train: tg, params: base } = await lmTraining(ckpt);
  // learnable data: a repeating pattern of 7 tokens
  const stream = Int32Array.from({ length: 2000 }, (_, i) => 3 + ((i * 5) % 7));
  const sampler = new BlockSampler(stream, 4, 16, 1);
  return {
    trainer: () =>
      Trainer.create(tg.graph, tg.gradOutputs, new Map([...base].map(([k, v]) => [k, Float32Array.from(v)])), { providers: ["cpu"], intraOpThreads: 1 }),
    sampler,
    close: () => ckpt.close(),
  };
}

test("train-loop: loss falls on learnable data; resume = uninterrupted run; cancel stops with a typed error", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-train-loop-"));
  const s = await tinySetup(dir);
  try {
    const loopOpts = { ...opt, lr: 3e-3, weightDecay: 0.01, steps: 40, accumulation: 2 };
    const a = await s.trainer();
    const run = await runTraining(a, s.sampler, loopOpts);
    assert.equal(run.curve.length, 40);
    const first = run.curve[0]!.lm,
      last = run.curve.at(-1)!.lm;
    assert.ok(first > Math.log(16) * 0.8, `starts near uniform (${first})`);
    assert.ok(last < first * 0.5, `LM loss falls: ${first} → ${last}`);
    assert.ok(run.curve.every((e) => e.tokensPerSecond > 0 && e.gradNorm > 0));

    // 6 steps straight vs 3 + checkpoint + resume 3
    const short = { ...loopOpts, steps: 6 };
    const straight = await s.trainer();
    await runTraining(straight, s.sampler, short);
    const ckptFile = path.join(dir, "train.ckpt.safetensors");
    const first3 = await s.trainer();
    let seen = 0;
    const ac = new AbortController();
    await assert.rejects(
      runTraining(
        first3,
        s.sampler,
        { ...short, checkpointFile: ckptFile, checkpointEvery: 3 },
        {
          signal: ac.signal,
          onStep: (e) => {
            seen = e.step;
            if (e.step === 3) ac.abort();
          },
        },
      ),
      (e: unknown) => e instanceof TrainError && e.code === "cancelled",
    );
    assert.equal(seen, 3);
    const resumed = await s.trainer();
    const rr = await runTraining(resumed, s.sampler, { ...short, resumeFrom: ckptFile });
    assert.equal(rr.startStep, 3);
    assert.deepEqual(
      rr.curve.map((e) => e.step),
      [4, 5, 6],
    );
    for (const [name, w] of straight.params) {
      const v = resumed.params.get(name)!;
      for (let i = 0; i < w.length; i++) assert.ok(Math.abs(w[i]! - v[i]!) <= 1e-7, `${name}[${i}] ${w[i]} vs resumed ${v[i]}`);
    }
    await assert.rejects(
      runTraining(await s.trainer(), s.sampler, { ...short, resumeFrom: path.join(dir, "nope.safetensors") }),
      (e: unknown) => e instanceof TrainError && e.code === "bad-checkpoint",
    );
    await assert.rejects(runTraining(await s.trainer(), s.sampler, { ...short, lr: -1 }), (e: unknown) => e instanceof TrainError && e.code === "bad-options");
    for (const t of [a, straight, first3, resumed]) await t.release();
  } finally {
    await s.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
