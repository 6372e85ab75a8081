/**
 * Structure-aware generators for safetensors files (bytes, not paths): a valid file built from a
 * random tensor list, then zero or more mutations of the length field, the header JSON (dtypes,
 * shapes, offsets, metadata, entries, duplicate keys, nesting), the data region and raw bytes.
 * Every generated case carries `valid`: true only when the file is valid by construction, with the
 * tensors the reader must then report (the oracle for the success path).
 */
import fc from "fast-check";
import { MULBERRY32_STEP, mulberry32Bits } from "../../src/core/model/rng";

export const ST_DTYPES = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"] as const;
export const ST_DTYPE_SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };

/** One tensor as the oracle knows it. */
export interface GenTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface GenFile {
  /** The whole file. */
  readonly bytes: Uint8Array;
  /** True when no mutation applied (or only ones that keep the file valid). */
  readonly valid: boolean;
  /** Header order; meaningful only when valid. */
  readonly tensors: readonly GenTensor[];
  readonly metadata: Readonly<Record<string, string>> | null;
  /** Byte offset of the data region (8 + header length); meaningful only when valid. */
  readonly dataStart: number;
  /** What was done, for reports. */
  readonly mutations: readonly string[];
}

const nameArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "model.embed_tokens.weight",
      "model.layers.0.self_attn.q_proj.weight",
      "lm_head.weight",
      "h.0.attn.c_attn.weight",
      "wte",
      "a",
      "b.c",
      "x_y",
    ),
  },
  { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "é/ü", "../x", "a\u0000b") },
);

const shapeArb = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constant([] as number[]) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }) },
);

interface ValidSpec {
  readonly tensors: { name: string; dtype: string; shape: number[] }[];
  readonly metadata: Record<string, string> | null;
  readonly pad: boolean;
  readonly dataSeed: number;
}

const validSpecArb: fc.Arbitrary<ValidSpec> = fc.record({
  tensors: fc
    .uniqueArray(fc.record({ name: nameArb, dtype: fc.constantFrom(...ST_DTYPES), shape: shapeArb }), { selector: (t) => t.name, maxLength: 5 })
    .map((ts) => ts.filter((t) => t.name !== "__metadata__")),
  metadata: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 3 }), { nil: null }),
  pad: fc.boolean(),
  dataSeed: fc.integer(),
});

/** The JSON header value of a valid spec (tensors laid out contiguously in order). */
function layout(spec: ValidSpec): { header: Record<string, unknown>; tensors: GenTensor[]; dataLen: number } {
  const header: Record<string, unknown> = {};
  if (spec.metadata) header["__metadata__"] = { ...spec.metadata };
  const tensors: GenTensor[] = [];
  let off = 0;
  for (const t of spec.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * ST_DTYPE_SIZE[t.dtype]!;
    tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, begin: off, end: off + n });
    // defineProperty: a tensor named "__proto__" must become an own key, as JSON.parse makes it.
    Object.defineProperty(header, t.name, {
      value: { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    off += n;
  }
  return { header, tensors, dataLen: off };
}

function fillData(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + MULBERRY32_STEP) >>> 0;
    out[i] = mulberry32Bits(s) & 0xff;
  }
  return out;
}

/** Assembles a file: 8-byte little-endian length, header bytes, optional space padding, data. */
export function assemble(headerText: Uint8Array, data: Uint8Array, pad: boolean, lengthOverride?: bigint): Uint8Array {
  const padLen = pad ? (8 - (headerText.length % 8)) % 8 : 0;
  const hlen = headerText.length + padLen;
  const out = new Uint8Array(8 + hlen + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(hlen), true);
  out.set(headerText, 8);
  out.fill(0x20, 8 + headerText.length, 8 + hlen);
  out.set(data, 8 + hlen);
  return out;
}

const enc = new TextEncoder();

/** Valid files only (the success-path oracle and the seed corpus). */
export const validFileArb: fc.Arbitrary<GenFile> = validSpecArb.map((spec) => {
  const { header, tensors, dataLen } = layout(spec);
  const text = enc.encode(JSON.stringify(header));
  const bytes = assemble(text, fillData(dataLen, spec.dataSeed), spec.pad);
  return { bytes, valid: true, tensors, metadata: spec.metadata, dataStart: 8 + text.length + (spec.pad ? (8 - (text.length % 8)) % 8 : 0), mutations: [] };
});

// ---- mutations -------------------------------------------------------------------------------

const weirdNumber = fc.constantFrom(-1, -0, 0.5, 1e308, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 2 ** 40, 2 ** 32, 2 ** 31, 2 ** 64, 4294967295, 1e21);
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  weirdNumber,
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 6 }),
  fc.constant([]),
  fc.constant({}),
  fc.constantFrom("F32", "f32", "F33", "", "__proto__", "BF16 ", "float32", "I4"),
  fc.array(weirdNumber, { maxLength: 3 }),
);

/** Sets an own enumerable property (a key "__proto__" included) without touching any prototype. */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

type HeaderMutation = (h: Record<string, unknown>, names: string[], dataLen: number) => string;

function pickEntry(h: Record<string, unknown>, names: string[], i: number): Record<string, unknown> | undefined {
  if (!names.length) return undefined;
  // Own properties only: h["__proto__"] after "__proto__" was deleted is Object.prototype itself.
  const e = Object.getOwnPropertyDescriptor(h, names[i % names.length]!)?.value as unknown;
  return e && typeof e === "object" && !Array.isArray(e) ? (e as Record<string, unknown>) : undefined;
}

const headerMutationArb: fc.Arbitrary<{ label: string; apply: HeaderMutation }> = fc.oneof(
  fc.tuple(fc.nat(), weirdValue).map(([i, v]) => ({
    label: "dtype",
    apply: (h: Record<string, unknown>, n: string[]) => {
      const e = pickEntry(h, n, i);
      if (e) e["dtype"] = structuredClone(v);
      return "dtype";
    },
  })),
  fc
    .tuple(
      fc.nat(),
      fc.oneof(
        weirdValue,
        fc.array(fc.oneof(fc.integer({ min: -3, max: 6 }), weirdNumber), { maxLength: 5 }),
        fc.constant([2 ** 20, 2 ** 20]),
        fc.constant([2 ** 40]),
      ),
    )
    .map(([i, v]) => ({
      label: "shape",
      apply: (h: Record<string, unknown>, n: string[]) => {
        const e = pickEntry(h, n, i);
        if (e) e["shape"] = structuredClone(v);
        return "shape";
      },
    })),
  fc
    .tuple(
      fc.nat(),
      fc.oneof(
        weirdValue,
        fc.tuple(fc.integer({ min: -4, max: 200 }), fc.integer({ min: -4, max: 200 })),
        fc.tuple(weirdNumber, weirdNumber),
        fc.constant([0, 2 ** 40]),
        fc.constant(["0", "4"]),
      ),
    )
    .map(([i, v]) => ({
      label: "offsets",
      apply: (h: Record<string, unknown>, n: string[]) => {
        const e = pickEntry(h, n, i);
        if (e) e["data_offsets"] = structuredClone(v);
        return "offsets";
      },
    })),
  fc.tuple(fc.nat(), fc.integer({ min: -8, max: 8 }), fc.boolean()).map(([i, d, which]) => ({
    label: "offset-shift",
    apply: (h: Record<string, unknown>, n: string[]) => {
      const e = pickEntry(h, n, i);
      const o = e?.["data_offsets"];
      if (e && Array.isArray(o)) e["data_offsets"] = which ? [o[0] + d, o[1]] : [o[0], o[1] + d];
      return "offset-shift";
    },
  })),
  fc.tuple(fc.nat(), weirdValue).map(([i, v]) => ({
    label: "entry",
    apply: (h: Record<string, unknown>, n: string[]) => {
      if (n.length) setOwn(h, n[i % n.length]!, structuredClone(v));
      return "entry";
    },
  })),
  fc.tuple(fc.nat(), fc.string({ maxLength: 6 }), weirdValue).map(([i, k, v]) => ({
    label: "extra-field",
    apply: (h: Record<string, unknown>, n: string[]) => {
      const e = pickEntry(h, n, i);
      if (e) setOwn(e, k, structuredClone(v));
      return "extra-field";
    },
  })),
  fc.oneof(weirdValue, fc.dictionary(fc.string({ maxLength: 4 }), weirdValue, { maxKeys: 3 })).map((v) => ({
    label: "metadata",
    apply: (h: Record<string, unknown>) => {
      h["__metadata__"] = structuredClone(v);
      return "metadata";
    },
  })),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => ({
    label: "swap-offsets",
    apply: (h: Record<string, unknown>, n: string[]) => {
      const a = pickEntry(h, n, i),
        b = pickEntry(h, n, j);
      if (a && b) {
        const t = a["data_offsets"];
        a["data_offsets"] = b["data_offsets"];
        b["data_offsets"] = t;
      }
      return "swap-offsets";
    },
  })),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => ({
    label: "duplicate-range",
    apply: (h: Record<string, unknown>, n: string[]) => {
      const a = pickEntry(h, n, i),
        b = pickEntry(h, n, j);
      if (a && b) b["data_offsets"] = structuredClone(a["data_offsets"]);
      return "duplicate-range";
    },
  })),
  fc.nat().map((i) => ({
    label: "delete-entry",
    apply: (h: Record<string, unknown>, n: string[]) => {
      if (n.length) delete h[n[i % n.length]!];
      return "delete-entry";
    },
  })),
  fc.tuple(fc.string({ maxLength: 6 }), fc.integer({ min: 0, max: 64 })).map(([name, len]) => ({
    label: "add-entry",
    apply: (h: Record<string, unknown>, _n: string[], dataLen: number) => {
      setOwn(h, name || "z", { dtype: "U8", shape: [len], data_offsets: [dataLen, dataLen + len] });
      return "add-entry";
    },
  })),
  fc.constant({
    label: "huge-tensor",
    apply: (h: Record<string, unknown>, _n: string[], dataLen: number) => {
      h["huge"] = { dtype: "F32", shape: [2 ** 18, 2 ** 20], data_offsets: [dataLen, dataLen + 2 ** 40] };
      return "huge-tensor";
    },
  }),
);

/** Text-level header mutations (applied to the serialized JSON). */
const textMutationArb: fc.Arbitrary<{ label: string; apply: (s: string) => string }> = fc.oneof(
  fc.nat().map((i) => ({ label: "truncate-json", apply: (s: string) => s.slice(0, i % Math.max(1, s.length)) })),
  fc.constantFrom(
    { label: "top-array", apply: (s: string) => `[${s}]` },
    { label: "top-string", apply: (_s: string) => `"hello"` },
    { label: "top-null", apply: (_s: string) => "null" },
    { label: "top-number", apply: (_s: string) => "12345678" },
    { label: "bom", apply: (s: string) => `\ufeff${s}` },
    { label: "leading-space", apply: (s: string) => `   ${s}` },
    { label: "trailing-garbage", apply: (s: string) => `${s}}` },
    { label: "nul-bytes", apply: (s: string) => `${s}\u0000\u0000` },
    { label: "deep-nesting", apply: (s: string) => s.replace(/^\{/, `{"deep":${"[".repeat(20000)}${"]".repeat(20000)},`) },
    { label: "duplicate-key", apply: (s: string) => s.replace(/^\{("[^"]*":\{[^}]*\})/, "{$1,$1") },
    { label: "duplicate-metadata", apply: (s: string) => s.replace(/^\{/, `{"__metadata__":{"a":"b"},"__metadata__":{"c":"d"},`) },
    { label: "proto-key", apply: (s: string) => s.replace(/^\{/, `{"__proto__":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},`) },
  ),
);

/** Byte/length-level mutations of the whole file. */
type FileMutation = { label: string; apply: (b: Uint8Array, hlen: number) => Uint8Array };
const fileMutationArb: fc.Arbitrary<FileMutation> = fc.oneof(
  fc
    .oneof(
      fc.constantFrom(0n, 1n, 7n, 2n ** 32n, 2n ** 40n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n, 100_000_000n),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.integer({ min: -9, max: 9 }).map((d) => BigInt(d)),
    )
    .map((v) => ({
      label: "length-field",
      apply: (b: Uint8Array, hlen: number) => {
        const o = b.slice();
        if (o.length < 8) return o;
        const dv = new DataView(o.buffer);
        const x = v >= -9n && v <= 9n && v !== 0n && v !== 1n && v !== 7n ? BigInt(hlen) + v : v;
        dv.setBigUint64(0, x < 0n ? 0n : x, true);
        return o;
      },
    })),
  fc.nat().map((i) => ({ label: "truncate-file", apply: (b: Uint8Array) => b.slice(0, i % (b.length + 1)) })),
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((extra) => ({
    label: "append",
    apply: (b: Uint8Array) => {
      const o = new Uint8Array(b.length + extra.length);
      o.set(b);
      o.set(extra, b.length);
      return o;
    },
  })),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => ({
    label: "byte-flip",
    apply: (b: Uint8Array) => {
      const o = b.slice();
      for (const [i, v] of flips) if (o.length) o[i % o.length] = v;
      return o;
    },
  })),
  fc.nat().map((i) => ({
    label: "invalid-utf8",
    apply: (b: Uint8Array, hlen: number) => {
      const o = b.slice();
      if (hlen > 2) {
        o[8 + 1 + (i % (hlen - 2))] = 0xff;
      }
      return o;
    },
  })),
  fc.constantFrom(
    { label: "empty-file", apply: (_b: Uint8Array) => new Uint8Array(0) },
    { label: "only-length", apply: (b: Uint8Array) => b.slice(0, 8) },
    { label: "short-file", apply: (b: Uint8Array) => b.slice(0, 5) },
  ),
);

export interface MutatedSpec {
  readonly base: ValidSpec;
  readonly header: readonly { label: string; apply: HeaderMutation }[];
  readonly text: readonly { label: string; apply: (s: string) => string }[];
  readonly file: readonly FileMutation[];
}

/** Valid files (about a third) and mutated ones. */
export const safetensorsFileArb: fc.Arbitrary<GenFile> = fc.oneof(
  { weight: 1, arbitrary: validFileArb },
  {
    weight: 3,
    arbitrary: fc
      .record({
        base: validSpecArb,
        header: fc.array(headerMutationArb, { maxLength: 2 }),
        text: fc.array(textMutationArb, { maxLength: 1 }),
        file: fc.array(fileMutationArb, { maxLength: 2 }),
      })
      .map(buildMutated),
  },
);

function buildMutated(m: MutatedSpec): GenFile {
  const { header, tensors, dataLen } = layout(m.base);
  const names = tensors.map((t) => t.name);
  const labels: string[] = [];
  for (const hm of m.header) labels.push(hm.apply(header, names, dataLen));
  let text = JSON.stringify(header);
  for (const tm of m.text) {
    text = tm.apply(text);
    labels.push(tm.label);
  }
  const textBytes = enc.encode(text);
  // Extra data so that "add-entry" / "huge" entries have bytes to point into (or not).
  let bytes = assemble(textBytes, fillData(dataLen + (labels.includes("add-entry") ? 64 : 0), m.base.dataSeed), m.base.pad);
  const hlen = textBytes.length + (m.base.pad ? (8 - (textBytes.length % 8)) % 8 : 0);
  for (const fm of m.file) {
    bytes = fm.apply(bytes, hlen);
    labels.push(fm.label);
  }
  const valid = labels.length === 0;
  return { bytes, valid, tensors, metadata: m.base.metadata, dataStart: 8 + hlen, mutations: labels };
}
