/**
 * The seed corpus from ../shared/models (when present): the real checkpoints' bytes, mutated in
 * their header (byte flips, length field, truncation, appended bytes) and parsed in memory. The
 * unmutated files must parse to the parameter counts ../shared/models/README.md states
 * (stories260K-hf: 260,032; tiny-gpt2-random: 2,168). Without ../shared the target still runs on
 * a generated file (and says so in its label).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import fc from "fast-check";
import { parseHeader, parseHeaderLength } from "../../../src/core/safetensors";
import { sharedPath } from "../../helpers/shared";
import type { FuzzTarget } from "../harness";
import { assertHeaderInvariants } from "../oracle";
import { assemble } from "../safetensorsGen";

interface Seed {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly headerEnd: number;
  readonly params: number;
}

const seeds: Seed[] = [];
/** Where the seeds came from, for the run's summary. */
export let sharedSeedNote = "";

function loadSeeds(): void {
  if (seeds.length) return;
  const known: [string, number][] = [
    ["models/stories260K-hf/model.safetensors", 260_032],
    ["models/tiny-gpt2-random/model.safetensors", 2_168],
  ];
  for (const [rel, params] of known) {
    const p = sharedPath(rel);
    if (!p) continue;
    const bytes = new Uint8Array(fs.readFileSync(p));
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    seeds.push({ name: rel, bytes, headerEnd: 8 + n, params });
  }
  if (seeds.length) sharedSeedNote = `seed corpus: ${seeds.map((s) => s.name).join(", ")} from ../shared`;
  else {
    sharedSeedNote = "seed corpus: ../shared/models is not present (it exists in CI and dev sessions only); using a generated file";
    const header = new TextEncoder().encode(JSON.stringify({ __metadata__: { format: "pt" }, w: { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] } }));
    const bytes = assemble(header, new Uint8Array(24).fill(7), true);
    seeds.push({ name: "generated", bytes, headerEnd: bytes.length - 24, params: 6 });
  }
}

type Op = { kind: "flip"; at: number; v: number } | { kind: "len"; v: bigint } | { kind: "cut"; at: number } | { kind: "append"; n: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("len" as const), v: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 8n, 2n ** 40n)) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("append" as const), n: fc.integer({ min: 1, max: 9 }) }) },
);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

interface Case {
  readonly seed: number;
  readonly ops: readonly Op[];
}

/** The bytes the reader sees: the header (mutated) + the real file size (data not copied). */
function view(c: Case): { seed: Seed; head: Uint8Array; size: number } {
  const seed = seeds[c.seed % seeds.length]!;
  const head = seed.bytes.slice(0, seed.headerEnd);
  let size = seed.bytes.length;
  for (const op of c.ops) {
    if (op.kind === "flip")
      head[op.at % head.length] = op.v; // the length field too, sometimes
    else if (op.kind === "len") new DataView(head.buffer).setBigUint64(0, op.v, true);
    else if (op.kind === "cut") size = op.at % (size + 1);
    else size += op.n;
  }
  return { seed, head, size };
}

export const sharedSeedTarget: FuzzTarget<Case> = {
  name: "safetensors.shared-seeds",
  weight: 6,
  arb: fc.record({ seed: fc.nat(), ops: fc.array(opArb, { maxLength: 3 }) }),
  setup: async () => loadSeeds(),
  run(c) {
    const { seed, head, size } = view(c);
    const file = `/fuzz/${seed.name}`;
    const n = parseHeaderLength(file, head.subarray(0, 8), size);
    // A longer claimed header runs into the (unmutated) data bytes, as it would in the file.
    const json = 8 + n <= head.length ? head.subarray(8, 8 + n) : concat(head.subarray(8), seed.bytes.subarray(head.length, 8 + n));
    return parseHeader(file, json, size);
  },
  check(c, r) {
    const { seed, size } = view(c);
    const h = r as ReturnType<typeof parseHeader>;
    assertHeaderInvariants(h, size - h.dataStart);
    if (c.ops.length === 0) {
      const params = h.tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
      assert.equal(params, seed.params, `${seed.name}: parameter count`);
    }
  },
  label: (c) => (c.ops.length ? "mutated seed parsed" : `seed parsed (${seeds[0]?.name === "generated" ? "generated" : "../shared"})`),
  fileOf: (c) => seeds[c.seed % Math.max(1, seeds.length)]?.name.split("/").pop(),
  errorNames: ["SafetensorsError"],
};
