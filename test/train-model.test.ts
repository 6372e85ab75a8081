/**
 * The whole training graph of a tiny seeded Llama (GQA, RoPE, SwiGLU, RMSNorm, embedding, tied
 * and untied heads) differentiated and checked against central differences in float64: the LM
 * loss, the weight-similarity loss (l2 and mse) and their weighted sum, gradients w.r.t. every
 * weight.
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint, type Checkpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { unitLayout } from "../src/core/model/units";
import { toFloat64 } from "../src/core/train/precision";
import { trainingForward, NLL } from "../src/core/train/forward";
import { writeInitialLlama, type LlamaInitOptions } from "../src/core/train/initModel";
import { buildTrainGraph, LOSS, type WeightPair } from "../src/core/train/trainGraph";
import { gradCheckGraph, rng, type Feed } from "./helpers/train-gradcheck";

const tiny: LlamaInitOptions = {
  layers: 2,
  heads: 4,
  kvHeads: 2,
  headDim: 4,
  hidden: 16,
  intermediate: 24,
  vocab: 23,
  maxPositions: 64,
  tied: false,
  seed: 11,
  std: 0.3,
};

async function check(label: string, o: LlamaInitOptions, lambdaLm: number, lambdaW: number, weightLoss: "l2" | "mse"): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-train-model-"));
  try {
    await writeInitialLlama(dir, o);
    const ckpt = await openCheckpoint(dir);
    try {
      const fwd = trainingForward(ckpt);
      const kvRows = o.headDim,
        qRows = (o.heads / o.kvHeads) * o.headDim;
      const l0 = ckpt.spec.layerTensors[0]!,
        l1 = ckpt.spec.layerTensors[1]!;
      // layer 1 unit 1 shares layer 0 unit 0; q, k, v pairs
      const pairs: WeightPair[] = [
        { target: { tensor: l1.q, axis: 0, ranges: [[qRows, 2 * qRows]] }, root: { tensor: l0.q, axis: 0, ranges: [[0, qRows]] }, label: "q" },
        { target: { tensor: l1.k, axis: 0, ranges: [[kvRows, 2 * kvRows]] }, root: { tensor: l0.k, axis: 0, ranges: [[0, kvRows]] }, label: "k" },
        { target: { tensor: l1.v, axis: 0, ranges: [[kvRows, 2 * kvRows]] }, root: { tensor: l0.v, axis: 0, ranges: [[0, kvRows]] }, label: "v" },
      ];
      const weights = fwd.weights.map((w) => w.input);
      const tg = buildTrainGraph(toFloat64(fwd.graph), { nll: NLL, trainable: weights, lambdaLm, lambdaW, weightLoss, pairs, targets: 1 });
      const r = rng(5);
      const B = 2,
        S = 5;
      const feeds: Record<string, Feed> = {
        input_ids: { type: "int64", dims: [B, S], data: Array.from({ length: B * S }, () => Math.floor(r() * o.vocab)) },
        targets: { type: "int64", dims: [B, S], data: Array.from({ length: B * S }, () => Math.floor(r() * o.vocab)) },
      };
      for (const w of fwd.weights) {
        const data = await ckpt.source.readF32(w.tensor);
        // perturb norms away from 1 so their gradients are generic
        feeds[w.input] = { type: "float64", dims: w.shape, data: Array.from(data, (v) => (w.shape.length === 1 ? v + (r() - 0.5) * 0.4 : v)) };
      }
      const res = await gradCheckGraph(label, tg.graph, LOSS, tg.gradOutputs, feeds, { tol: 1e-6, maxPerInput: 6 });
      assert.ok(res.checked >= 6 * weights.length, `${label}: checked ${res.checked} elements`);
    } finally {
      await ckpt.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test("train-model: tiny Llama, LM + l2 weight loss, all weights, float64 central differences", async () => {
  await check("tiny llama l2", tiny, 0.5, 0.5, "l2");
});

test("train-model: tiny Llama with tied embeddings, LM + mse weight loss", async () => {
  await check("tiny llama tied mse", { ...tiny, tied: true, seed: 12 }, 1, 3, "mse");
});

/** Whole-graph check on a synthetic checkpoint of another family (foundation's writer), pairs from unit layouts. */
async function checkSynthetic(label: string, opts: Parameters<typeof writeSyntheticModel>[1]): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-train-synth-"));
  try {
    await writeSyntheticModel(dir, opts);
    const ckpt: Checkpoint = await openCheckpoint(dir);
    try {
      const fwd = trainingForward(ckpt);
      const t = unitLayout(ckpt.spec, 1, 1, "group"),
        r = unitLayout(ckpt.spec, 0, 0, "group");
      const pairs: WeightPair[] = (["q", "k", "v", "o"] as const).map((p) => ({ target: t[p], root: r[p], label: p }));
      const tg = buildTrainGraph(toFloat64(fwd.graph), {
        nll: NLL,
        trainable: fwd.weights.map((w) => w.input),
        lambdaLm: 0.5,
        lambdaW: 0.5,
        weightLoss: "l2",
        pairs,
        targets: 1,
      });
      const rr = rng(9);
      const B = 2,
        S = 4,
        V = ckpt.spec.vocab;
      const feeds: Record<string, Feed> = {
        input_ids: { type: "int64", dims: [B, S], data: Array.from({ length: B * S }, () => Math.floor(rr() * V)) },
        targets: { type: "int64", dims: [B, S], data: Array.from({ length: B * S }, () => Math.floor(rr() * V)) },
      };
      for (const w of fwd.weights) {
        const data = await ckpt.source.readF32(w.tensor);
        feeds[w.input] = { type: "float64", dims: w.shape, data: Array.from(data, (v) => v * 10 + (w.shape.length === 1 ? (rr() - 0.5) * 0.4 : 0)) };
      }
      const res = await gradCheckGraph(label, tg.graph, LOSS, tg.gradOutputs, feeds, { tol: 1e-6, maxPerInput: 4 });
      assert.ok(res.checked >= 4 * fwd.weights.length);
    } finally {
      await ckpt.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test("train-model: tiny GPT-2 (LayerNorm, gelu-tanh, Conv1D with biases, learned positions), LM + l2 pull incl. o", async () => {
  await checkSynthetic("tiny gpt2", { family: "gpt2", layers: 2, heads: 2, headDim: 4, intermediate: 16, vocab: 19, maxPositions: 16, seed: 5 });
});

test("train-model: tiny Qwen2-style Llama with q/k/v biases", async () => {
  await checkSynthetic("tiny qwen2", {
    family: "llama",
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 4,
    intermediate: 12,
    vocab: 17,
    maxPositions: 16,
    seed: 6,
    qkvBias: true,
  });
});
