/**
 * `headshare inspect` end to end (node dist/cli.js): JSON keys and values against the shared
 * models' documented numbers and against closed forms on seeded synthetic checkpoints of every
 * family; compact headshare checkpoints; a multi-GB sparse checkpoint inspected by reading only
 * headers; errors as one line on stderr with exit code 1 (stack only with --debug).
 */
import test from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inspectCheckpoint, openCheckpoint, writeSyntheticModel, type SyntheticOptions } from "../src/core/model";
import { writeSafetensors } from "../src/core/safetensors";
import { sharedPath, sharedSkip } from "./helpers/shared";
import { writeSparseLlama } from "./helpers/sparseLlama";

const cli = path.resolve(__dirname, "../../dist/cli.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hs-cli-inspect-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (s: string) => path.join(tmp, `${s}-${n++}`);

function run(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function json(...args: string[]): Record<string, any> {
  const r = run("inspect", ...args, "--json");
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test(
  "cli inspect: stories260K-hf --json reports Llama, 5 layers, 8 heads, 4 kv heads, head size 8, width 64, 260,032 F32 parameters",
  { skip: sharedSkip("models/stories260K-hf") },
  () => {
    const s = json(sharedPath("models/stories260K-hf")!);
    assert.equal(s.architecture, "LlamaForCausalLM");
    assert.equal(s.family, "llama");
    assert.deepEqual([s.layers, s.heads, s.kvHeads, s.headDim, s.hidden], [5, 8, 4, 8, 64]);
    assert.equal(s.parameters, 260_032);
    assert.deepEqual(s.dtypes, { F32: 260_032 });
    assert.equal(s.bytes, 260_032 * 4);
    assert.equal(s.fileBytes, 1_044_992);
    // q 64×64 + k 32×64 + v 32×64 + o 64×64 per layer, 5 layers.
    assert.equal(s.attentionParameters, 5 * (64 * 64 + 32 * 64 + 32 * 64 + 64 * 64));
    assert.equal(s.tensors.length, 47);
    assert.deepEqual(s.tensors[0], { name: "model.embed_tokens.weight", dtype: "F32", shape: [512, 64], bytes: 131072 });
    assert.equal(s.plan, null);
  },
);

test("cli inspect: tiny-gpt2-random --json reports GPT-2, 1 layer, 1 head", { skip: sharedSkip("models/tiny-gpt2-random") }, () => {
  const s = json(sharedPath("models/tiny-gpt2-random")!);
  assert.equal(s.family, "gpt2");
  assert.equal(s.architecture, "GPT2Model");
  assert.equal(s.layers, 1);
  assert.equal(s.heads, 1);
  assert.equal(s.parameters, 2168);
  // c_attn [2, 6] + bias [6] + c_proj [2, 2] + bias [2]
  assert.equal(s.attentionParameters, 12 + 6 + 4 + 2);
});

const cases: { opts: SyntheticOptions; attention: (o: SyntheticOptions) => number }[] = [
  {
    opts: { family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, seed: 1, dtype: "BF16" },
    attention: (o) => o.layers * (2 * o.heads * o.headDim * o.heads * o.headDim + 2 * o.kvHeads! * o.headDim * o.heads * o.headDim),
  },
  {
    opts: { family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 4, seed: 2, qkvBias: true, shards: 2 },
    attention: (o) => {
      const d = o.heads * o.headDim,
        kv = o.kvHeads! * o.headDim;
      return o.layers * (2 * d * d + 2 * kv * d + d + 2 * kv);
    },
  },
  {
    opts: { family: "gpt2", layers: 2, heads: 2, headDim: 4, seed: 3, dtype: "F16" },
    attention: (o) => {
      const d = o.heads * o.headDim;
      return o.layers * (4 * d * d + 4 * d);
    },
  },
  {
    opts: { family: "bert", layers: 2, heads: 2, headDim: 4, seed: 4 },
    attention: (o) => {
      const d = o.heads * o.headDim;
      return o.layers * (4 * d * d + 4 * d);
    },
  },
  {
    opts: { family: "gpt-neox", layers: 2, heads: 2, headDim: 4, seed: 5 },
    attention: (o) => {
      const d = o.heads * o.headDim;
      return o.layers * (4 * d * d + 4 * d);
    },
  },
];
for (const c of cases) {
  test(`cli inspect: synthetic ${c.opts.family}${c.opts.shards ? " sharded" : ""} ${c.opts.dtype ?? "F32"}: sizes, parameters and attention share`, async () => {
    const dir = await writeSyntheticModel(fresh(c.opts.family), c.opts);
    const s = json(dir);
    assert.equal(s.family, c.opts.family);
    assert.deepEqual(
      [s.layers, s.heads, s.kvHeads, s.headDim, s.hidden],
      [c.opts.layers, c.opts.heads, c.opts.kvHeads ?? c.opts.heads, c.opts.headDim, c.opts.heads * c.opts.headDim],
    );
    const ck = await openCheckpoint(dir);
    const total = ck.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    await ck.close();
    assert.equal(s.parameters, total);
    assert.deepEqual(s.dtypes, { [c.opts.dtype ?? "F32"]: total });
    assert.equal(s.bytes, total * (c.opts.dtype && c.opts.dtype !== "F32" ? 2 : 4));
    assert.equal(s.attentionParameters, c.attention(c.opts));
    assert.ok(Math.abs(s.attentionShare - s.attentionParameters / total) < 1e-12);
    const text = run("inspect", dir);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`layers: +${c.opts.layers}\\n`));
    assert.match(text.stdout, /attention: +[\d,]+ parameters \([\d.]+% of all\)/);
  });
}

test("cli inspect: GPT-2 causal-mask buffers (attn.bias) are not counted as parameters", async () => {
  const dir = await writeSyntheticModel(fresh("gpt2-buffers"), { family: "gpt2", layers: 2, heads: 2, headDim: 4, seed: 6, maxPositions: 16 });
  const ck = await openCheckpoint(dir);
  const plain = ck.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  const tensors = await Promise.all(
    ck.source.tensors.map(async (t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: await ck.source.readBytes(t.name) })),
  );
  await ck.close();
  for (let l = 0; l < 2; l++) tensors.push({ name: `transformer.h.${l}.attn.bias`, dtype: "F32", shape: [1, 1, 16, 16], data: new Uint8Array(16 * 16 * 4) });
  await writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
  const s = json(dir);
  assert.equal(s.parameters, plain);
  assert.deepEqual(s.buffers, { tensors: 2, elements: 512 });
  assert.equal(s.bytes, plain * 4 + 512 * 4);
  assert.equal(s.attentionParameters, 2 * (4 * 64 + 4 * 8));
});

test("cli inspect: a compact headshare checkpoint is shown as shared (ratio, saved units, dense size)", async () => {
  // 2 layers × 2 KV groups (H=4, Hkv=2, dh=4, d=16); the plan drops unit 1 of layer 1 (root: layer 0 unit 0).
  const dir = await writeSyntheticModel(fresh("dense"), { family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 4, seed: 8, tied: true });
  const dense = await openCheckpoint(dir);
  const out = fresh("compact");
  fs.mkdirSync(out);
  fs.copyFileSync(dense.configPath, path.join(out, "config.json"));
  const shrink: Record<string, [number, number]> = {
    // name → [axis, kept size]
    "model.layers.1.self_attn.q_proj.weight": [0, 8],
    "model.layers.1.self_attn.k_proj.weight": [0, 4],
    "model.layers.1.self_attn.v_proj.weight": [0, 4],
    "model.layers.1.self_attn.o_proj.weight": [1, 8],
  };
  const originalShapes: Record<string, readonly number[]> = {};
  const tensors = await Promise.all(
    dense.source.tensors.map(async (t) => {
      const s = shrink[t.name];
      if (!s) return { name: t.name, dtype: t.dtype, shape: t.shape, data: await dense.source.readBytes(t.name) };
      originalShapes[t.name] = t.shape;
      const shape = s[0] === 0 ? [s[1], t.shape[1]!] : [t.shape[0]!, s[1]];
      return { name: t.name, dtype: t.dtype, shape, data: new Uint8Array(shape[0]! * shape[1]! * 4) };
    }),
  );
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
    parametersBefore: 100,
    parametersAfter: 90,
    targets: [{ layer: 1, unit: 1, sourceLayer: 0, sourceUnit: 0, rootLayer: 0, rootUnit: 0, score: 0.5, rootCosine: 0.5 }],
    storedFrom: [
      [
        [0, 0],
        [0, 1],
      ],
      [
        [1, 0],
        [0, 0],
      ],
    ],
  };
  await writeSafetensors(path.join(out, "model.safetensors"), tensors, {
    format: "pt",
    "headshare.plan": JSON.stringify(plan),
    "headshare.originalShapes": JSON.stringify(originalShapes),
  });
  const denseParams = dense.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  await dense.close();
  const s = json(out);
  assert.equal(s.compact, true);
  assert.equal(s.plan.savedUnits, 1);
  assert.equal(s.plan.ratio, 0.25);
  assert.equal(s.plan.targets.length, 1);
  assert.equal(s.denseParameters, denseParams);
  // One KV-group unit of q/k/v/o: (2·4 + 4 + 4 + 2·4)·16 = 384 parameters fewer.
  assert.equal(s.parameters, denseParams - 384);
  assert.equal(s.layers, 2);
  const text = run("inspect", out);
  assert.match(text.stdout, /shared: +compact headshare checkpoint: ratio 25\.0%, 1 units saved \(qk, group\)/);
});

test("cli inspect: a multi-GB sparse checkpoint is inspected by reading only headers", async (t) => {
  if (!fs.existsSync("/proc/self/io")) {
    t.skip("/proc/self/io is not available to count bytes read");
    return;
  }
  const L = 8; // ~3.8 GB of BF16, all holes
  const dir = fresh("sparse");
  const { file, headerBytes, dataBytes } = writeSparseLlama(dir, L);
  assert.ok(fs.statSync(file).size > 2 ** 31, "over 2 GiB");
  const rchar = () => Number(/rchar:\s*(\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);
  const before = rchar();
  const s = await inspectCheckpoint(dir);
  const read = rchar() - before;
  assert.equal(s.bytes, dataBytes);
  assert.equal(s.layers, L);
  assert.ok(read < 64 * 1024, `read ${read} bytes (header ${headerBytes} + config)`);
});

test("cli inspect: a bare .safetensors without config.json still lists its tensors and says why the model is unknown", async () => {
  const dir = fresh("bare");
  fs.mkdirSync(dir);
  const f = path.join(dir, "weights.safetensors");
  await writeSafetensors(f, [{ name: "a", dtype: "F16", shape: [3], data: new Uint8Array(6) }]);
  const s = json(f);
  assert.equal(s.architecture, null);
  assert.equal(s.parameters, 3);
  assert.match(s.modelError, /config\.json is missing/);
  assert.deepEqual(s.tensors, [{ name: "a", dtype: "F16", shape: [3], bytes: 6 }]);
});

test("cli inspect: errors are one line on stderr with exit code 1; --debug adds the stack", async () => {
  const missing = run("inspect", path.join(tmp, "does-not-exist"));
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, "");
  assert.match(missing.stderr, /^headshare: .*does-not-exist: does not exist; pass a checkpoint folder/);
  assert.equal(missing.stderr.trimEnd().split("\n").length, 1);
  const bad = path.join(tmp, "bad.safetensors");
  fs.writeFileSync(bad, Buffer.from([1, 0, 0]));
  const r = run("inspect", bad);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1);
  assert.ok(r.stderr.includes(bad) && /fewer than the 8-byte header length/.test(r.stderr), r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const dbg = run("inspect", bad, "--debug");
  assert.equal(dbg.code, 1);
  assert.match(dbg.stderr, /\n\s+at /);
  const unsupported = await writeSyntheticModel(fresh("u"), { family: "gpt2", layers: 1, heads: 1, headDim: 2, seed: 1 });
  const cfg = path.join(unsupported, "config.json");
  fs.writeFileSync(cfg, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfg, "utf8")), architectures: ["MambaForCausalLM"], model_type: "mamba" }));
  const u = run("inspect", unsupported);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /^headshare: .*config\.json: architecture MambaForCausalLM .* is not supported; supported: .*LlamaForCausalLM/);
});

test("cli inspect: a reader that closes the pipe early (| head -1) ends it quietly", async () => {
  const dir = await writeSyntheticModel(fresh("many"), { family: "llama", layers: 1500, heads: 1, headDim: 2, intermediate: 2, vocab: 4, seed: 1 });
  const r = spawnSync("bash", ["-c", `"${process.execPath}" "${cli}" inspect "${dir}" --all | head -1; exit \${PIPESTATUS[0]}`], { encoding: "utf8" });
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^path: /);
});

test("cli: usage errors (unknown flag, missing argument, unknown command) exit 1 with usage; --help exits 0", () => {
  const flag = run("inspect", "x", "--nope");
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /^headshare: inspect: unknown option --nope\n\nusage: headshare inspect/);
  const miss = run("inspect");
  assert.equal(miss.code, 1);
  assert.match(miss.stderr, /missing <file-or-folder>/);
  const cmd = run("frobnicate");
  assert.equal(cmd.code, 1);
  assert.match(cmd.stderr, /unknown command "frobnicate"[\s\S]*inspect/);
  const help = run("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /commands:[\s\S]*inspect +show a checkpoint/);
  const ih = run("inspect", "--help");
  assert.equal(ih.code, 0);
  assert.match(ih.stdout, /^usage: headshare inspect/);
});
