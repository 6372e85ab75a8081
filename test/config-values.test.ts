/**
 * Invalid numbers and unhonoured config values (issue 18, findings 6 and 7), refused up front
 * naming the file, the field and the valid range: rope_theta 0 / negative, rms_norm_eps −1,
 * rope_scaling factor 0 or an unknown type or a string, fewer layers in config.json than the
 * weights hold, a Llama hidden_act the graph does not implement, max_position_embeddings 1,
 * sliding_window 1, and NaN weights outside q/k (the tensor is named, not "result.nll").
 * Tiny synthetic models (milliseconds each).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { evaluate } from "../src/core/eval/evaluate";
import { makeProtocol } from "../src/core/eval/windows";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { openSafetensors, writeSafetensors } from "../src/core/safetensors";
import { byteTokenizerConfig, byteTokenizerJson, BYTE_VOCAB } from "../src/core/train/byteTokenizer";
import { removeDir, scratchDir } from "./fuzz/tmp";

const MODEL = { family: "llama" as const, layers: 3, heads: 4, kvHeads: 2, headDim: 8, intermediate: 32, vocab: BYTE_VOCAB, maxPositions: 64, seed: 8 };
const TEXT = "heads are shared across layers. ".repeat(8);

async function model(root: string, name: string, patch: Record<string, unknown> = {}): Promise<string> {
  const dir = await writeSyntheticModel(path.join(root, name), MODEL);
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(byteTokenizerJson()));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(byteTokenizerConfig(64)));
  const cfgFile = path.join(dir, "config.json");
  fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, "utf8")), ...patch }));
  return dir;
}

async function evalOf(dir: string): Promise<number> {
  const ck = await openCheckpoint(dir);
  try {
    return (await evaluate(ck, TEXT, makeProtocol({ bos: true }, ck.spec.maxPositions), { providers: ["cpu"] })).nll;
  } finally {
    await ck.close();
  }
}

test("config: invalid numbers are refused when the checkpoint opens, naming config.json, the field and the range", async () => {
  const root = scratchDir("config-values");
  try {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["theta0", { rope_theta: 0 }, /config\.json: config\.json "rope_theta" is 0; it must be a number greater than 0/],
      ["thetaneg", { rope_theta: -5 }, /"rope_theta" is -5; it must be a number greater than 0/],
      ["eps", { rms_norm_eps: -1 }, /"rms_norm_eps" is -1; it must be a number greater than 0/],
      [
        "factor0",
        { rope_scaling: { type: "linear", factor: 0 } },
        /config\.json: config\.json "rope_scaling" "factor" is 0; it must be a number greater than 0/,
      ],
      ["lol", { rope_scaling: "lol" }, /config\.json: config\.json "rope_scaling" is "lol"; expected an object/],
      ["type", { rope_scaling: { type: "yarn", factor: 2 } }, /"rope_scaling" has type "yarn"; supported: "default", "linear", "llama3"/],
      [
        "llama3",
        { rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } },
        /"low_freq_factor" 4 must be below "high_freq_factor" 1/,
      ],
      [
        "layers",
        { num_hidden_layers: 2 },
        /config\.json says 2 layers \("num_hidden_layers"\), but the weights hold layers up to 2 \(e\.g\. "model\.layers\.2\.[^"]+"\); they would be ignored/,
      ],
    ];
    for (const [name, patch, re] of cases) {
      const dir = await model(root, name, patch);
      await assert.rejects(
        openCheckpoint(dir),
        (e: unknown) => e instanceof Error && re.test(e.message) && e.message.includes(path.join(dir, "config.json")),
        `${name}: ${JSON.stringify(patch)}`,
      );
    }
    // valid scalings still open
    await (await openCheckpoint(await model(root, "ok", { rope_scaling: { type: "linear", factor: 2 } }))).close();
  } finally {
    removeDir(root);
  }
});

test("config: a Llama hidden_act the graph does not implement, max_position_embeddings 1 and sliding_window 1 are refused by name; silu evaluates", async () => {
  const root = scratchDir("config-act");
  try {
    assert.ok(Number.isFinite(await evalOf(await model(root, "silu"))));
    for (const act of ["gelu", "relu", "relu6_custom"]) {
      await assert.rejects(
        evalOf(await model(root, act, { hidden_act: act })),
        (e: unknown) => e instanceof Error && e.message.includes(`config.json "hidden_act" is "${act}"; the Llama forward graph implements only "silu"`),
        act,
      );
    }
    await assert.rejects(
      evalOf(await model(root, "pos1", { max_position_embeddings: 1 })),
      (e: unknown) => e instanceof Error && /"max_position_embeddings" or its equivalent\) is 1 position/.test(e.message) && !/undefined/.test(e.message),
    );
    await assert.rejects(
      evalOf(await model(root, "sw1", { sliding_window: 1 })),
      (e: unknown) =>
        e instanceof Error &&
        /attends to only 1 position\(s\) \(config\.json "max_position_embeddings" \/ "sliding_window"\)/.test(e.message) &&
        !/--window 1 or less/.test(e.message),
    );
  } finally {
    removeDir(root);
  }
});

test("config: a NaN weight outside q/k fails the evaluation naming the tensor and file, not the result schema", async () => {
  const root = scratchDir("config-nan");
  try {
    const dir = await model(root, "nan");
    const file = path.join(dir, "model.safetensors");
    const src = await openSafetensors(file);
    const target = src.tensors.find((t) => t.name.includes("mlp.down_proj"))!;
    const copies = await Promise.all(
      src.tensors.map(async (t) => {
        const bytes = new Uint8Array(await src.readBytes(t.name));
        if (t.name === target.name) new DataView(bytes.buffer, bytes.byteOffset).setFloat32(4 * 5, NaN, true); // element 5
        return { name: t.name, dtype: t.dtype, shape: t.shape, data: bytes };
      }),
    );
    const meta = src.metadata;
    await src.close();
    assert.equal(target.dtype, "F32");
    await writeSafetensors(file, copies, meta);
    await assert.rejects(
      evalOf(dir),
      (e: unknown) =>
        e instanceof Error &&
        (e as { code?: string }).code === "non-finite" &&
        e.message.includes(`tensor "${target.name}" holds NaN at element 5`) &&
        e.message.includes("model.safetensors"),
    );
  } finally {
    removeDir(root);
  }
});

test("inspect: a compact checkpoint whose plan expand would refuse is reported invalid (CLI exit 1), a valid one is not", async () => {
  const { writeShared } = await import("../src/core/share/write");
  const { planSharing } = await import("../src/core/share/plan");
  const { compactPlanProblem } = await import("../src/core/share/planCheck");
  const { syntheticTable } = await import("./crash/table");
  const root = scratchDir("inspect-plan");
  try {
    const dir = await model(root, "m");
    const out = path.join(root, "compact");
    const ck = await openCheckpoint(dir);
    try {
      await writeShared(ck, planSharing(syntheticTable(MODEL.layers, MODEL.kvHeads), 0.5), { format: "compact", outDir: out });
    } finally {
      await ck.close();
    }
    assert.equal(await compactPlanProblem(out), null);
    // The plan now claims other targets than the ones the stored shapes were cut for.
    const file = path.join(out, "model.safetensors");
    const src = await openSafetensors(file);
    const plan = JSON.parse(src.metadata["headshare.plan"]!) as { targets: { layer: number; unit: number; rootLayer: number; rootUnit: number }[] };
    plan.targets = plan.targets.slice(1);
    const copies = await Promise.all(
      src.tensors.map(async (t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: new Uint8Array(await src.readBytes(t.name)) })),
    );
    const meta = { ...src.metadata, "headshare.plan": JSON.stringify(plan) };
    await src.close();
    await writeSafetensors(file, copies, meta);
    const problem = await compactPlanProblem(out);
    assert.ok(problem && /model\.safetensors/.test(problem), `the plan problem names the file: ${problem}`);
    const cli = path.resolve(__dirname, "../../dist/cli.js");
    if (fs.existsSync(cli)) {
      const { spawnSync } = await import("node:child_process");
      const r = spawnSync(process.execPath, [cli, "inspect", out], { encoding: "utf8" });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stdout, /plan:\s+INVALID: /);
      assert.match(r.stderr, /the compact checkpoint's plan is invalid \(expand would refuse it\)/);
    }
  } finally {
    removeDir(root);
  }
});
