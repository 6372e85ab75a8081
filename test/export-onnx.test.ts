// headshare export --format onnx: the exported KV-cache decoder, loaded by a stock onnxruntime
// session from the folder, gives headshare's own forward logits (≤ 1e-4, fp32) for the original
// and the shared model, in one pass and step by step through its cache; each stored unit is in the
// file once; bad input fails naming the file and leaves nothing behind.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { openCheckpoint, type Checkpoint } from "../src/core/model/checkpoint";
import type { SyntheticOptions } from "../src/core/model/synthetic";
import { ForwardRunner } from "../src/core/eval/runner";
import { LOGITS } from "../src/core/graph/types";
import { cacheHeads, pastKeyName, pastValueName, presentKeyName, presentValueName } from "../src/core/graph/kvCache";
import { exportOnnx, type ExportResult } from "../src/core/export/exportOnnx";
import type { SharingPlan } from "../src/core/share/types";
import { scaledSynthetic } from "./graph-reference";
import { sharedPath, sharedSkip } from "./helpers/shared";

const DEMO = path.resolve(__dirname, "../../assets/demo-model");
const TOL = 1e-4;

/** Two rows, the second left-padded: ids [2, S] and its attention mask. */
function batch(vocab: number, S: number): { ids: number[][]; mask: number[][] } {
  const a = Array.from({ length: S }, (_, i) => (i * 7 + 3) % vocab);
  const b = Array.from({ length: S }, (_, i) => (i < 3 ? 0 : (i * 5 + 1) % vocab));
  return { ids: [a, b], mask: [a.map(() => 1), b.map((_, i) => (i < 3 ? 0 : 1))] };
}

const i64 = (rows: number[][]): ort.Tensor =>
  new ort.Tensor(
    "int64",
    BigInt64Array.from(rows.flat(), (x) => BigInt(x)),
    [rows.length, rows[0]!.length],
  );

/** position_ids as transformers.js makes them: cumsum(mask) − 1, 1 where masked. */
function positions(mask: number[][], from: number, to: number): number[][] {
  return mask.map((row) => {
    let c = 0;
    return row
      .map((m) => {
        c += m;
        return m ? c - 1 : 1;
      })
      .slice(from, to);
  });
}

/** headshare's own scoring forward (no cache): logits of one unpadded row [S, V]. */
async function ownLogits(ck: Checkpoint, ids: readonly number[], plan?: SharingPlan): Promise<Float32Array> {
  const runner = await ForwardRunner.create(ck, { forward: { logits: true }, providers: ["cpu"], threads: 1, ...(plan ? { plan } : {}) });
  try {
    return (
      await runner.run(
        BigInt64Array.from(ids, (x) => BigInt(x)),
        1,
        ids.length,
      )
    )[LOGITS]!.data;
  } finally {
    await runner.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** Runs the exported file: the whole batch at once, and row 0 as prefix + steps through the cache. */
async function exportedLogits(
  file: string,
  ck: Checkpoint,
  S: number,
): Promise<{ full: Float32Array; stepped: Float32Array; inputNames: readonly string[]; rows: number[][] }> {
  const s = await ort.InferenceSession.create(file);
  try {
    const spec = ck.spec,
      V = spec.vocab;
    const { ids, mask } = batch(V, S);
    const empty = (B: number): Record<string, ort.Tensor> => {
      const f: Record<string, ort.Tensor> = {};
      for (let l = 0; l < spec.layers; l++) {
        f[pastKeyName(l)] = new ort.Tensor("float32", new Float32Array(0), [B, cacheHeads(spec), 0, spec.headDim]);
        f[pastValueName(l)] = new ort.Tensor("float32", new Float32Array(0), [B, cacheHeads(spec), 0, spec.headDim]);
      }
      return f;
    };
    const full = await s.run({ input_ids: i64(ids), attention_mask: i64(mask), position_ids: i64(positions(mask, 0, S)), ...empty(2) });
    // row 0: prefix of 4, then one token at a time through the cache
    const stepped = new Float32Array(S * V);
    let past = empty(1);
    for (let t0 = 0; t0 < S;) {
      const t1 = t0 === 0 ? 4 : t0 + 1;
      const r = await s.run({
        input_ids: i64([ids[0]!.slice(t0, t1)]),
        attention_mask: i64([ids[0]!.slice(0, t1).map(() => 1)]),
        position_ids: i64([Array.from({ length: t1 - t0 }, (_, i) => t0 + i)]),
        ...past,
      });
      stepped.set(r.logits!.data as Float32Array, t0 * V);
      past = {};
      for (let l = 0; l < spec.layers; l++) {
        past[pastKeyName(l)] = r[presentKeyName(l)]!;
        past[pastValueName(l)] = r[presentValueName(l)]!;
      }
      t0 = t1;
    }
    return { full: full.logits!.data as Float32Array, stepped, inputNames: s.inputNames, rows: ids };
  } finally {
    await s.release();
  }
}

/** Exports `model` (dense, or shared at `ratio`) and checks its logits against headshare's forward. */
async function checkExport(model: string, ratio: number | undefined, tmp: string, S = 12): Promise<ExportResult> {
  const out = path.join(tmp, `export-${ratio ?? "dense"}-${path.basename(model)}`);
  const r = await exportOnnx(model, { outDir: out, providers: ["cpu"], ...(ratio !== undefined ? { ratio } : {}) });
  const ck = await openCheckpoint(model);
  try {
    const got = await exportedLogits(path.join(out, "onnx", "model.onnx"), ck, S);
    assert.deepEqual(
      [...got.inputNames].filter((n) => !/^past_key_values\./.test(n)),
      ["input_ids", "attention_mask", "position_ids"],
      "a session sees only the decoder inputs (weights are initializers)",
    );
    const V = ck.spec.vocab;
    const want0 = await ownLogits(ck, got.rows[0]!, r.plan);
    const want1 = await ownLogits(ck, got.rows[1]!.slice(3), r.plan);
    const d0 = maxDiff(got.full.subarray(0, S * V), want0);
    const d1 = maxDiff(got.full.subarray((S + 3) * V, 2 * S * V), want1);
    const ds = maxDiff(got.stepped, want0);
    console.log(
      `# ${path.basename(model)} ${ratio === undefined ? "dense" : `shared ${ratio} (${r.plan?.selected ?? 0} units)`}: max |Δlogit| full ${d0.toExponential(2)}, left-padded ${d1.toExponential(2)}, cached steps ${ds.toExponential(2)}; ${r.parameters} of ${r.parametersDense} parameters stored`,
    );
    assert.ok(d0 <= TOL && d1 <= TOL && ds <= TOL, `exported logits differ from headshare's forward: ${d0}, ${d1}, ${ds}`);
    if (ratio) {
      assert.ok(r.plan && r.plan.selected > 0, "the plan shares units");
      const dense = await ownLogits(ck, got.rows[0]!);
      assert.ok(maxDiff(dense, want0) > 1e-3, "sharing changes the logits, so the comparison means something");
    }
  } finally {
    await ck.close();
  }
  return r;
}

test(
  "export onnx: stories260K-hf dense and shared 0.3 equal headshare's forward (≤ 1e-4), in one pass and through the cache",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-export-"));
    try {
      const model = sharedPath("models/stories260K-hf")!;
      const dense = await checkExport(model, undefined, tmp);
      const shared = await checkExport(model, 0.3, tmp);
      assert.equal(dense.parameters, dense.parametersDense);
      // 6 units × (q 16 + k 8 + v 8 rows + o 8 cols... ) = the compact checkpoint's parameter count, once each
      assert.equal(shared.parameters, 241_600, "the shared export stores the compact checkpoint's 241,600 parameters (docs/eval.md)");
      const files = await fs.readdir(path.join(tmp, "export-0.3-stories260K-hf"));
      assert.deepEqual(files.sort(), [
        "config.json",
        "generation_config.json",
        "headshare_export.json",
        "onnx",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  },
);

test("export onnx: the demo model dense and shared 0.3 equal headshare's forward", async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-export-"));
  try {
    await checkExport(DEMO, undefined, tmp);
    await checkExport(DEMO, 0.3, tmp);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

const families: [string, SyntheticOptions][] = [
  ["GPT-2", { family: "gpt2", layers: 4, heads: 4, headDim: 8, vocab: 64, maxPositions: 64, seed: 5 }],
  [
    "Qwen2 (GQA, q/k/v biases)",
    { family: "llama", layers: 4, heads: 4, kvHeads: 2, headDim: 8, vocab: 64, maxPositions: 64, seed: 6, qkvBias: true, tied: false },
  ],
  ["GPT-NeoX", { family: "gpt-neox", layers: 4, heads: 4, headDim: 8, vocab: 64, maxPositions: 64, seed: 7 }],
];
for (const [name, opts] of families) {
  test(`export onnx: ${name} dense and shared 0.3 equal headshare's forward`, async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-export-"));
    try {
      const model = await scaledSynthetic(tmp, opts, 10);
      await checkExport(model, undefined, tmp);
      await checkExport(model, 0.3, tmp);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
}

test(
  "export onnx: the GPT-2 test model (tiny-gpt2-random) equals headshare's forward and gets a tokenizer.json",
  { skip: sharedSkip("models/tiny-gpt2-random") },
  async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-export-"));
    try {
      await checkExport(sharedPath("models/tiny-gpt2-random")!, undefined, tmp);
      const files = await fs.readdir(path.join(tmp, "export-dense-tiny-gpt2-random"));
      assert.ok(files.includes("tokenizer.json") && files.includes("vocab.json") && files.includes("merges.txt"));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  },
);
