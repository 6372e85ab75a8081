/**
 * Fuzz targets of the model layer and the files around a checkpoint:
 *  - config.json + tensor list → ModelSpec (`buildSpec`, every family's adapter), seeded from real
 *    synthetic checkpoints of each family, with the config and the tensor list mutated; an accepted
 *    spec must name only tensors that exist and give unit slices inside those tensors;
 *  - the sharded index json (`openShardedSafetensors` on a scratch folder): weight_map shard names,
 *    missing/mismatched shards, odd JSON;
 *  - the plan JSON of a compact checkpoint's `headshare.plan` metadata (`parseSharingPlan`).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { buildSpec } from "../../../src/core/model/checkpoint";
import { ConfigReader } from "../../../src/core/model/config";
import { writeSyntheticModel, type SyntheticOptions } from "../../../src/core/model/synthetic";
import type { ModelSpec } from "../../../src/core/model/types";
import { unitLayout } from "../../../src/core/model/units";
import { openSafetensors, openShardedSafetensors, SafetensorsError } from "../../../src/core/safetensors";
import type { TensorInfo, TensorSource } from "../../../src/core/safetensors";
import { parseSharingPlan } from "../../../src/core/share/planJson";
import { planSharing } from "../../../src/core/share/plan";
import { parseMatchTable } from "../../../src/core/share/matchTable";
import type { SharingPlan } from "../../../src/core/share/types";
import { sharedPath } from "../../helpers/shared";
import type { FuzzTarget } from "../harness";
import { applyJsonOps, jsonOpArb, mutatedArb, sameValue, weirdJsonArb, type JsonOp } from "../jsonMutate";
import { emptyDir, removeDir, scratchDir } from "../tmp";
import { oursTableArb } from "./share";

// ---------------------------------------------------------------- config.json → ModelSpec

const FAMILIES: readonly (SyntheticOptions & { label: string })[] = [
  { label: "llama-gqa", family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 4, intermediate: 8, vocab: 16, seed: 1 },
  { label: "qwen2-bias", family: "llama", layers: 2, heads: 2, kvHeads: 1, headDim: 4, intermediate: 8, vocab: 16, seed: 2, qkvBias: true, tied: false },
  { label: "gpt2", family: "gpt2", layers: 2, heads: 2, headDim: 4, intermediate: 16, vocab: 16, seed: 3 },
  { label: "gpt2-bare", family: "gpt2", layers: 1, heads: 2, headDim: 2, intermediate: 8, vocab: 8, seed: 4, prefix: false },
  { label: "bert", family: "bert", layers: 2, heads: 2, headDim: 4, intermediate: 8, vocab: 16, seed: 5 },
  { label: "neox", family: "gpt-neox", layers: 2, heads: 2, headDim: 4, intermediate: 8, vocab: 16, seed: 6 },
];

interface Seed {
  readonly label: string;
  readonly config: Record<string, unknown>;
  readonly tensors: readonly TensorInfo[];
}
const seeds: Seed[] = [];
let seedDir = "";

/** An in-memory TensorSource over a tensor list (buildSpec only looks at names and shapes). */
function memSource(file: string, tensors: readonly TensorInfo[]): TensorSource {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const no = (): never => {
    throw new Error("fuzz source: no data");
  };
  return {
    path: file,
    metadata: {},
    tensors,
    bytesRead: 0,
    has: (n) => byName.has(n),
    info: (n) => {
      const t = byName.get(n);
      if (!t) throw new SafetensorsError("missing-tensor", file, `no tensor named "${n}"`);
      return t;
    },
    readBytes: no,
    readRowsF32: no,
    readF32: no,
    close: async () => undefined,
  };
}

type TensorOp = { kind: "drop" | "reshape" | "rename" | "rank"; at: number; by: number };
const tensorOpArb: fc.Arbitrary<TensorOp> = fc.record({
  kind: fc.constantFrom("drop", "reshape", "rename", "rank"),
  at: fc.nat(),
  by: fc.constantFrom(-1, 1, 2, 0),
});

interface SpecCase {
  readonly seed: number;
  readonly configOps: readonly JsonOp[];
  readonly tensorOps: readonly TensorOp[];
}

function caseInputs(c: SpecCase): { file: string; config: unknown; tensors: TensorInfo[] } {
  const s = seeds[c.seed % seeds.length]!;
  const config = c.configOps.length ? applyJsonOps(s.config, c.configOps) : s.config;
  const tensors = s.tensors.map((t) => ({ ...t, shape: [...t.shape] }));
  for (const op of c.tensorOps) {
    if (!tensors.length) break;
    const i = op.at % tensors.length;
    const t = tensors[i]!;
    if (op.kind === "drop") tensors.splice(i, 1);
    else if (op.kind === "rename") tensors[i] = { ...t, name: `${t.name}.x` };
    else if (op.kind === "rank") tensors[i] = { ...t, shape: op.by > 0 ? [...t.shape, 1] : t.shape.slice(1) };
    else if (t.shape.length) {
      const sh = [...t.shape];
      sh[op.at % sh.length] = Math.max(0, sh[op.at % sh.length]! + op.by);
      tensors[i] = { ...t, shape: sh };
    }
  }
  return { file: path.join(seedDir, s.label, "config.json"), config, tensors }; // (shared seeds: a name only, never written)
}

const specTarget: FuzzTarget<SpecCase> = {
  name: "model.config+tensors",
  weight: 8,
  arb: fc.record({ seed: fc.nat(), configOps: fc.array(jsonOpArb, { maxLength: 3 }), tensorOps: fc.array(tensorOpArb, { maxLength: 2 }) }),
  async teardown() {
    removeDir(seedDir);
    seeds.length = 0;
  },
  async setup() {
    seedDir = scratchDir("model-seeds");
    for (const f of FAMILIES) {
      const dir = await writeSyntheticModel(path.join(seedDir, f.label), f);
      const src = await openSafetensors(path.join(dir, "model.safetensors"));
      seeds.push({
        label: f.label,
        config: JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>,
        tensors: src.tensors,
      });
      await src.close();
    }
    // The real configs of ../shared/models, when present (the seed corpus).
    for (const m of ["stories260K-hf", "tiny-gpt2-random"]) {
      const dir = sharedPath("models", m);
      if (!dir) continue;
      const src = await openSafetensors(path.join(dir, "model.safetensors"));
      seeds.push({ label: m, config: JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>, tensors: src.tensors });
      await src.close();
    }
  },
  run(c) {
    const { file, config, tensors } = caseInputs(c);
    if (typeof config !== "object" || config === null || Array.isArray(config)) return "not-an-object"; // readConfig refuses these before buildSpec
    return buildSpec(new ConfigReader(file, config as Record<string, unknown>), memSource(file.replace(/config\.json$/, "model.safetensors"), tensors));
  },
  check(c, r) {
    if (r === "not-an-object") return;
    const spec = r as ModelSpec;
    const { tensors } = caseInputs(c);
    const shapes = new Map(tensors.map((t) => [t.name, t.shape]));
    assert.equal(spec.layerTensors.length, spec.layers);
    assert.ok(
      spec.layers >= 1 && spec.heads >= 1 && spec.kvHeads >= 1 && spec.headDim >= 1 && spec.heads % spec.kvHeads === 0,
      `implausible spec accepted: L=${spec.layers} H=${spec.heads} Hkv=${spec.kvHeads} dh=${spec.headDim}`,
    );
    for (const lt of spec.layerTensors)
      for (const n of [lt.q, lt.k, lt.v, lt.o, lt.qBias, lt.kBias, lt.vBias, lt.oBias, ...Object.values(lt.other)])
        if (n) assert.ok(shapes.has(n), `spec names a missing tensor ${n}`);
    for (const n of Object.values(spec.globals)) assert.ok(shapes.has(n), `spec names a missing global ${n}`);
    // Every unit slice lies inside its tensor.
    for (const g of ["group", "query-head"] as const) {
      const U = g === "group" ? spec.kvHeads : spec.heads;
      for (let l = 0; l < spec.layers; l++)
        for (let u = 0; u < U; u++) {
          const lay = unitLayout(spec, l, u, g);
          for (const ref of [lay.q, lay.k, lay.v, lay.o, lay.qBias, lay.kBias, lay.vBias]) {
            if (!ref) continue;
            const sh = shapes.get(ref.tensor);
            assert.ok(sh, `unit slice names a missing tensor ${ref.tensor}`);
            const dim = sh[ref.axis];
            assert.ok(dim !== undefined, `unit slice of ${ref.tensor} uses axis ${ref.axis} of a rank-${sh.length} tensor`);
            for (const [b, e] of ref.ranges)
              assert.ok(
                Number.isInteger(b) && Number.isInteger(e) && 0 <= b && b < e && e <= dim,
                `unit (${l}, ${u}) ${g}: range [${b}, ${e}) outside ${ref.tensor} axis ${ref.axis} (${dim})`,
              );
          }
        }
    }
  },
  label: (_c, r) => (r === "not-an-object" ? "config not an object (refused earlier)" : "spec built"),
  errorNames: ["ModelError", "SafetensorsError"],
};

// ---------------------------------------------------------------- the sharded index json

interface IndexCase {
  readonly index: unknown;
  readonly shardBytes: readonly number[];
  readonly extraFiles: readonly string[];
}

let idxDir = "";
const SHARD_A = "model-00001-of-00002.safetensors",
  SHARD_B = "model-00002-of-00002.safetensors";
const shardFiles = new Map<string, Uint8Array>();

const indexCaseArb: fc.Arbitrary<IndexCase> = fc.record({
  index: mutatedArb(fc.constant({ metadata: { total_size: 48 }, weight_map: { a: SHARD_A, b: SHARD_A, c: SHARD_B } }), 3).map((m) => m.value),
  shardBytes: fc.array(fc.nat(), { maxLength: 2 }),
  extraFiles: fc.array(fc.constantFrom("../outside.safetensors", "sub", "link"), { maxLength: 2 }),
});

const indexTarget: FuzzTarget<IndexCase> = {
  name: "safetensors.index",
  weight: 4,
  arb: fc.oneof(
    indexCaseArb,
    fc.record({
      index: fc.oneof(
        weirdJsonArb,
        fc.record({
          weight_map: fc.dictionary(
            fc.string({ maxLength: 4 }),
            fc.oneof(fc.constantFrom(SHARD_A, SHARD_B, "..", "/etc/passwd", "a/../" + SHARD_A, ".\\" + SHARD_A, ""), weirdJsonArb),
            { maxKeys: 4 },
          ),
        }),
      ),
      shardBytes: fc.constant([]),
      extraFiles: fc.constant([]),
    }),
  ),
  async setup() {
    idxDir = scratchDir("index");
    // Two valid shards: a (U8 [16]) + b (F32 [2, 2]) in A, c (I16 [8]) in B.
    const { writeSafetensors } = await import("../../../src/core/safetensors");
    const tmp = scratchDir("index-src");
    await writeSafetensors(path.join(tmp, SHARD_A), [
      { name: "a", dtype: "U8", shape: [16], data: new Uint8Array(16).fill(1) },
      { name: "b", dtype: "F32", shape: [2, 2], data: new Uint8Array(16).fill(2) },
    ]);
    await writeSafetensors(path.join(tmp, SHARD_B), [{ name: "c", dtype: "I16", shape: [8], data: new Uint8Array(16).fill(3) }]);
    shardFiles.set(SHARD_A, fs.readFileSync(path.join(tmp, SHARD_A)));
    shardFiles.set(SHARD_B, fs.readFileSync(path.join(tmp, SHARD_B)));
    removeDir(tmp);
  },
  async teardown() {
    removeDir(idxDir);
  },
  async run(c) {
    emptyDir(idxDir);
    const model = path.join(idxDir, "m");
    fs.mkdirSync(model);
    for (const [i, [name, bytes]] of [...shardFiles].entries()) {
      const cut = c.shardBytes[i];
      fs.writeFileSync(path.join(model, name), cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1)));
    }
    for (const x of c.extraFiles) {
      if (x === "sub") fs.mkdirSync(path.join(model, "sub"), { recursive: true });
      else if (x === "link") {
        fs.rmSync(path.join(model, SHARD_B));
        fs.writeFileSync(path.join(idxDir, "outside.safetensors"), shardFiles.get(SHARD_B)!);
        fs.symlinkSync(path.join(idxDir, "outside.safetensors"), path.join(model, SHARD_B));
      } else fs.writeFileSync(path.join(idxDir, "outside.safetensors"), shardFiles.get(SHARD_B)!);
    }
    const idx = path.join(model, "model.safetensors.index.json");
    fs.writeFileSync(idx, typeof c.index === "string" ? c.index : (JSON.stringify(c.index) ?? ""));
    const src = await openShardedSafetensors(idx);
    try {
      const names = src.tensors.map((t) => t.name);
      const files = src.tensors.map((t) => t.file);
      for (const n of names) await src.readBytes(n);
      return { names, files, model };
    } finally {
      await src.close();
    }
  },
  check(c, r) {
    const { names, files, model } = r as { names: string[]; files: string[]; model: string };
    const realModel = fs.realpathSync(model);
    for (const f of files) assert.ok(fs.realpathSync(f).startsWith(realModel + path.sep), `a shard outside the model folder was opened: ${f}`);
    const written = typeof c.index === "string" ? JSON.parse(c.index) : JSON.parse(JSON.stringify(c.index)); // as the file says (undefined keys dropped)
    const wm = (written as { weight_map?: Record<string, unknown> }).weight_map ?? {};
    // Every tensor the index lists is there (shards may hold more: the reader keeps them, as HF loaders ignore unlisted keys).
    for (const k of Object.keys(wm)) assert.ok(names.includes(k), `index tensor ${k} is not in the opened checkpoint`);
  },
  fileOf: () => ".safetensors", // the index or the shard at fault
  errorNames: ["SafetensorsError"],
  timeLimitMs: 3000,
};

// ---------------------------------------------------------------- a compact checkpoint's plan JSON

const planJsonArb = fc
  .tuple(
    oursTableArb.filter((t) => (t.layers as number) >= 2),
    fc.double({ min: 0, max: 0.5, noNaN: true }),
  )
  .map(([t, ratio]) => planSharing(parseMatchTable(t, "/t.json"), ratio));

const PLAN_WHERE = '/m/compact/model.safetensors metadata "headshare.plan"';
const planJsonTarget: FuzzTarget<{ value: unknown; ops: readonly JsonOp[]; text: boolean }> = {
  name: "share.planJson",
  weight: 8,
  arb: fc.record({ m: mutatedArb(planJsonArb, 3), text: fc.boolean() }).map(({ m, text }) => ({ value: m.value, ops: m.ops, text })),
  run: (c) => parseSharingPlan(c.text ? (JSON.stringify(c.value) ?? "") : c.value, PLAN_WHERE),
  check(c, r) {
    const p = r as SharingPlan;
    const L = p.layers,
      U = p.unitsPerLayer;
    assert.equal(p.storedFrom.length, L);
    const targets = new Set(p.targets.map((t) => t.layer * U + t.unit));
    p.storedFrom.forEach((row, l) => {
      assert.equal(row.length, U);
      row.forEach(([sl, su], u) => {
        assert.ok(Number.isInteger(sl) && Number.isInteger(su) && sl >= 0 && sl <= l && su >= 0 && su < U, `storedFrom[${l}][${u}] out of range`);
        if (targets.has(l * U + u)) assert.ok(sl < l && !targets.has(sl * U + su), `target (${l}, ${u}) does not read a stored unit of a lower layer`);
        else assert.ok(sl === l && su === u, `non-target (${l}, ${u}) reads another unit [${sl}, ${su}]`);
      });
    });
    if (c.ops.length === 0) assert.ok(sameValue(p.storedFrom, (c.value as SharingPlan).storedFrom), "a valid plan reads back as written");
  },
  fileOf: () => "/m/compact/model.safetensors",
  errorNames: ["PlanError"],
};

export const modelTargets = [specTarget, indexTarget, planJsonTarget];
