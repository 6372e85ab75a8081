// Forward graphs vs plain float64 reference passes (test/graph-reference.ts) on seeded synthetic
// checkpoints: GPT-2 (Conv1D, fused c_attn, gelu tanh, learned positions), Llama with GQA and
// Qwen2 q/k/v biases (untied head), tied Llama; batches are right-padded.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint, type Checkpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { ForwardRunner } from "../src/core/eval/runner";
import { buildForward } from "../src/core/graph/forward";
import { attentionName, hiddenStateName, LOGITS, LOGPROBS, NLL } from "../src/core/graph/types";
import { OnnxError } from "../src/core/onnx/errors";
import { gpt2Reference, llamaReference, neoxReference, scaledSynthetic, type Weights } from "./graph-reference";

async function weightsOf(ck: Checkpoint): Promise<Weights> {
  const m = new Map<string, Float64Array>();
  for (const t of ck.source.tensors) m.set(t.name, Float64Array.from(await ck.source.readF32(t.name)));
  return (n) => {
    const w = m.get(n);
    if (!w) throw new Error(`reference: no tensor ${n}`);
    return w;
  };
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => (a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Runs two right-padded sequences through the graph; returns the outputs and the padded length. */
async function runBatch(ck: Checkpoint, seqs: number[][], forward: Parameters<typeof ForwardRunner.create>[1]["forward"]) {
  const S = Math.max(...seqs.map((s) => s.length));
  const ids = new BigInt64Array(seqs.length * S),
    targets = new BigInt64Array(seqs.length * S);
  seqs.forEach((s, r) =>
    s.forEach((id, t) => {
      ids[r * S + t] = BigInt(id);
      targets[r * S + t] = BigInt(s[t + 1] ?? 0);
    }),
  );
  const runner = await ForwardRunner.create(ck, { forward, providers: ["cpu"], threads: 1 });
  try {
    return { out: await runner.run(ids, seqs.length, S, targets), S };
  } finally {
    await runner.release();
  }
}

function maxDiffToReference(
  out: Float32Array,
  S: number,
  V: number,
  seqs: number[][],
  ref: (ids: number[]) => Float64Array[],
): { diff: number; scale: number } {
  let diff = 0,
    scale = 0;
  seqs.forEach((s, r) => {
    const want = ref(s);
    for (let t = 0; t < s.length; t++)
      for (let v = 0; v < V; v++) {
        const w = want[t]![v]!;
        diff = Math.max(diff, Math.abs(out[(r * S + t) * V + v]! - w));
        scale = Math.max(scale, Math.abs(w));
      }
  });
  return { diff, scale };
}

async function withTmp<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-graph-"));
  try {
    return await f(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test("graph: GPT-2 logits equal a float64 reference forward within 1e-4 (batch of 2, right-padded; full and blocked attention)", () =>
  withTmp(async (dir) => {
    const ck = await openCheckpoint(await scaledSynthetic(dir, { family: "gpt2", layers: 2, heads: 4, headDim: 8, vocab: 61, maxPositions: 32, seed: 7 }, 12));
    try {
      const r = rng(1);
      const seqs = [Array.from({ length: 13 }, () => Math.floor(r() * 61)), Array.from({ length: 9 }, () => Math.floor(r() * 61))];
      const W = await weightsOf(ck);
      for (const chunk of [{}, { attentionChunk: 5, maxSequence: 16 }, { attentionChunk: 3, maxSequence: 32 }]) {
        const { out, S } = await runBatch(ck, seqs, { logits: true, ...chunk });
        const { diff, scale } = maxDiffToReference(out[LOGITS]!.data, S, 61, seqs, (s) => gpt2Reference(ck.spec, W, s, "transformer."));
        assert.ok(scale > 1, `logits are not trivially small (max |logit| ${scale})`);
        console.log(`# max |graph − reference| = ${diff}, max |logit| = ${scale}`);
        assert.ok(diff <= 1e-4, `max |graph − reference| = ${diff}`);
      }
    } finally {
      await ck.close();
    }
  }));

test("graph: GPT-2 config scale_attn_weights=false / scale_attn_by_inverse_layer_idx follow Hugging Face", () =>
  withTmp(async (dir) => {
    const root = await scaledSynthetic(dir, { family: "gpt2", layers: 3, heads: 2, headDim: 4, vocab: 23, maxPositions: 16, seed: 8 }, 12);
    const cfgPath = path.join(root, "config.json");
    const cfg = JSON.parse(await fs.readFile(cfgPath, "utf8")) as Record<string, unknown>;
    for (const variant of [{ scale_attn_by_inverse_layer_idx: true }, { scale_attn_weights: false }]) {
      await fs.writeFile(cfgPath, JSON.stringify({ ...cfg, ...variant }));
      const ck = await openCheckpoint(root);
      try {
        const seqs = [[1, 2, 3, 4, 5, 6, 7, 8, 9]];
        const { out, S } = await runBatch(ck, seqs, { logits: true });
        const W = await weightsOf(ck);
        const { diff } = maxDiffToReference(out[LOGITS]!.data, S, 23, seqs, (s) => gpt2Reference(ck.spec, W, s, "transformer."));
        assert.ok(diff <= 1e-4, `${JSON.stringify(variant)}: max |graph − reference| = ${diff}`);
      } finally {
        await ck.close();
      }
    }
  }));

test("graph: Qwen2-style Llama (GQA 4/2, q/k/v biases, untied head, RoPE) equals the float64 reference within 1e-4, full and blocked attention", () =>
  withTmp(async (dir) => {
    const ck = await openCheckpoint(
      await scaledSynthetic(
        dir,
        { family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, vocab: 53, maxPositions: 64, qkvBias: true, tied: false, seed: 11 },
        12,
      ),
    );
    try {
      assert.equal(ck.spec.architecture, "Qwen2ForCausalLM");
      const r = rng(2);
      const seqs = [Array.from({ length: 20 }, () => Math.floor(r() * 53)), Array.from({ length: 6 }, () => Math.floor(r() * 53))];
      const W = await weightsOf(ck);
      for (const chunk of [{}, { attentionChunk: 8, maxSequence: 32 }]) {
        const { out, S } = await runBatch(ck, seqs, { logits: true, ...chunk });
        const { diff, scale } = maxDiffToReference(out[LOGITS]!.data, S, 53, seqs, (s) => llamaReference(ck.spec, W, s, (n) => ck.source.has(n)));
        assert.ok(scale > 1, `logits are not trivially small (max |logit| ${scale})`);
        console.log(`# max |graph − reference| = ${diff}, max |logit| = ${scale}`);
        assert.ok(diff <= 1e-4, `max |graph − reference| = ${diff}`);
      }
    } finally {
      await ck.close();
    }
  }));

test("graph: GPT-NeoX (partial rotary, interleaved query_key_value, parallel and sequential residual) equals the float64 reference", () =>
  withTmp(async (dir) => {
    const root = await scaledSynthetic(dir, { family: "gpt-neox", layers: 2, heads: 2, headDim: 16, vocab: 41, maxPositions: 32, seed: 13 }, 10);
    const cfgPath = path.join(root, "config.json");
    const cfg = JSON.parse(await fs.readFile(cfgPath, "utf8")) as Record<string, unknown>;
    assert.equal(cfg.rotary_pct, 0.25);
    for (const parallel of [true, false]) {
      await fs.writeFile(cfgPath, JSON.stringify({ ...cfg, use_parallel_residual: parallel }));
      const ck = await openCheckpoint(root);
      try {
        const seqs = [
          [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5],
          [2, 7, 1],
        ];
        const W = await weightsOf(ck);
        for (const chunk of [{}, { attentionChunk: 4, maxSequence: 12 }]) {
          const { out, S } = await runBatch(ck, seqs, { logits: true, ...chunk });
          const { diff, scale } = maxDiffToReference(out[LOGITS]!.data, S, 41, seqs, (s) => neoxReference(ck.spec, W, s));
          assert.ok(scale > 1, `logits are not trivially small (max |logit| ${scale})`);
          assert.ok(diff <= 1e-4, `parallel ${parallel}: max |graph − reference| = ${diff}`);
        }
      } finally {
        await ck.close();
      }
    }
  }));

test("graph: tied Llama; nll, logprobs, hidden states and attention outputs are consistent", () =>
  withTmp(async (dir) => {
    const ck = await openCheckpoint(
      await scaledSynthetic(dir, { family: "llama", layers: 2, heads: 2, kvHeads: 1, headDim: 4, vocab: 37, maxPositions: 16, tied: true, seed: 5 }, 10),
    );
    try {
      const seqs = [
        [1, 5, 9, 2, 30, 7, 7, 3],
        [1, 4, 4],
      ];
      const { out, S } = await runBatch(ck, seqs, { logits: true, logprobs: true, nll: true, hiddenStates: true, attentions: true });
      const V = 37;
      const W = await weightsOf(ck);
      const { diff } = maxDiffToReference(out[LOGITS]!.data, S, V, seqs, (s) => llamaReference(ck.spec, W, s, (n) => ck.source.has(n)));
      assert.ok(diff <= 1e-4, `max |graph − reference| = ${diff}`);
      const logits = out[LOGITS]!.data,
        lp = out[LOGPROBS]!.data,
        nll = out[NLL]!.data;
      seqs.forEach((s, r) => {
        for (let t = 0; t + 1 < s.length; t++) {
          const o = (r * S + t) * V;
          let m = -Infinity;
          for (let v = 0; v < V; v++) m = Math.max(m, logits[o + v]!);
          let z = 0;
          for (let v = 0; v < V; v++) z += Math.exp(logits[o + v]! - m);
          const want = m + Math.log(z) - logits[o + s[t + 1]!]!;
          assert.ok(Math.abs(nll[r * S + t]! - want) < 1e-4, `nll at ${r},${t}`);
          assert.ok(Math.abs(-lp[o + s[t + 1]!]! - want) < 1e-4, `logprobs at ${r},${t}`);
        }
      });
      for (let l = 0; l < 2; l++) {
        assert.deepEqual(out[hiddenStateName(l)]!.dims, [2, S, ck.spec.hidden]);
        const a = out[attentionName(l)]!;
        assert.deepEqual(a.dims, [2, 2, S, S]);
        for (let i = 0; i < 2 * 2 * S; i++) {
          const row = a.data.subarray(i * S, (i + 1) * S),
            q = i % S;
          assert.ok(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-5, "attention rows sum to 1");
          for (let k = q + 1; k < S; k++) assert.equal(row[k], 0, "no attention to later positions");
        }
      }
    } finally {
      await ck.close();
    }
  }));

test("graph: unsupported families and a bad compact plan fail with OnnxError naming the problem", () =>
  withTmp(async (dir) => {
    const bert = await openCheckpoint(await writeSyntheticModel(path.join(dir, "bert"), { family: "bert", layers: 1, heads: 2, headDim: 4, seed: 1 }));
    try {
      assert.throws(
        () => buildForward(bert),
        (e: unknown) => e instanceof OnnxError && e.code === "unsupported" && /llama, gpt2 and gpt-neox/.test(e.message),
      );
    } finally {
      await bert.close();
    }
    const ll = await openCheckpoint(await writeSyntheticModel(path.join(dir, "ll"), { family: "llama", layers: 2, heads: 2, headDim: 4, vocab: 16, seed: 1 }));
    try {
      const plan = {
        format: "headshare.plan",
        version: 1,
        ratio: 0.25,
        strategy: "qk",
        granularity: "group",
        layers: 2,
        unitsPerLayer: 2,
        selected: 1,
        savedUnits: 1,
        chainedTargets: 0,
        cutoffScore: 0.5,
        parametersBefore: null,
        parametersAfter: null,
        targets: [],
        storedFrom: [
          [
            [0, 0],
            [0, 1],
          ],
          [
            [1, 1],
            [0, 1],
          ],
        ],
      } as const;
      assert.throws(
        () => buildForward(ll, { attentionChunk: 1, maxSequence: 1000 }),
        (e: unknown) => e instanceof OnnxError && e.code === "bad-option" && /chunks of at least/.test(e.message),
      );
      assert.throws(
        () => buildForward(ll, { attentionChunk: 2.5 }),
        (e: unknown) => e instanceof OnnxError && e.code === "bad-option",
      );
      assert.throws(
        () => buildForward(ll, { compactPlan: plan }),
        (e: unknown) => e instanceof OnnxError && /storedFrom\[1\]\[0\]/.test(e.message),
      );
      const bad = {
        ...plan,
        storedFrom: [
          [
            [0, 0],
            [0, 1],
          ],
          [
            [0, 0],
            [1, 1],
          ],
        ] as const,
      };
      // a plan that fits, but the file is dense: the shapes disagree with the plan
      assert.throws(
        () => buildForward(ll, { compactPlan: bad }),
        (e: unknown) => e instanceof OnnxError && /has shape/.test(e.message),
      );
      // corrupt headshare.plan metadata in a "compact" checkpoint
      const corrupt = { ...ll, compact: { plan: { ...bad, storedFrom: [[[0, 0]]] }, originalShapes: {} } };
      assert.throws(
        () => buildForward(corrupt),
        (e: unknown) => e instanceof OnnxError && /invalid sharing plan/.test(e.message) && /re-create/.test(e.message),
      );
    } finally {
      await ll.close();
    }
  }));
