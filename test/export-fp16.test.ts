// headshare export --dtype fp16: weights stored (and kept resident) as float16, computed in float32.
// The exported file, run by a stock onnxruntime session, equals headshare's own forward with the
// weights rounded to float16 (≤ 1e-4: the graph adds nothing but the rounding) and the fp32 forward
// within FP16_TOL (measured, see docs/export.md); onnxruntime does not fold the weights' Casts into
// float32 copies; transformers.js loads the folder by default as fp16 and generates what the same
// file generates under a plain greedy loop; weights beyond float16's range are refused.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { buildForward } from "../src/core/graph/forward";
import { loadWeightFeeds } from "../src/core/graph/feeds";
import { cacheHeads, pastKeyName, pastValueName, presentKeyName, presentValueName } from "../src/core/graph/kvCache";
import { bytesToF32, f32ToBytes } from "../src/core/safetensors/dtype";
import { exportOnnx, type ExportResult } from "../src/core/export/exportOnnx";
import { ExportError } from "../src/core/export/errors";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { Generator } from "../src/core/generate/generator";
import { Tensor, type OrtTensor } from "../src/core/runtime/ort";
import type { SharingPlan } from "../src/core/share/types";
import { exportedLogits, maxDiff, ownLogits } from "./helpers/decoderRun";
import { scaledSynthetic } from "./graph-reference";
import { sharedPath, sharedSkip } from "./helpers/shared";

const DEMO = path.resolve(__dirname, "../../assets/demo-model");
/** The exported fp16 graph vs headshare's forward on the same (float16-rounded) weights. */
const SAME_WEIGHTS_TOL = 1e-4;
/** vs the float32 forward: the weights' rounding alone (measured 2.4e-3 … 5.3e-3 on these models, logits up to 17; docs/export.md). */
const FP16_TOL = 1e-2;

/** headshare's weight feeds (the plan applied) rounded to float16 and back, by input name. */
async function roundedWeights(model: string, plan: SharingPlan | undefined): Promise<Record<string, OrtTensor>> {
  const ck = await openCheckpoint(model);
  try {
    const feeds = await loadWeightFeeds(ck, buildForward(ck, { logits: true }).weights, plan ? { plan } : {});
    const out: Record<string, OrtTensor> = {};
    for (const f of feeds) out[f.input] = new Tensor("float32", bytesToF32(f32ToBytes(f.data, "F16"), "F16"), [...f.dims]);
    return out;
  } finally {
    await ck.close();
  }
}

async function checkFp16(model: string, ratio: number | undefined, tmp: string, S = 12, castChunkElements?: number): Promise<ExportResult> {
  const out = path.join(tmp, `fp16-${ratio ?? "dense"}-${castChunkElements ?? "whole"}-${path.basename(model)}`);
  const r = await exportOnnx(model, {
    outDir: out,
    dtype: "fp16",
    providers: ["cpu"],
    ...(ratio !== undefined ? { ratio } : {}),
    ...(castChunkElements ? { castChunkElements } : {}),
  });
  assert.equal(r.dtype, "fp16");
  assert.ok(r.files.includes("onnx/model_fp16.onnx") && !r.files.includes("onnx/model.onnx"), `fp16 writes onnx/model_fp16.onnx: ${r.files.join(", ")}`);
  const file = path.join(out, "onnx", "model_fp16.onnx");
  if (castChunkElements) assert.ok((await fs.readFile(file)).includes("/piece.1/Gemm"), "weight reads are cut into pieces");
  // 2 bytes per stored parameter, plus the graph (and its small constants)
  assert.ok(
    r.bytes >= 2 * r.parameters && r.bytes < 2 * r.parameters + 256 * 1024,
    `${r.bytes} bytes for ${r.parameters} fp16 parameters`,
  );
  const config = JSON.parse(await fs.readFile(path.join(out, "config.json"), "utf8")) as Record<string, { dtype?: string }>;
  assert.equal(config["transformers.js_config"]?.dtype, "fp16", "config.json makes transformers.js load the fp16 file by default");
  // onnxruntime with default options keeps the weights float16 (no Cast folded into a float32 copy)
  const optimized = path.join(tmp, `optimized-${path.basename(out)}.onnx`);
  const probe = await ort.InferenceSession.create(file, { optimizedModelFilePath: optimized, logSeverityLevel: 3 });
  await probe.release();
  const optBytes = (await fs.stat(optimized)).size;
  assert.ok(optBytes < r.bytes + r.parameters, `the optimized model holds ${optBytes} bytes, the file ${r.bytes}: onnxruntime made float32 copies of the weights`);

  const ck = await openCheckpoint(model);
  try {
    const got = await exportedLogits(file, ck, S);
    const V = ck.spec.vocab;
    const rounded = await roundedWeights(model, r.plan);
    const same0 = await ownLogits(ck, got.rows[0]!, r.plan, rounded);
    const same1 = await ownLogits(ck, got.rows[1]!.slice(3), r.plan, rounded);
    const f32 = await ownLogits(ck, got.rows[0]!, r.plan);
    const d0 = maxDiff(got.full.subarray(0, S * V), same0);
    const d1 = maxDiff(got.full.subarray((S + 3) * V, 2 * S * V), same1);
    const ds = maxDiff(got.stepped, same0);
    const dFp32 = maxDiff(got.full.subarray(0, S * V), f32);
    const scale = f32.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    console.log(
      `# fp16 ${path.basename(model)} ${ratio === undefined ? "dense" : `shared ${ratio}`}: vs the rounded weights' forward max |Δ| ${d0.toExponential(2)} (left-padded ${d1.toExponential(2)}, cached ${ds.toExponential(2)}); vs fp32 ${dFp32.toExponential(2)} (max |logit| ${scale.toFixed(2)}); ${r.parameters} parameters, ${r.bytes} bytes; optimized model ${optBytes} bytes`,
    );
    assert.ok(d0 <= SAME_WEIGHTS_TOL && d1 <= SAME_WEIGHTS_TOL && ds <= SAME_WEIGHTS_TOL, `fp16 export vs the rounded forward: ${d0}, ${d1}, ${ds}`);
    assert.ok(dFp32 <= FP16_TOL, `fp16 export vs the fp32 forward: ${dFp32} > ${FP16_TOL}`);
    assert.ok(dFp32 > 0, "the weights were rounded");
  } finally {
    await ck.close();
  }
  return r;
}

test("export fp16: the demo model dense and shared 0.3 equal headshare's forward on float16 weights (≤ 1e-4) and the fp32 one within 1e-2", async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-fp16-"));
  try {
    const dense = await checkFp16(DEMO, undefined, tmp);
    const shared = await checkFp16(DEMO, 0.3, tmp);
    assert.equal(dense.parameters, dense.parametersDense);
    assert.ok(shared.parameters < dense.parameters);
    // weight reads in pieces of ≤ 8192 elements (as a 7B model's are cut at 4 Mi): the same logits
    await checkFp16(DEMO, undefined, tmp, 12, 8192);
    await checkFp16(DEMO, 0.3, tmp, 12, 8192);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

test(
  "export fp16: stories260K-hf dense and shared 0.3 (the compact checkpoint's 241,600 parameters at 2 bytes)",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-fp16-"));
    try {
      const model = sharedPath("models/stories260K-hf")!;
      await checkFp16(model, undefined, tmp);
      const shared = await checkFp16(model, 0.3, tmp);
      assert.equal(shared.parameters, 241_600);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  },
);

test("export fp16: GPT-2 (synthetic) dense and shared 0.3", async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-fp16-"));
  try {
    const model = await scaledSynthetic(tmp, { family: "gpt2", layers: 4, heads: 4, headDim: 8, vocab: 64, maxPositions: 64, seed: 5 }, 10);
    await checkFp16(model, undefined, tmp);
    await checkFp16(model, 0.3, tmp);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

const PROMPTS = ["Once upon a time", "The little dog", "Lily and Ben went to the park. They"];
const NEW_TOKENS = 64;

/** Greedy generation by a plain loop over the exported file (stock session, KV cache fed back). */
async function fileGreedy(file: string, model: string, prompt: readonly number[]): Promise<number[]> {
  const ck = await openCheckpoint(model);
  const spec = ck.spec;
  await ck.close();
  const s = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
  try {
    const seq = [...prompt];
    let past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < spec.layers; l++)
      for (const n of [pastKeyName(l), pastValueName(l)]) past[n] = new ort.Tensor("float32", new Float32Array(0), [1, cacheHeads(spec), 0, spec.headDim]);
    let fed = 0;
    const out: number[] = [];
    while (out.length < NEW_TOKENS) {
      const n = seq.length - fed;
      const r = await s.run({
        input_ids: new ort.Tensor("int64", BigInt64Array.from(seq.slice(fed), BigInt), [1, n]),
        attention_mask: new ort.Tensor("int64", new BigInt64Array(seq.length).fill(1n), [1, seq.length]),
        position_ids: new ort.Tensor(
          "int64",
          BigInt64Array.from({ length: n }, (_, i) => BigInt(fed + i)),
          [1, n],
        ),
        ...past,
      });
      const logits = (r.logits!.data as Float32Array).subarray((n - 1) * spec.vocab, n * spec.vocab); // [V]
      let id = 0;
      for (let v = 1; v < spec.vocab; v++) if (logits[v]! > logits[id]!) id = v;
      past = {};
      for (let l = 0; l < spec.layers; l++) {
        past[pastKeyName(l)] = r[presentKeyName(l)]!;
        past[pastValueName(l)] = r[presentValueName(l)]!;
      }
      fed = seq.length;
      out.push(id);
      seq.push(id);
      if (id === spec.config.eos_token_id) break;
    }
    return out;
  } finally {
    await s.release();
  }
}

test(
  "export fp16: transformers.js loads the folder as fp16 by default and generates what the file generates; token agreement with fp32 stated",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-fp16-tjs-"));
    try {
      const model = sharedPath("models/stories260K-hf")!;
      const tok = await loadTokenizer(model);
      const prompts = PROMPTS.map((p) => [...(tok.bosTokenId !== undefined ? [tok.bosTokenId] : []), ...tok.encode(p)]);
      const tjs = await import("@huggingface/transformers");
      tjs.env.allowRemoteModels = false;
      tjs.env.allowLocalModels = true;
      for (const ratio of [undefined, 0.3]) {
        const r = await exportOnnx(model, {
          outDir: path.join(tmp, String(ratio ?? "dense")),
          dtype: "fp16",
          providers: ["cpu"],
          ...(ratio !== undefined ? { ratio } : {}),
        });
        // no dtype given: config.json's transformers.js_config picks model_fp16.onnx (the only file there)
        const m = await tjs.AutoModelForCausalLM.from_pretrained(r.outDir, { local_files_only: true, device: "cpu", session_options: { logSeverityLevel: 3 } });
        const ck = await openCheckpoint(model);
        const gen = await Generator.create(ck, { providers: ["cpu"], threads: 1, ...(r.plan ? { plan: r.plan } : {}) });
        let same = 0,
          total = 0;
        const prefixes: number[] = [];
        try {
          for (const ids of prompts) {
            const input_ids = new tjs.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]);
            const attention_mask = new tjs.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
            const res = (await m.generate({ input_ids, attention_mask, max_new_tokens: NEW_TOKENS, do_sample: false })) as { data: BigInt64Array };
            const theirs = Array.from(res.data, Number).slice(ids.length);
            assert.deepEqual(
              theirs,
              await fileGreedy(path.join(r.outDir, "onnx", "model_fp16.onnx"), model, ids),
              "transformers.js and a plain loop over the file agree",
            );
            const fp32 = (await gen.generate(ids, { maxTokens: NEW_TOKENS })).ids;
            let k = 0;
            while (k < Math.min(theirs.length, fp32.length) && theirs[k] === fp32[k]) k++;
            prefixes.push(k);
            total += Math.max(theirs.length, fp32.length);
            same += theirs.filter((x, i) => x === fp32[i]).length;
          }
        } finally {
          await gen.release();
          await ck.close();
          await m.dispose();
        }
        console.log(
          `# fp16 ${ratio === undefined ? "original" : `shared ${ratio}`}: transformers.js fp16 vs headshare generate fp32: ${same}/${total} tokens at the same position; identical prefixes ${prefixes.join(", ")} of ${NEW_TOKENS}`,
        );
        assert.ok(
          prefixes.every((k) => k >= 8),
          `fp16 greedy should follow fp32 for at least 8 tokens: ${prefixes.join(", ")}`,
        );
      }
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  },
);

test("export fp16: a weight beyond float16's range is refused naming the tensor, nothing left behind", async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-fp16-bad-"));
  try {
    const model = await scaledSynthetic(path.join(tmp, "m"), { family: "llama", layers: 2, heads: 2, headDim: 4, vocab: 32, maxPositions: 16, seed: 3 }, 1e7);
    await assert.rejects(
      exportOnnx(model, { outDir: path.join(tmp, "out"), dtype: "fp16" }),
      (e: unknown) =>
        e instanceof ExportError && e.code === "bad-input" && e.message.includes(model) && /float16's range/.test(e.message) && /--dtype fp32/.test(e.message),
    );
    assert.deepEqual(await fs.readdir(tmp), ["m"]);
    await assert.rejects(
      exportOnnx(model, { outDir: path.join(tmp, "out"), dtype: "bf16" as "fp16" }),
      (e: unknown) => e instanceof ExportError && /choose fp32 or fp16/.test(e.message),
    );
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
