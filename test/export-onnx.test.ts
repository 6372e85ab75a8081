// headshare export --format onnx: the exported KV-cache decoder, loaded by a stock onnxruntime
// session from the folder, gives headshare's own forward logits (≤ 1e-4, fp32) for the original
// and the shared model, in one pass and step by step through its cache; each stored unit is in the
// file once; bad input fails naming the file and leaves nothing behind.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import type { SyntheticOptions } from "../src/core/model/synthetic";
import { exportOnnx, type ExportResult } from "../src/core/export/exportOnnx";
import { exportedLogits, maxDiff, ownLogits } from "./helpers/decoderRun";
import { scaledSynthetic } from "./graph-reference";
import { sharedPath, sharedSkip } from "./helpers/shared";

const DEMO = path.resolve(__dirname, "../../assets/demo-model");
const TOL = 1e-4;

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
