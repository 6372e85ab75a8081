/**
 * Model layer: acceptance numbers on ../shared models, adapters for every family on seeded
 * synthetic checkpoints, unit slices through the adapter == slices cut from whole tensors (an
 * independent index computation per family), bytes read, BF16 two-shard re-save, and bad configs.
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  ModelError,
  openCheckpoint,
  readUnit,
  unitLayout,
  unitsPerLayer,
  writeSyntheticModel,
  type Checkpoint,
  type Family,
  type Granularity,
  type SyntheticOptions,
} from "../src/core/model";
import { bf16BitsToNumber, numberToBf16Bits, numel, f32ToBytes, writeShardedSafetensors, writeSafetensors } from "../src/core/safetensors";
import { sharedPath, sharedSkip } from "./helpers/shared";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hs-model-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirNo = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${dirNo++}`);

function params(c: Checkpoint): number {
  return c.source.tensors.reduce((s, t) => s + numel(t.shape), 0);
}

test(
  "model: stories260K-hf is Llama, 5 layers, 8 heads, 4 kv heads, head 8, width 64, 260,032 F32 parameters",
  { skip: sharedSkip("models/stories260K-hf") },
  async () => {
    const c = await openCheckpoint(sharedPath("models/stories260K-hf")!);
    assert.equal(c.spec.family, "llama");
    assert.equal(c.spec.architecture, "LlamaForCausalLM");
    assert.deepEqual([c.spec.layers, c.spec.heads, c.spec.kvHeads, c.spec.headDim, c.spec.hidden], [5, 8, 4, 8, 64]);
    assert.equal(c.spec.intermediate, 172);
    assert.equal(c.spec.tiedEmbeddings, true);
    assert.equal(params(c), 260_032);
    assert.deepEqual([...new Set(c.source.tensors.map((t) => t.dtype))], ["F32"]);
    assert.equal(c.spec.layerTensors[3]!.k, "model.layers.3.self_attn.k_proj.weight");
    assert.equal(c.spec.layerTensors[3]!.other["mlp.gate_proj.weight"], "model.layers.3.mlp.gate_proj.weight");
    assert.equal(c.spec.globals.embed, "model.embed_tokens.weight");
    // GQA unit 1 of layer 2 = q rows 16..32, k/v rows 8..16, o columns 16..32.
    const u = await readUnit(c, 2, 1, "group", ["q", "k", "o"]);
    const q = await c.source.readF32("model.layers.2.self_attn.q_proj.weight"); // [64, 64]
    assert.deepEqual(u.q, q.subarray(16 * 64, 32 * 64));
    const o = await c.source.readF32("model.layers.2.self_attn.o_proj.weight"); // [64, 64]
    for (let r = 0; r < 64; r++) for (let j = 0; j < 16; j++) assert.equal(u.o![r * 16 + j], o[r * 64 + 16 + j]);
    await c.close();
  },
);

test("model: tiny-gpt2-random is GPT-2 without the transformer. prefix, 1 layer, 1 head", { skip: sharedSkip("models/tiny-gpt2-random") }, async () => {
  const c = await openCheckpoint(sharedPath("models/tiny-gpt2-random", "model.safetensors")!);
  assert.equal(c.spec.family, "gpt2");
  assert.equal(c.spec.architecture, "GPT2Model");
  assert.deepEqual([c.spec.layers, c.spec.heads, c.spec.kvHeads, c.spec.headDim, c.spec.hidden], [1, 1, 1, 2, 2]);
  assert.equal(params(c), 2168);
  assert.equal(c.spec.layerTensors[0]!.q, "h.0.attn.c_attn.weight");
  await c.close();
});

/**
 * Independent reference: a unit's canonical slices cut from whole tensors read with readF32,
 * with each family's layout written out directly (not through unitLayout).
 */
async function referenceUnit(c: Checkpoint, l: number, u: number, g: Granularity): Promise<Record<string, Float32Array>> {
  const { heads: H, kvHeads: Hkv, headDim: dh, hidden: d } = c.spec;
  const t = c.spec.layerTensors[l]!;
  const gq = H / Hkv;
  const qHeads = g === "group" ? Array.from({ length: gq }, (_, i) => u * gq + i) : [u];
  const kvHead = g === "group" ? u : Math.floor(u / gq);
  const out: Record<string, Float32Array> = {};
  const rowsOf = (w: Float32Array, cols: number, rows: number[]) => Float32Array.from(rows.flatMap((r) => [...w.subarray(r * cols, (r + 1) * cols)]));
  const headRows = (hs: number[]) => hs.flatMap((h) => Array.from({ length: dh }, (_, i) => h * dh + i));
  const fam: Family = c.spec.family;
  if (fam === "llama" || fam === "bert") {
    out.q = rowsOf(await c.source.readF32(t.q), d, headRows(qHeads));
    out.k = rowsOf(await c.source.readF32(t.k), d, headRows([kvHead]));
    out.v = rowsOf(await c.source.readF32(t.v), d, headRows([kvHead]));
    const o = await c.source.readF32(t.o); // [d, H·dh]
    const cols = headRows(qHeads);
    out.o = Float32Array.from(Array.from({ length: d }, (_, r) => cols.map((cc) => o[r * H * dh + cc]!)).flat());
    if (t.qBias) {
      const pick = async (n: string, idx: number[]) => {
        const b = await c.source.readF32(n);
        return Float32Array.from(idx.map((i) => b[i]!));
      };
      out.qBias = await pick(t.qBias, headRows(qHeads));
      out.kBias = await pick(t.kBias!, headRows([kvHead]));
      out.vBias = await pick(t.vBias!, headRows([kvHead]));
    }
  } else if (fam === "gpt2") {
    const w = await c.source.readF32(t.q); // [d, 3d] Conv1D; canonical q = W[:, cols]^T
    const colsT = (base: number, hs: number[]) =>
      Float32Array.from(headRows(hs).flatMap((cc) => Array.from({ length: d }, (_, r) => w[r * 3 * d + base + cc]!)));
    out.q = colsT(0, qHeads);
    out.k = colsT(d, [kvHead]);
    out.v = colsT(2 * d, [kvHead]);
    const o = await c.source.readF32(t.o); // [d(in), d(out)]; canonical o = W[rows, :]^T → [d, dh]
    const rows = headRows(qHeads);
    out.o = Float32Array.from(Array.from({ length: d }, (_, r) => rows.map((i) => o[i * d + r]!)).flat());
    const b = await c.source.readF32(t.qBias!);
    out.qBias = Float32Array.from(headRows(qHeads).map((i) => b[i]!));
    out.kBias = Float32Array.from(headRows([kvHead]).map((i) => b[d + i]!));
    out.vBias = Float32Array.from(headRows([kvHead]).map((i) => b[2 * d + i]!));
  } else {
    const w = await c.source.readF32(t.q); // [3d, d] rows [H, 3, dh]
    const b = await c.source.readF32(t.qBias!);
    const r3 = (which: number, hs: number[]) => hs.flatMap((h) => Array.from({ length: dh }, (_, i) => h * 3 * dh + which * dh + i));
    out.q = rowsOf(w, d, r3(0, qHeads));
    out.k = rowsOf(w, d, r3(1, [kvHead]));
    out.v = rowsOf(w, d, r3(2, [kvHead]));
    out.qBias = Float32Array.from(r3(0, qHeads).map((i) => b[i]!));
    out.kBias = Float32Array.from(r3(1, [kvHead]).map((i) => b[i]!));
    out.vBias = Float32Array.from(r3(2, [kvHead]).map((i) => b[i]!));
    const o = await c.source.readF32(t.o);
    const cols = headRows(qHeads);
    out.o = Float32Array.from(Array.from({ length: d }, (_, r) => cols.map((cc) => o[r * d + cc]!)).flat());
  }
  return out;
}

const families: { label: string; opts: Omit<SyntheticOptions, "seed"> }[] = [
  { label: "llama GQA", opts: { family: "llama", layers: 3, heads: 6, kvHeads: 2, headDim: 4 } },
  { label: "llama MQA BF16", opts: { family: "llama", layers: 2, heads: 4, kvHeads: 1, headDim: 4, dtype: "BF16" } },
  { label: "qwen2 (q/k/v biases) F16 sharded", opts: { family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 4, qkvBias: true, dtype: "F16", shards: 3 } },
  { label: "gpt2 transformer.", opts: { family: "gpt2", layers: 2, heads: 3, headDim: 4 } },
  { label: "gpt2 no prefix", opts: { family: "gpt2", layers: 2, heads: 2, headDim: 4, prefix: false, tied: false } },
  { label: "bert", opts: { family: "bert", layers: 2, heads: 3, headDim: 4 } },
  { label: "bert. prefix", opts: { family: "bert", layers: 2, heads: 2, headDim: 4, prefix: true } },
  { label: "gpt-neox", opts: { family: "gpt-neox", layers: 2, heads: 3, headDim: 4, dtype: "BF16" } },
];

for (const [i, f] of families.entries()) {
  test(`model unit slices: ${f.label}: every unit via the adapter equals the slice cut from whole tensors`, async () => {
    const dir = await writeSyntheticModel(fresh("units"), { ...f.opts, seed: 100 + i });
    const c = await openCheckpoint(dir);
    assert.equal(c.spec.family, f.opts.family);
    assert.equal(c.spec.layers, f.opts.layers);
    assert.equal(c.spec.heads, f.opts.heads);
    assert.equal(c.spec.kvHeads, f.opts.kvHeads ?? f.opts.heads);
    assert.equal(c.spec.headDim, f.opts.headDim);
    assert.equal(c.spec.hidden, f.opts.heads * f.opts.headDim);
    const projs = ["q", "k", "v", "o", "qBias", "kBias", "vBias"] as const;
    for (const g of ["group", "query-head"] as const) {
      for (let l = 0; l < c.spec.layers; l++) {
        for (let u = 0; u < unitsPerLayer(c.spec, g); u++) {
          const got = await readUnit(c, l, u, g, projs);
          const want = await referenceUnit(c, l, u, g);
          assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${g} l${l} u${u} keys`);
          for (const k of Object.keys(want)) assert.deepEqual(got[k], want[k], `${g} layer ${l} unit ${u} ${k}`);
          const gq = g === "group" ? c.spec.heads / c.spec.kvHeads : 1;
          assert.equal(got.q!.length, gq * c.spec.headDim * c.spec.hidden);
          assert.equal(got.o!.length, gq * c.spec.headDim * c.spec.hidden);
        }
      }
    }
    await c.close();
  });
}

test("model unit slices: a large column block is read row by row, reading exactly the unit's bytes", async () => {
  // o_proj [1024, 1024] f32 = 4 MiB; one KV-group unit's columns are 1024 × 128 f32 = 512 KiB.
  const dir = await writeSyntheticModel(fresh("big"), {
    family: "llama",
    layers: 1,
    heads: 16,
    kvHeads: 8,
    headDim: 64,
    intermediate: 8,
    vocab: 8,
    maxPositions: 8,
    seed: 9,
  });
  const c = await openCheckpoint(dir);
  const before = c.source.bytesRead;
  const u = await readUnit(c, 0, 5, "group", ["o"]);
  assert.equal(c.source.bytesRead - before, 1024 * 128 * 4);
  const whole = await c.source.readF32(c.spec.layerTensors[0]!.o);
  for (let r = 0; r < 1024; r += 97) for (let j = 0; j < 128; j++) assert.equal(u.o![r * 128 + j], whole[r * 1024 + 640 + j]);
  // The same slice through a source without readStridedBytes (per-row readBytes fallback).
  const src = c.source;
  const plain = {
    path: src.path,
    metadata: src.metadata,
    tensors: src.tensors,
    get bytesRead() {
      return src.bytesRead;
    },
    has: (n: string) => src.has(n),
    info: (n: string) => src.info(n),
    readBytes: (n: string, b?: number, e?: number) => src.readBytes(n, b, e),
    readRowsF32: (n: string, b: number, e: number) => src.readRowsF32(n, b, e),
    readF32: (n: string) => src.readF32(n),
    close: () => src.close(),
  };
  const before1 = c.source.bytesRead;
  const viaRows = await readUnit({ source: plain, spec: c.spec }, 0, 5, "group", ["o"]);
  assert.deepEqual(viaRows.o, u.o);
  assert.equal(c.source.bytesRead - before1, 1024 * 128 * 4);
  const before2 = c.source.bytesRead;
  await readUnit(c, 0, 3, "group", ["q", "k"]);
  assert.equal(c.source.bytesRead - before2, (128 + 64) * 1024 * 4, "row blocks read only their rows");
  await c.close();
});

test("model: the same checkpoint re-saved as BF16 in two shards with an index has the same structure and parameters", async () => {
  const srcDirs = [await writeSyntheticModel(fresh("f32"), { family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, seed: 42 })];
  const stories = sharedPath("models/stories260K-hf");
  if (stories) srcDirs.push(stories);
  for (const src of srcDirs) {
    const a = await openCheckpoint(src);
    const out = fresh("bf16x2");
    fs.mkdirSync(out);
    fs.copyFileSync(a.configPath, path.join(out, "config.json"));
    await writeShardedSafetensors(
      out,
      a.source.tensors.map((t) => ({
        name: t.name,
        dtype: "BF16" as const,
        shape: t.shape,
        data: async () => f32ToBytes(await a.source.readF32(t.name), "BF16"),
      })),
      2,
      a.source.metadata,
    );
    assert.ok(fs.existsSync(path.join(out, "model.safetensors.index.json")));
    const b = await openCheckpoint(out);
    const { layerTensors: la, config: ca, ...sa } = a.spec;
    const { layerTensors: lb, config: cb, ...sb } = b.spec;
    assert.deepEqual(sb, sa);
    assert.deepEqual(lb, la);
    assert.equal(params(b), params(a));
    assert.deepEqual([...new Set(b.source.tensors.map((t) => t.dtype))], ["BF16"]);
    assert.equal(new Set(b.source.tensors.map((t) => t.file)).size, 2);
    const u1 = await readUnit(a, 1, 1, "group", ["q", "o"]);
    const u2 = await readUnit(b, 1, 1, "group", ["q", "o"]);
    for (const k of ["q", "o"])
      assert.deepEqual(
        u2[k],
        Float32Array.from(u1[k]!, (x) => bf16BitsToNumber(numberToBf16Bits(x))),
      );
    await a.close();
    await b.close();
  }
});

test("model: synthetic checkpoints are deterministic per seed and differ across seeds", async () => {
  const o = { family: "gpt-neox" as const, layers: 1, heads: 2, headDim: 4 };
  const a = fs.readFileSync(path.join(await writeSyntheticModel(fresh("s"), { ...o, seed: 1 }), "model.safetensors"));
  const b = fs.readFileSync(path.join(await writeSyntheticModel(fresh("s"), { ...o, seed: 1 }), "model.safetensors"));
  const c = fs.readFileSync(path.join(await writeSyntheticModel(fresh("s"), { ...o, seed: 2 }), "model.safetensors"));
  assert.ok(a.equals(b));
  assert.ok(!a.equals(c));
  await assert.rejects(
    writeSyntheticModel(fresh("s"), { ...o, heads: 3, kvHeads: 2, seed: 1 }),
    (e: unknown) => e instanceof ModelError && e.code === "bad-options",
  );
  await assert.rejects(writeSyntheticModel(fresh("s"), { ...o, layers: 0, seed: 1 }), (e: unknown) => e instanceof ModelError && e.code === "bad-options");
});

test("model: unitLayout refuses out-of-range layers and units", async () => {
  const c = await openCheckpoint(await writeSyntheticModel(fresh("r"), { family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 4, seed: 1 }));
  assert.throws(
    () => unitLayout(c.spec, 2, 0, "group"),
    (e: unknown) => e instanceof ModelError && e.code === "bad-unit",
  );
  assert.throws(
    () => unitLayout(c.spec, 0, 2, "group"),
    (e: unknown) => e instanceof ModelError && e.code === "bad-unit",
  );
  assert.doesNotThrow(() => unitLayout(c.spec, 0, 3, "query-head"));
  await c.close();
});

// ---- bad configs and checkpoints ------------------------------------------------------------

async function rejectsModel(p: Promise<unknown>, code: string, ...mentions: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected ModelError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" mentions ${m}`);
    return true;
  });
}

async function llamaDir(): Promise<string> {
  return writeSyntheticModel(fresh("bad"), { family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 4, seed: 3 });
}
function editConfig(dir: string, f: (c: Record<string, unknown>) => unknown): void {
  const p = path.join(dir, "config.json");
  fs.writeFileSync(p, JSON.stringify(f(JSON.parse(fs.readFileSync(p, "utf8")))));
}

test("model bad input: missing config.json", async () => {
  const d = await llamaDir();
  fs.rmSync(path.join(d, "config.json"));
  await rejectsModel(openCheckpoint(d), "missing-config", path.join(d, "config.json"));
});
test("model bad input: malformed config.json (not JSON, not an object, wrong field type)", async () => {
  const d = await llamaDir();
  fs.writeFileSync(path.join(d, "config.json"), "{ hidden_size: 64");
  await rejectsModel(openCheckpoint(d), "bad-config", "config.json");
  fs.writeFileSync(path.join(d, "config.json"), "[]");
  await rejectsModel(openCheckpoint(d), "bad-config");
  const e = await llamaDir();
  editConfig(e, (c) => ({ ...c, num_attention_heads: "four" }));
  await rejectsModel(openCheckpoint(e), "bad-config", "num_attention_heads");
});
test("model bad input: unsupported architecture names it and the supported ones", async () => {
  const d = await llamaDir();
  editConfig(d, (c) => ({ ...c, architectures: ["FalconForCausalLM"], model_type: "falcon" }));
  await rejectsModel(openCheckpoint(d), "unsupported-architecture", "FalconForCausalLM", "LlamaForCausalLM", "GPT2LMHeadModel");
});
test("model bad input: heads not dividing the width", async () => {
  const d = await writeSyntheticModel(fresh("bad"), { family: "gpt2", layers: 1, heads: 2, headDim: 4, seed: 1 });
  editConfig(d, (c) => ({ ...c, n_head: 3 }));
  await rejectsModel(openCheckpoint(d), "inconsistent-config", "n_head = 3");
});
test("model bad input: a missing q_proj in some layer names the tensor", async () => {
  const d = await llamaDir();
  const c = await openCheckpoint(d);
  const keep = c.source.tensors.filter((t) => t.name !== "model.layers.1.self_attn.q_proj.weight");
  const data = await Promise.all(keep.map((t) => c.source.readBytes(t.name)));
  await c.close();
  await writeSafetensors(
    path.join(d, "model.safetensors"),
    keep.map((t, i) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: data[i]! })),
  );
  await rejectsModel(openCheckpoint(d), "missing-tensor", "model.layers.1.self_attn.q_proj.weight", path.join(d, "model.safetensors"));
});
test("model bad input: config disagreeing with tensor shapes names the tensor and both shapes", async () => {
  const d = await llamaDir();
  editConfig(d, (c) => ({ ...c, num_key_value_heads: 4 }));
  await rejectsModel(openCheckpoint(d), "shape-mismatch", "model.layers.0.self_attn.k_proj.weight", "[8, 16]", "[16, 16]");
});
test("model bad input: a folder without weights, a path that does not exist", async () => {
  const d = fresh("empty");
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, "config.json"), "{}");
  await rejectsModel(openCheckpoint(d), "no-weights", d);
  await rejectsModel(openCheckpoint(path.join(d, "nope")), "io");
});
test("model: a checkpoint opens from its folder, its .safetensors file or its index json", async () => {
  const d = await writeSyntheticModel(fresh("paths"), { family: "bert", layers: 1, heads: 2, headDim: 4, seed: 5, shards: 2 });
  for (const p of [d, path.join(d, "model.safetensors.index.json"), path.join(d, "config.json")]) {
    const c = await openCheckpoint(p);
    assert.equal(c.spec.family, "bert");
    assert.equal(c.weightsPath, path.join(d, "model.safetensors.index.json"));
    await c.close();
  }
});
test("model: opening a checkpoint does not modify it", async () => {
  const d = await llamaDir();
  const before = fs.readdirSync(d).map((n) => [n, fs.readFileSync(path.join(d, n))] as const);
  const c = await openCheckpoint(d);
  await readUnit(c, 1, 1, "group", ["q", "k", "v", "o"]);
  await c.close();
  for (const [n, b] of before) assert.ok(fs.readFileSync(path.join(d, n)).equals(b), n);
  assert.equal(fs.readdirSync(d).length, before.length);
});
