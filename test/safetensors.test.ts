/**
 * safetensors engine: dtype conversion against slow references, the writer's exact byte layout,
 * round trips, positioned reads (bytes counted on a large sparse file), and every bad input of
 * the format (each a typed SafetensorsError naming the file, never a crash).
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  SafetensorsError,
  bf16BitsToNumber,
  bytesToF32,
  f16BitsToNumber,
  f32ToBytes,
  numberToBf16Bits,
  numberToF16Bits,
  openSafetensors,
  writeSafetensors,
  type TensorToWrite,
} from "../src/core/safetensors";
import { mulberry32 } from "../src/core/model/synthetic";
import { sharedPath, sharedSkip } from "./helpers/shared";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hs-safetensors-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let fileNo = 0;

/** A raw file: u64 LE length of `header` (string used verbatim), the header, then `data`. */
function rawFile(header: string | object, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): string {
  const h = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const p = path.join(tmp, `raw${fileNo++}.safetensors`);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(h.length));
  fs.writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}

async function rejectsWith(file: string, code: string, msgPart?: RegExp): Promise<void> {
  await assert.rejects(openSafetensors(file), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.file, file);
    assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
    if (msgPart) assert.match(e.message, msgPart);
    return true;
  });
}

// ---- dtype conversion -------------------------------------------------------------------------

/** All finite non-negative halves, ascending by value, as [value, bits]. */
const halves: [number, number][] = [];
for (let b = 0; b < 0x7c00; b++) halves.push([f16BitsToNumber(b), b]);

/** Slow reference F32 → F16: nearest finite half by value, ties to even bits, overflow rule of IEEE. */
function refF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  const max = 65504,
    ulpTop = 2 ** (15 - 10);
  if (a >= max + ulpTop / 2) return sign | 0x7c00; // rounds past the largest finite half
  let lo = 0,
    hi = halves.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (halves[mid]![0] <= a) lo = mid;
    else hi = mid;
  }
  const [vl, bl] = halves[lo]!,
    [vh, bh] = halves[hi]!;
  if (a <= vl) return sign | bl;
  const dl = a - vl,
    dh = vh - a;
  return sign | (dl < dh ? bl : dh < dl ? bh : (bl & 1) === 0 ? bl : bh);
}

test("safetensors dtype: F16 decode of known values", () => {
  assert.equal(f16BitsToNumber(0x3c00), 1);
  assert.equal(f16BitsToNumber(0xc000), -2);
  assert.equal(f16BitsToNumber(0x7bff), 65504);
  assert.equal(f16BitsToNumber(0x0001), 2 ** -24);
  assert.equal(f16BitsToNumber(0x0400), 2 ** -14);
  assert.equal(f16BitsToNumber(0x3555), 0.333251953125);
  assert.equal(f16BitsToNumber(0x7c00), Infinity);
  assert.ok(Object.is(f16BitsToNumber(0x8000), -0));
  assert.ok(Number.isNaN(f16BitsToNumber(0x7e00)));
});

test("safetensors dtype: F16 round trip is exact for all 65536 bit patterns (NaN stays NaN)", () => {
  for (let b = 0; b < 65536; b++) {
    const v = f16BitsToNumber(b);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(f16BitsToNumber(numberToF16Bits(v))));
    else assert.equal(numberToF16Bits(v), b, `bits 0x${b.toString(16)}`);
  }
});

test("safetensors dtype: F32 → F16 rounds to nearest even (vs a slow nearest-value search)", () => {
  const rand = mulberry32(7);
  const xs: number[] = [65504, 65519.99, 65520, 1e-8, 2 ** -25, 2 ** -25 * 1.0000001, 3 * 2 ** -26, -0];
  // Exact midpoints between neighbouring halves (ties) and points next to them.
  for (let i = 0; i + 1 < halves.length; i += 37) {
    const m = (halves[i]![0] + halves[i + 1]![0]) / 2;
    xs.push(m, Math.fround(m * (1 + 2 ** -20)), -m);
  }
  for (let i = 0; i < 20000; i++) xs.push(Math.fround((rand() - 0.5) * 2 ** (rand() * 40 - 26)));
  for (const x0 of xs) {
    const x = Math.fround(x0);
    assert.equal(numberToF16Bits(x), refF16(x), `x = ${x}`);
  }
});

test("safetensors dtype: BF16 decode exact and F32 → BF16 round to nearest even", () => {
  assert.equal(bf16BitsToNumber(0x3f80), 1);
  assert.equal(bf16BitsToNumber(0xc0a0), -5);
  const rand = mulberry32(11);
  const u = new Uint32Array(1),
    f = new Float32Array(u.buffer);
  for (let i = 0; i < 20000; i++) {
    u[0] = (rand() * 2 ** 32) >>> 0;
    const x = f[0]!;
    if (!Number.isFinite(x)) continue;
    // Reference: the two bf16 neighbours by truncation, pick the nearer by value, ties → even.
    const lo = u[0]! >>> 16,
      hi = lo + 1;
    const vl = bf16BitsToNumber(lo);
    // Past the largest finite bf16 the next "value" is 2^128 (IEEE overflow rounds to ±Inf there).
    const vh = (hi & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : bf16BitsToNumber(hi);
    const dl = Math.abs(x - vl),
      dh = Math.abs(vh - x);
    const want = dl < dh ? lo : dh < dl ? hi : (lo & 1) === 0 ? lo : hi;
    assert.equal(numberToBf16Bits(x), want & 0xffff, `bits 0x${u[0]!.toString(16)}`);
  }
  assert.ok(Number.isNaN(bf16BitsToNumber(numberToBf16Bits(NaN))));
  assert.equal(numberToBf16Bits(Infinity), 0x7f80);
});

test("safetensors dtype: bulk converters equal the scalar ones; F64/ints convert by value", () => {
  const rand = mulberry32(3);
  const v = new Float32Array(1001); // [1001] f32
  for (let i = 0; i < v.length; i++) v[i] = (rand() - 0.5) * 10;
  const bf = f32ToBytes(v, "BF16"),
    hf = f32ToBytes(v, "F16");
  const bfBack = bytesToF32(bf, "BF16"),
    hfBack = bytesToF32(hf, "F16");
  for (let i = 0; i < v.length; i++) {
    assert.equal(bfBack[i], bf16BitsToNumber(numberToBf16Bits(v[i]!)));
    assert.equal(hfBack[i], f16BitsToNumber(numberToF16Bits(v[i]!)));
  }
  assert.deepEqual(bytesToF32(f32ToBytes(v, "F64"), "F64"), v);
  assert.deepEqual([...bytesToF32(new Uint8Array(new BigInt64Array([-3n, 5n]).buffer), "I64")], [-3, 5]);
  assert.deepEqual([...bytesToF32(new Uint8Array(new Int16Array([-7, 300]).buffer), "I16")], [-7, 300]);
  // Unaligned input (a view at an odd offset) converts the same.
  const padded = new Uint8Array(bf.byteLength + 1);
  padded.set(bf, 1);
  assert.deepEqual(bytesToF32(padded.subarray(1), "BF16"), bfBack);
});

// ---- writer format and round trip ------------------------------------------------------------

test("safetensors writer: header exactly like the reference library (compact JSON, metadata first, space padding to 8)", async () => {
  const a = new Float32Array([1, 2, 3, 4]); // [2, 2] f32
  const b = new Uint8Array([7, 8, 9]); // [3] u8
  const p = path.join(tmp, "fmt.safetensors");
  const res = await writeSafetensors(
    p,
    [
      { name: "a", dtype: "F32", shape: [2, 2], data: new Uint8Array(a.buffer) },
      { name: "b", dtype: "U8", shape: [3], data: b },
    ],
    { format: "pt" },
  );
  const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}';
  const n = Math.ceil(json.length / 8) * 8;
  const expected = Buffer.concat([
    Buffer.from(new BigUint64Array([BigInt(n)]).buffer),
    Buffer.from(json.padEnd(n, " ")),
    Buffer.from(a.buffer),
    Buffer.from(b),
  ]);
  assert.deepEqual(fs.readFileSync(p), expected);
  assert.equal(res.bytes, expected.length);
  assert.deepEqual(
    fs.readdirSync(tmp).filter((f) => f.startsWith(".headshare-tmp-")),
    [],
    "no temporary file left",
  );
});

test(
  "safetensors writer: re-saving the reference-written stories260K file reproduces it byte for byte",
  { skip: sharedSkip("models/stories260K-hf/model.safetensors") },
  async () => {
    const src = await openSafetensors(sharedPath("models/stories260K-hf/model.safetensors")!);
    const out = path.join(tmp, "stories-resave.safetensors");
    await writeSafetensors(
      out,
      src.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.readBytes(t.name) })),
      src.metadata,
    );
    await src.close();
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(sharedPath("models/stories260K-hf/model.safetensors")!)));
  },
);

test("safetensors reader/writer: round trip of every dtype, row reads, byte ranges", async () => {
  const rand = mulberry32(5);
  const mk = (name: string, dtype: TensorToWrite["dtype"], shape: number[], size: number): TensorToWrite => {
    const n = shape.reduce((x, y) => x * y, 1) * size;
    const d = new Uint8Array(n);
    for (let i = 0; i < n; i++) d[i] = (rand() * 256) | 0;
    return { name, dtype, shape, data: d };
  };
  const ts = [
    mk("f64", "F64", [3, 2], 8),
    mk("f32", "F32", [4, 3], 4),
    mk("f16", "F16", [5], 2),
    mk("bf16", "BF16", [2, 3, 2], 2),
    mk("i64", "I64", [2], 8),
    mk("i32", "I32", [1], 4),
    mk("i16", "I16", [3], 2),
    mk("i8", "I8", [2], 1),
    mk("u8", "U8", [4], 1),
    mk("bool", "BOOL", [3], 1),
    mk("e4m3", "F8_E4M3", [2], 1),
    mk("e5m2", "F8_E5M2", [2], 1),
    mk("scalar", "F32", [], 4),
    mk("empty", "F32", [0, 5], 4),
  ];
  const p = path.join(tmp, "all.safetensors");
  await writeSafetensors(p, ts, { k: "v" });
  const s = await openSafetensors(p);
  assert.deepEqual(s.metadata, { k: "v" });
  assert.deepEqual(
    s.tensors.map((t) => t.name),
    ts.map((t) => t.name),
  );
  for (const t of ts) {
    assert.deepEqual(s.info(t.name).shape, t.shape);
    assert.deepEqual(await s.readBytes(t.name), t.data);
  }
  // rows 1..3 of f32 [4, 3]
  const f32 = new Float32Array((ts[1]!.data as Uint8Array).slice().buffer);
  assert.deepEqual(await s.readRowsF32("f32", 1, 3), f32.subarray(3, 9));
  assert.deepEqual(await s.readBytes("f32", 4, 12), (ts[1]!.data as Uint8Array).subarray(4, 12));
  await assert.rejects(s.readRowsF32("f32", 2, 5), (e: unknown) => e instanceof SafetensorsError && e.code === "bad-range");
  await assert.rejects(s.readBytes("f32", 10, 4), (e: unknown) => e instanceof SafetensorsError && e.code === "bad-range");
  // Strided reads: columns 1..3 of every row of f32 [4, 3] (chunks of 8 bytes every 12).
  const strided = new Float32Array((await s.readStridedBytes!("f32", 4, 8, 12, 4)).buffer);
  assert.deepEqual(
    [...strided],
    [0, 1, 2, 3].flatMap((r) => [f32[r * 3 + 1]!, f32[r * 3 + 2]!]),
  );
  await assert.rejects(s.readStridedBytes!("f32", 4, 8, 12, 5), (e: unknown) => e instanceof SafetensorsError && e.code === "bad-range");
  await assert.rejects(s.readF32("e4m3"), (e: unknown) => e instanceof SafetensorsError && e.code === "not-float");
  assert.throws(
    () => s.info("nope"),
    (e: unknown) => e instanceof SafetensorsError && e.code === "missing-tensor" && e.message.includes(p),
  );
  await s.close();
  await assert.rejects(s.readBytes("f32"), (e: unknown) => e instanceof SafetensorsError && e.code === "closed");
});

test("safetensors writer: refuses to overwrite an open input and a protected path; bad tensors leave no file", async () => {
  const p = path.join(tmp, "input.safetensors");
  await writeSafetensors(p, [{ name: "x", dtype: "F32", shape: [1], data: new Uint8Array(4) }]);
  const before = fs.readFileSync(p);
  const s = await openSafetensors(p);
  await assert.rejects(
    writeSafetensors(p, [{ name: "y", dtype: "F32", shape: [1], data: new Uint8Array(4) }]),
    (e: unknown) => e instanceof SafetensorsError && e.code === "overwrite-input",
  );
  const link = path.join(tmp, "input-link.safetensors");
  fs.symlinkSync(p, link);
  await assert.rejects(
    writeSafetensors(link, [{ name: "y", dtype: "F32", shape: [1], data: new Uint8Array(4) }]),
    (e: unknown) => e instanceof SafetensorsError && e.code === "overwrite-input",
  );
  await s.close();
  await assert.rejects(
    writeSafetensors(p, [{ name: "y", dtype: "F32", shape: [1], data: new Uint8Array(4) }], undefined, { protect: [p] }),
    (e: unknown) => e instanceof SafetensorsError && e.code === "overwrite-input",
  );
  assert.ok(fs.readFileSync(p).equals(before), "input untouched");
  const out = path.join(tmp, "bad-out.safetensors");
  await assert.rejects(
    writeSafetensors(out, [{ name: "x", dtype: "F32", shape: [2], data: new Uint8Array(4) }]),
    (e: unknown) => e instanceof SafetensorsError && e.code === "bad-tensor",
  );
  await assert.rejects(
    writeSafetensors(out, [{ name: "x", dtype: "F32", shape: [2], data: async () => new Uint8Array(5) }]),
    (e: unknown) => e instanceof SafetensorsError && e.code === "bad-tensor",
  );
  await assert.rejects(
    writeSafetensors(out, [
      { name: "x", dtype: "F32", shape: [1], data: new Uint8Array(4) },
      { name: "x", dtype: "F32", shape: [1], data: new Uint8Array(4) },
    ]),
    (e: unknown) => e instanceof SafetensorsError && e.code === "duplicate-tensor",
  );
  assert.ok(!fs.existsSync(out));
  assert.deepEqual(
    fs.readdirSync(tmp).filter((f) => f.startsWith(".headshare-tmp-")),
    [],
  );
});

test("safetensors reader: opening a multi-GB sparse file reads only its header; a row read reads only that row", async () => {
  const rows = 65536,
    cols = 16384; // [65536, 16384] f32 = 4 GiB
  const size = rows * cols * 4;
  const header = JSON.stringify({ w: { dtype: "F32", shape: [rows, cols], data_offsets: [0, size] } });
  const p = path.join(tmp, "sparse.safetensors");
  const fd = fs.openSync(p, "w");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeSync(fd, len, 0, 8, 0);
  fs.writeSync(fd, Buffer.from(header), 0, header.length, 8);
  fs.ftruncateSync(fd, 8 + header.length + size);
  // One row with known values in the middle of the file.
  const row = new Float32Array(cols).map((_, i) => i * 0.5); // [16384] f32
  fs.writeSync(fd, new Uint8Array(row.buffer), 0, cols * 4, 8 + header.length + 40000 * cols * 4);
  fs.closeSync(fd);
  const s = await openSafetensors(p);
  assert.equal(s.bytesRead, 8 + header.length);
  const got = await s.readRowsF32("w", 40000, 40001);
  assert.deepEqual(got, row);
  assert.equal(s.bytesRead, 8 + header.length + cols * 4);
  await s.close();
});

// ---- bad input: each one a typed error naming the file ------------------------------------

const f32x2 = { dtype: "F32", shape: [2], data_offsets: [0, 8] };

test("safetensors bad input: empty file", async () => {
  const p = path.join(tmp, "empty.safetensors");
  fs.writeFileSync(p, "");
  await rejectsWith(p, "empty-file");
});
test("safetensors bad input: shorter than 8 bytes", async () => {
  const p = path.join(tmp, "short.safetensors");
  fs.writeFileSync(p, Buffer.from([1, 2, 3]));
  await rejectsWith(p, "too-short");
});
test("safetensors bad input: header length beyond the file", async () => {
  await rejectsWith(rawFile("{}", new Uint8Array(0), 1000n), "header-out-of-bounds");
});
test("safetensors bad input: header length over 100 MB", async () => {
  await rejectsWith(rawFile("{}", new Uint8Array(0), 200_000_000n), "header-too-large");
});
test("safetensors bad input: header not JSON", async () => {
  await rejectsWith(rawFile('{"a": {'), "header-not-json");
});
test("safetensors bad input: header not UTF-8", async () => {
  const p = rawFile("{}");
  const b = fs.readFileSync(p);
  b[8] = 0xff;
  fs.writeFileSync(p, b);
  await rejectsWith(p, "header-not-json");
});
test("safetensors bad input: header JSON but not an object", async () => {
  await rejectsWith(rawFile("[1, 2]"), "header-not-object");
  await rejectsWith(rawFile("null"), "header-not-object");
});
test("safetensors bad input: unknown dtype", async () => {
  await rejectsWith(rawFile({ a: { ...f32x2, dtype: "F128" } }, new Uint8Array(8)), "bad-dtype", /F128/);
});
test("safetensors bad input: negative shape", async () => {
  await rejectsWith(rawFile({ a: { ...f32x2, shape: [-2] } }, new Uint8Array(8)), "bad-shape");
});
test("safetensors bad input: non-integer shape", async () => {
  await rejectsWith(rawFile({ a: { ...f32x2, shape: [1.5] } }, new Uint8Array(8)), "bad-shape");
  await rejectsWith(rawFile({ a: { ...f32x2, shape: "2" } }, new Uint8Array(8)), "bad-shape");
});
test("safetensors bad input: offsets not matching shape × dtype", async () => {
  await rejectsWith(rawFile({ a: { ...f32x2, data_offsets: [0, 6] } }, new Uint8Array(6)), "size-mismatch", /needs 8/);
});
test("safetensors bad input: malformed offsets", async () => {
  await rejectsWith(rawFile({ a: { ...f32x2, data_offsets: [8, 0] } }, new Uint8Array(8)), "bad-offsets");
  await rejectsWith(rawFile({ a: { ...f32x2, data_offsets: [0] } }, new Uint8Array(8)), "bad-offsets");
});
test("safetensors bad input: overlapping offsets", async () => {
  await rejectsWith(rawFile({ a: f32x2, b: { ...f32x2, data_offsets: [4, 12] } }, new Uint8Array(12)), "offsets-overlap");
});
test("safetensors bad input: gapped offsets", async () => {
  await rejectsWith(rawFile({ a: f32x2, b: { ...f32x2, data_offsets: [12, 20] } }, new Uint8Array(20)), "offsets-gap");
  await rejectsWith(rawFile({ a: { ...f32x2, data_offsets: [4, 12] } }, new Uint8Array(12)), "offsets-gap");
});
test("safetensors bad input: out-of-range offsets", async () => {
  await rejectsWith(rawFile({ a: f32x2 }, new Uint8Array(4)), "offsets-out-of-range");
});
test("safetensors bad input: trailing bytes after the data", async () => {
  await rejectsWith(rawFile({ a: f32x2 }, new Uint8Array(9)), "trailing-bytes", /1 trailing/);
});
test("safetensors bad input: metadata values that are not strings", async () => {
  await rejectsWith(rawFile({ __metadata__: { format: "pt", n: 3 }, a: f32x2 }, new Uint8Array(8)), "bad-metadata", /"n"/);
  await rejectsWith(rawFile({ __metadata__: ["x"], a: f32x2 }, new Uint8Array(8)), "bad-metadata");
});
test("safetensors bad input: an entry that is not a tensor description", async () => {
  await rejectsWith(rawFile({ a: 5 }), "bad-entry");
});
test("safetensors bad input: a path that does not exist or is a folder", async () => {
  await rejectsWith(path.join(tmp, "nope.safetensors"), "io");
  await rejectsWith(tmp, "io");
});
test("safetensors: a valid hand-made file with out-of-order header entries opens (offsets decide layout)", async () => {
  const data = new Float32Array([1, 2, 3, 4]); // b = [1,2], a = [3,4]
  const p = rawFile({ a: { ...f32x2, data_offsets: [8, 16] }, b: f32x2 }, new Uint8Array(data.buffer));
  const s = await openSafetensors(p);
  assert.deepEqual([...(await s.readF32("a"))], [3, 4]);
  assert.deepEqual([...(await s.readF32("b"))], [1, 2]);
  await s.close();
});
