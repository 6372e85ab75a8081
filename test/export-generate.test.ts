// Generation: transformers.js (@huggingface/transformers, offline, local folder) loads the exported
// folder and its greedy continuation of three prompts equals headshare's own KV-cache generation
// token for token, for the original and the shared model; the KV cache equals full recompute; bad
// input to the export fails naming the file and leaves nothing behind.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { exportOnnx } from "../src/core/export/exportOnnx";
import { ExportError } from "../src/core/export/errors";
import { Generator } from "../src/core/generate/generator";
import type { SharingPlan } from "../src/core/share/types";
import { sharedPath, sharedSkip } from "./helpers/shared";

const DEMO = path.resolve(__dirname, "../../assets/demo-model");
const PROMPTS = ["Once upon a time", "The little dog", "Lily and Ben went to the park. They"];
const NEW_TOKENS = 64;

/** transformers.js greedy generation of `NEW_TOKENS` from each prompt (ids include the prompt). */
async function transformersJs(dir: string, prompts: readonly number[][]): Promise<number[][]> {
  const tjs = await import("@huggingface/transformers");
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  const model = await tjs.AutoModelForCausalLM.from_pretrained(dir, {
    local_files_only: true,
    dtype: "fp32",
    device: "cpu",
    session_options: { logSeverityLevel: 3 },
  });
  try {
    const out: number[][] = [];
    for (const ids of prompts) {
      const input_ids = new tjs.Tensor(
        "int64",
        BigInt64Array.from(ids, (x) => BigInt(x)),
        [1, ids.length],
      );
      const attention_mask = new tjs.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
      const r = (await model.generate({ input_ids, attention_mask, max_new_tokens: NEW_TOKENS, do_sample: false })) as { data: BigInt64Array };
      out.push(Array.from(r.data, (x) => Number(x)).slice(ids.length));
    }
    return out;
  } finally {
    await model.dispose();
  }
}

async function headshare(model: string, prompts: readonly number[][], plan: SharingPlan | undefined, kvCache = true): Promise<number[][]> {
  const ck = await openCheckpoint(model);
  const gen = await Generator.create(ck, { providers: ["cpu"], threads: 1, ...(plan ? { plan } : {}) });
  try {
    const out: number[][] = [];
    for (const p of prompts) out.push((await gen.generate(p, { maxTokens: NEW_TOKENS, kvCache })).ids);
    return out;
  } finally {
    await gen.release();
    await ck.close();
  }
}

async function promptIds(model: string): Promise<number[][]> {
  const tok = await loadTokenizer(model);
  return PROMPTS.map((p) => [...(tok.bosTokenId !== undefined ? [tok.bosTokenId] : []), ...tok.encode(p)]);
}

async function checkSameAsTransformersJs(model: string): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-tjs-"));
  try {
    const prompts = await promptIds(model);
    for (const ratio of [undefined, 0.3]) {
      const r = await exportOnnx(model, { outDir: path.join(tmp, String(ratio ?? "dense")), providers: ["cpu"], ...(ratio !== undefined ? { ratio } : {}) });
      const ours = await headshare(model, prompts, r.plan);
      const theirs = await transformersJs(r.outDir, prompts);
      ours.forEach((ids, i) => {
        console.log(
          `# ${path.basename(model)} ${ratio === undefined ? "original" : `shared ${ratio}`} "${PROMPTS[i]}": ${ids.length} tokens: ${ids.slice(0, 12).join(" ")} …`,
        );
        assert.deepEqual(theirs[i], ids, `transformers.js and headshare generate differ for prompt ${i} (${ratio ?? "original"})`);
      });
      if (ratio !== undefined) {
        const original = await headshare(model, prompts, undefined);
        assert.notDeepEqual(original, ours, "the shared model writes something else than the original, so the comparison means something");
      }
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

test(
  "generate: transformers.js on the exported stories260K-hf folder equals headshare generate token for token (3 prompts × 64, original and shared 0.3)",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    await checkSameAsTransformersJs(sharedPath("models/stories260K-hf")!);
  },
);

test("generate: transformers.js on the exported demo model equals headshare generate (original and shared 0.3)", async () => {
  await checkSameAsTransformersJs(DEMO);
});

test(
  "generate: the KV cache equals full recompute token for token (original and shared), sampling is seeded",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    const model = sharedPath("models/stories260K-hf")!;
    const prompts = await promptIds(model);
    const ck = await openCheckpoint(model);
    const { resolvePlan } = await import("../src/core/export/plan");
    const { plan } = await resolvePlan(ck, { ratio: 0.3, providers: ["cpu"] });
    await ck.close();
    for (const p of [undefined, plan]) {
      const cached = await headshare(model, prompts, p, true);
      const full = await headshare(model, prompts, p, false);
      assert.deepEqual(cached, full);
    }
    const ck2 = await openCheckpoint(model);
    const gen = await Generator.create(ck2, { providers: ["cpu"], threads: 1 });
    try {
      const a = await gen.generate(prompts[0]!, { maxTokens: 32, temperature: 0.8, topP: 0.9, seed: 7 });
      const b = await gen.generate(prompts[0]!, { maxTokens: 32, temperature: 0.8, topP: 0.9, seed: 7 });
      const c = await gen.generate(prompts[0]!, { maxTokens: 32, temperature: 0.8, topP: 0.9, seed: 8 });
      const g = await gen.generate(prompts[0]!, { maxTokens: 32 });
      assert.deepEqual(a.ids, b.ids, "one seed, one continuation");
      assert.ok(a.ids.join() !== c.ids.join() || a.ids.join() !== g.ids.join(), "another seed or greedy writes something else");
      await assert.rejects(gen.generate([9999], { maxTokens: 1 }), /outside the model's vocabulary/);
    } finally {
      await gen.release();
      await ck2.close();
    }
  },
);

test(
  "generate: the PostShare sampler (batched, KV cache) draws what full-recompute generation draws with the same seed",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    const { sampleSequences } = await import("../src/core/train/sample");
    const { buildForward } = await import("../src/core/graph/forward");
    const { loadWeightFeeds } = await import("../src/core/graph/feeds");
    const ck = await openCheckpoint(sharedPath("models/stories260K-hf")!);
    try {
      const feeds = await loadWeightFeeds(ck, buildForward(ck, { kvCache: true }).weights);
      const params = new Map(feeds.map((f) => [f.input, f.data]));
      const [sampled] = await sampleSequences(ck, params, { batch: 1, length: 40, rounds: 1, temperature: 0.9, seed: 12, bos: 1, providers: ["cpu"] });
      const gen = await Generator.create(ck, { providers: ["cpu"], threads: 1 });
      try {
        const r = await gen.generate([1], { maxTokens: 39, temperature: 0.9, seed: 12, stopAtEos: false, kvCache: false });
        assert.deepEqual([...sampled!].slice(1), r.ids);
      } finally {
        await gen.release();
      }
    } finally {
      await ck.close();
    }
  },
);

/** The parent folder holds only `keep` (nothing staged was left behind). */
async function onlyLeft(dir: string, keep: readonly string[]): Promise<void> {
  assert.deepEqual((await fs.readdir(dir)).sort(), [...keep].sort());
}

test("export: bad input fails naming the file, leaving nothing behind", { skip: sharedSkip("models/stories260K-hf") }, async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-export-bad-"));
  try {
    const model = sharedPath("models/stories260K-hf")!;
    // an encoder (BERT) is not a decoder
    const bert = await writeSyntheticModel(path.join(tmp, "bert"), { family: "bert", layers: 2, heads: 2, headDim: 4, vocab: 32, seed: 1 });
    await assert.rejects(
      exportOnnx(bert, { outDir: path.join(tmp, "out") }),
      (e: unknown) => e instanceof ExportError && e.code === "unsupported" && e.message.includes(path.join(tmp, "bert")) && /encoder/.test(e.message),
    );
    await onlyLeft(tmp, ["bert"]);
    // a plan made for another model (the demo model: 4 layers) on stories260K-hf (5 layers)
    const ck = await openCheckpoint(DEMO);
    const { resolvePlan } = await import("../src/core/export/plan");
    const { plan } = await resolvePlan(ck, { ratio: 0.3, providers: ["cpu"] });
    await ck.close();
    const planFile = path.join(tmp, "demo-plan.json");
    await assert.rejects(
      exportOnnx(model, { outDir: path.join(tmp, "out"), plan: plan!, planFile }),
      (e: unknown) => e instanceof ExportError && e.message.includes(planFile) && e.message.includes("4 layers") && e.message.includes(model),
    );
    await onlyLeft(tmp, ["bert"]);
    // an existing output folder is refused and left as it was
    await fs.mkdir(path.join(tmp, "exists"));
    await fs.writeFile(path.join(tmp, "exists", "keep.txt"), "mine");
    await assert.rejects(
      exportOnnx(model, { outDir: path.join(tmp, "exists") }),
      (e: unknown) => e instanceof ExportError && e.message.includes(path.join(tmp, "exists")) && /already exists/.test(e.message),
    );
    assert.equal(await fs.readFile(path.join(tmp, "exists", "keep.txt"), "utf8"), "mine");
    await onlyLeft(tmp, ["bert", "exists"]);
    // a cancelled export leaves nothing
    const ac = new AbortController();
    const p = exportOnnx(model, {
      outDir: path.join(tmp, "cancelled"),
      ratio: 0.3,
      providers: ["cpu"],
      signal: ac.signal,
      onProgress: (q) => {
        if (q.phase === "weights") ac.abort();
      },
    });
    await assert.rejects(p, (e: unknown) => e instanceof ExportError && e.code === "cancelled");
    await onlyLeft(tmp, ["bert", "exists"]);
    // a compact checkpoint exports with its own plan only
    const { writeShared } = await import("../src/core/share/write");
    const ck2 = await openCheckpoint(model);
    await writeShared(ck2, (await resolvePlan(ck2, { ratio: 0.3, providers: ["cpu"] })).plan!, { format: "compact", outDir: path.join(tmp, "compact") });
    await ck2.close();
    await assert.rejects(exportOnnx(path.join(tmp, "compact"), { outDir: path.join(tmp, "out"), ratio: 0.2 }), /its own plan/);
    const r = await exportOnnx(path.join(tmp, "compact"), { outDir: path.join(tmp, "from-compact") });
    assert.equal(r.parameters, 241_600);
    assert.equal(r.plan?.selected, 6);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
