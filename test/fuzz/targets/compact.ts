/**
 * Fuzz target of a compact checkpoint's metadata as the expander reads it: a real compact
 * checkpoint (made once by writeShared) whose `headshare.plan` and `headshare.originalShapes`
 * metadata are mutated (structure-aware JSON ops, raw text cuts, removal), written back with the
 * same tensors, then `expandCompact` into a scratch folder. Success or a typed error; an accepted
 * file must expand to tensors of the recorded dense shapes, and the unmutated one to exactly the
 * dense checkpoint writeShared makes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { openCheckpoint } from "../../../src/core/model/checkpoint";
import { writeSyntheticModel } from "../../../src/core/model/synthetic";
import { openSafetensors } from "../../../src/core/safetensors";
import { planSharing } from "../../../src/core/share/plan";
import { expandCompact, writeShared } from "../../../src/core/share/write";
import type { FuzzTarget } from "../harness";
import { applyJsonOps, jsonOpArb, type JsonOp } from "../jsonMutate";
import { assemble } from "../safetensorsGen";
import { removeDir, scratchDir } from "../tmp";
import { syntheticTable } from "../../crash/table";

const PLAN_KEY = "headshare.plan",
  SHAPES_KEY = "headshare.originalShapes";

interface Base {
  header: Record<string, unknown>;
  data: Uint8Array;
  plan: unknown;
  shapes: unknown;
  denseHash: string;
}
let base: Base | undefined;
let dir = "";

type Mut = { key: "plan" | "shapes"; ops: readonly JsonOp[]; text: "json" | "cut" | "drop"; cut: number };
const mutArb: fc.Arbitrary<Mut> = fc.record({
  key: fc.constantFrom<"plan" | "shapes">("plan", "plan", "shapes"),
  ops: fc.array(jsonOpArb, { minLength: 1, maxLength: 3 }),
  text: fc.constantFrom<"json" | "cut" | "drop">("json", "json", "json", "cut", "drop"),
  cut: fc.nat(),
});

function fileBytes(muts: readonly Mut[]): Uint8Array {
  const b = base!;
  const meta = { ...(b.header.__metadata__ as Record<string, string>) };
  for (const m of muts) {
    const k = m.key === "plan" ? PLAN_KEY : SHAPES_KEY;
    if (m.text === "drop") {
      delete meta[k];
      continue;
    }
    const v = applyJsonOps(m.key === "plan" ? b.plan : b.shapes, m.ops);
    const s = JSON.stringify(v) ?? "null";
    meta[k] = m.text === "cut" ? s.slice(0, m.cut % (s.length + 1)) : s;
  }
  const header = { ...b.header, __metadata__: meta };
  return assemble(new TextEncoder().encode(JSON.stringify(header)), b.data, true);
}

function sha(p: string): string {
  return createHash("sha256").update(fs.readFileSync(p)).digest("hex");
}

export const compactTarget: FuzzTarget<{ muts: readonly Mut[] }> = {
  name: "share.compact-metadata",
  weight: 1,
  timeLimitMs: 5000,
  arb: fc.record({ muts: fc.array(mutArb, { maxLength: 2 }) }),
  async setup() {
    dir = scratchDir("compact");
    const L = 3,
      U = 2;
    const model = await writeSyntheticModel(path.join(dir, "model"), {
      family: "llama",
      layers: L,
      heads: 4,
      kvHeads: U,
      headDim: 4,
      intermediate: 8,
      vocab: 16,
      seed: 9,
    });
    const plan = planSharing(syntheticTable(L, U, 3), 0.5);
    const ck = await openCheckpoint(model);
    try {
      await writeShared(ck, plan, { format: "compact", outDir: path.join(dir, "ref-compact") });
      await writeShared(ck, plan, { format: "dense", outDir: path.join(dir, "ref-dense") });
    } finally {
      await ck.close();
    }
    const bytes = fs.readFileSync(path.join(dir, "ref-compact", "model.safetensors"));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
    const meta = header.__metadata__ as Record<string, string>;
    base = {
      header,
      data: new Uint8Array(bytes.subarray(8 + n)),
      plan: JSON.parse(meta[PLAN_KEY]!),
      shapes: JSON.parse(meta[SHAPES_KEY]!),
      denseHash: sha(path.join(dir, "ref-dense", "model.safetensors")),
    };
    fs.mkdirSync(path.join(dir, "case"));
    fs.copyFileSync(path.join(dir, "ref-compact", "config.json"), path.join(dir, "case", "config.json"));
  },
  async teardown() {
    removeDir(dir);
    base = undefined;
  },
  async run(c) {
    fs.writeFileSync(path.join(dir, "case", "model.safetensors"), fileBytes(c.muts));
    const out = path.join(dir, "out");
    fs.rmSync(out, { recursive: true, force: true });
    await expandCompact(path.join(dir, "case"), { outDir: out });
    const src = await openSafetensors(path.join(out, "model.safetensors"));
    try {
      return {
        shapes: Object.fromEntries(src.tensors.map((t) => [t.name, [...t.shape]])),
        hash: sha(path.join(out, "model.safetensors")),
        meta: { ...src.metadata },
      };
    } finally {
      await src.close();
    }
  },
  check(c, r) {
    const res = r as { shapes: Record<string, number[]>; hash: string; meta: Record<string, string> };
    assert.ok(!(PLAN_KEY in res.meta), "the expanded checkpoint still says it is compact");
    const recorded = JSON.parse(fileMeta(c.muts)[SHAPES_KEY] ?? "{}") as Record<string, number[]>;
    for (const [name, shape] of Object.entries(recorded))
      if (res.shapes[name]) assert.deepEqual(res.shapes[name], shape, `${name} is not expanded to its recorded dense shape`);
    if (c.muts.length === 0) assert.equal(res.hash, base!.denseHash, "the unmutated compact checkpoint expands to exactly the dense output");
  },
  label: (c) => (c.muts.length ? "mutated metadata accepted" : "genuine compact checkpoint expanded"),
  fileOf: () => "model.safetensors",
};

function fileMeta(muts: readonly Mut[]): Record<string, string> {
  const b = fileBytes(muts);
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  return (JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))) as { __metadata__: Record<string, string> }).__metadata__;
}
