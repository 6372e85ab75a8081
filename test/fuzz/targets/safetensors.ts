/**
 * Fuzz targets of the safetensors engine: the header parser on bytes in memory (most cases), the
 * file reader on the same inputs written to a scratch file (open, read every tensor, convert
 * floats, random row ranges), compared with the generator's oracle on valid files.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { parseHeader, parseHeaderLength, openSafetensors } from "../../../src/core/safetensors";
import type { TensorSource } from "../../../src/core/safetensors";
import type { FuzzTarget } from "../harness";
import { assertConverted, assertHeaderInvariants } from "../oracle";
import { safetensorsFileArb, type GenFile } from "../safetensorsGen";
import { removeDir, scratchDir } from "../tmp";

const MEM_FILE = "/fuzz/in-memory/model.safetensors";

function parseInMemory(bytes: Uint8Array) {
  const n = parseHeaderLength(MEM_FILE, bytes.subarray(0, 8), bytes.length);
  return parseHeader(MEM_FILE, bytes.subarray(8, 8 + n), bytes.length);
}

/**
 * On a valid input the reader must report exactly the generated tensors and metadata. Compared as
 * a set (sorted by name): JSON objects list integer-like keys ("0", "12") first, so a header's
 * order is not kept for such names, by the reader or by JSON.stringify in the generator.
 */
function assertMatchesOracle(g: GenFile, tensors: HeaderLikeTensors, metadata: Readonly<Record<string, string>>): void {
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  assert.deepEqual(
    tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], b: t.dataOffsets[0], e: t.dataOffsets[1] })).sort(byName),
    g.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], b: t.begin, e: t.end })).sort(byName),
    "tensors differ from what was written",
  );
  assert.deepEqual({ ...metadata }, { ...(g.metadata ?? {}) }, "metadata differs from what was written");
}
type HeaderLikeTensors = readonly { name: string; dtype: string; shape: readonly number[]; dataOffsets: readonly [number, number] }[];

export const headerTarget: FuzzTarget<GenFile> = {
  name: "safetensors.header",
  weight: 45,
  arb: safetensorsFileArb,
  run: (g) => parseInMemory(g.bytes),
  check(g, r) {
    const h = r as ReturnType<typeof parseInMemory>;
    assertHeaderInvariants(h, g.bytes.length - h.dataStart);
    if (g.valid) assertMatchesOracle(g, h.tensors, h.metadata);
  },
  fileOf: () => MEM_FILE,
  errorNames: ["SafetensorsError"],
};

interface ReadCase {
  readonly file: GenFile;
  readonly rows: readonly [number, number][];
}

let dir = "";
const fileTarget: FuzzTarget<ReadCase> = {
  name: "safetensors.open+read",
  weight: 8,
  arb: fc.record({ file: safetensorsFileArb, rows: fc.array(fc.tuple(fc.integer({ min: -2, max: 7 }), fc.integer({ min: -2, max: 7 })), { maxLength: 3 }) }),
  async setup() {
    dir = scratchDir("st");
  },
  async teardown() {
    removeDir(dir);
  },
  async run(c) {
    const p = path.join(dir, "model.safetensors");
    fs.writeFileSync(p, c.file.bytes);
    let src: TensorSource | undefined;
    try {
      src = await openSafetensors(p);
      const out: { name: string; bytes: Uint8Array; f32?: Float32Array }[] = [];
      for (const t of src.tensors) {
        const bytes = await src.readBytes(t.name);
        const f32 = t.dtype.startsWith("F8") ? undefined : await src.readF32(t.name);
        out.push({ name: t.name, bytes, ...(f32 ? { f32 } : {}) });
      }
      // Row reads with arbitrary (also invalid) ranges: success or a typed bad-range / not-float error.
      const rowReads: { name: string; r: [number, number]; v?: Float32Array; err?: unknown }[] = [];
      for (const [i, r] of c.rows.entries()) {
        const t = src.tensors[i % Math.max(1, src.tensors.length)];
        if (!t) break;
        try {
          rowReads.push({ name: t.name, r, v: await src.readRowsF32(t.name, r[0], r[1]) });
        } catch (e) {
          rowReads.push({ name: t.name, r, err: e });
        }
      }
      return { tensors: src.tensors, metadata: src.metadata, out, rowReads, bytesRead: src.bytesRead, path: p };
    } finally {
      await src?.close();
    }
  },
  check(c, r) {
    const res = r as {
      tensors: HeaderLikeTensors;
      metadata: Record<string, string>;
      out: { name: string; bytes: Uint8Array; f32?: Float32Array }[];
      rowReads: { name: string; r: [number, number]; v?: Float32Array; err?: unknown }[];
    };
    const g = c.file;
    const totalSpan = res.tensors.reduce((s, t) => s + t.dataOffsets[1] - t.dataOffsets[0], 0);
    const dataStart = g.bytes.length - totalSpan;
    assertHeaderInvariants({ tensors: res.tensors, metadata: res.metadata }, totalSpan);
    if (g.valid) assertMatchesOracle(g, res.tensors, res.metadata);
    for (const [i, t] of res.tensors.entries()) {
      const want = g.bytes.subarray(dataStart + t.dataOffsets[0], dataStart + t.dataOffsets[1]);
      assert.deepEqual(res.out[i]!.bytes, want, `bytes of ${t.name}`);
      if (res.out[i]!.f32) assertConverted(res.out[i]!.f32!, want, t.dtype, `readF32(${t.name})`);
    }
    for (const rr of res.rowReads) {
      const t = res.tensors.find((x) => x.name === rr.name)!;
      const rows = t.shape[0];
      const validRange = rows !== undefined && rr.r[0] >= 0 && rr.r[0] <= rr.r[1] && rr.r[1] <= rows && !t.dtype.startsWith("F8");
      if (validRange) {
        assert.ok(rr.v, `readRowsF32(${t.name}, ${rr.r}) failed on a valid range: ${String(rr.err)}`);
        const rowBytes = (t.dataOffsets[1] - t.dataOffsets[0]) / Math.max(1, rows);
        const want =
          rows === 0
            ? new Uint8Array(0)
            : g.bytes.subarray(dataStart + t.dataOffsets[0] + rr.r[0] * rowBytes, dataStart + t.dataOffsets[0] + rr.r[1] * rowBytes);
        assertConverted(rr.v!, want, t.dtype, `readRowsF32(${t.name}, ${rr.r})`);
      } else {
        const e = rr.err as { name?: string; code?: string } | undefined;
        assert.ok(
          e && e.name === "SafetensorsError" && (e.code === "bad-range" || e.code === "not-float"),
          `readRowsF32(${t.name}, ${rr.r}) on an invalid range should be a typed bad-range/not-float error, got ${rr.v ? "a result" : String(rr.err)}`,
        );
      }
    }
  },
  fileOf: () => "model.safetensors",
  errorNames: ["SafetensorsError"],
};

export const safetensorsTargets = [headerTarget, fileTarget];
