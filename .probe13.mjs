// src/core/onnx/errors.ts
var OnnxError = class extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
  code;
  name = "OnnxError";
};

// src/core/onnx/protobuf.ts
var WIRE_VARINT = 0;
var WIRE_I32 = 5;
var WIRE_LEN = 2;
var utf8 = new TextEncoder();
function varintBytes(value) {
  let v = typeof value === "bigint" ? value : BigInt(value);
  if (v < 0n) v = BigInt.asUintN(64, v);
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 128;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}
function varintSmall(value) {
  if (value < 0 || value > 2147483647) return varintBytes(value);
  const out = [];
  let v = value;
  while (v >= 128) {
    out.push(v & 127 | 128);
    v >>>= 7;
  }
  out.push(v);
  return Uint8Array.from(out);
}
var ProtoWriter = class {
  chunks = [];
  size = 0;
  push(b) {
    this.chunks.push(b);
    this.size += b.length;
  }
  key(field, wire) {
    this.push(varintSmall(field << 3 | wire));
  }
  /** int32/int64/enum/bool field (varint). */
  int(field, value) {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new RangeError(`protobuf: field ${field} needs an integer, got ${value}`);
    }
    this.key(field, WIRE_VARINT);
    this.push(varintBytes(value));
    return this;
  }
  /** float field (fixed 32-bit little-endian). */
  float(field, value) {
    this.key(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }
  /** bytes field. The array is referenced, not copied, until `finish`. */
  bytes(field, value) {
    this.key(field, WIRE_LEN);
    this.push(varintSmall(value.length));
    this.push(value);
    return this;
  }
  string(field, value) {
    return this.bytes(field, utf8.encode(value));
  }
  /** Embedded message field. */
  message(field, inner) {
    return this.bytes(field, inner.finish());
  }
  /** The encoded message. */
  finish() {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
};

// src/core/onnx/serialize.ts
var ONNX_DTYPE = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11
};
var ELEM_BYTES = {
  float32: 4,
  uint8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8
};
var ATTR_FLOAT = 1;
var ATTR_INT = 2;
var ATTR_STRING = 3;
var ATTR_TENSOR = 4;
var ATTR_FLOATS = 6;
var ATTR_INTS = 7;
function irVersionFor(opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  return 8;
}
function tensorProto(t) {
  const count = t.dims.reduce((a, b) => a * b, 1);
  const expected = count * ELEM_BYTES[t.type];
  if (t.external) {
    if (t.external.length !== expected)
      throw new OnnxError(
        "bad-graph",
        `tensor "${t.name}" (${t.type} [${t.dims.join(", ")}]) points at ${t.external.length} external bytes, expected ${expected}`
      );
    const w3 = new ProtoWriter();
    for (const d of t.dims) w3.int(1, d);
    w3.int(2, ONNX_DTYPE[t.type]);
    w3.string(8, t.name);
    for (const [k, v] of [
      ["location", t.external.location],
      ["offset", String(t.external.offset)],
      ["length", String(t.external.length)]
    ]) {
      w3.message(13, new ProtoWriter().string(1, k).string(2, v));
    }
    w3.int(14, 1);
    return w3;
  }
  if (t.data.byteLength !== expected) {
    throw new OnnxError(
      "bad-graph",
      `tensor "${t.name}" (${t.type} [${t.dims.join(", ")}]) holds ${t.data.byteLength} bytes, expected ${expected}; fix the data or the dims`
    );
  }
  const w2 = new ProtoWriter();
  for (const d of t.dims) w2.int(1, d);
  w2.int(2, ONNX_DTYPE[t.type]);
  w2.string(8, t.name);
  w2.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return w2;
}
function attributeProto(name, a) {
  const w2 = new ProtoWriter().string(1, name);
  if ("f" in a) w2.float(2, a.f).int(20, ATTR_FLOAT);
  else if ("i" in a) w2.int(3, a.i).int(20, ATTR_INT);
  else if ("s" in a) w2.string(4, a.s).int(20, ATTR_STRING);
  else if ("t" in a) w2.message(5, tensorProto(a.t)).int(20, ATTR_TENSOR);
  else if ("floats" in a) {
    for (const f of a.floats) w2.float(7, f);
    w2.int(20, ATTR_FLOATS);
  } else {
    for (const i of a.ints) w2.int(8, i);
    w2.int(20, ATTR_INTS);
  }
  return w2;
}
function nodeProto(n) {
  const w2 = new ProtoWriter();
  for (const i of n.inputs) w2.string(1, i);
  for (const o of n.outputs) w2.string(2, o);
  w2.string(3, n.name);
  w2.string(4, n.op);
  for (const [k, a] of Object.entries(n.attrs ?? {})) w2.message(5, attributeProto(k, a));
  if (n.domain) w2.string(7, n.domain);
  return w2;
}
function valueInfoProto(v) {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().int(1, ONNX_DTYPE[v.type]).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}
function validateGraph(g) {
  if (!Number.isInteger(g.opset) || g.opset < 13 || g.opset > 23) {
    throw new OnnxError("bad-graph", `graph "${g.name}": opset ${g.opset} is not supported; use 13..23`);
  }
  const defined = /* @__PURE__ */ new Set();
  const define = (name, what) => {
    if (!name) throw new OnnxError("bad-graph", `graph "${g.name}": ${what} has an empty name`);
    if (defined.has(name)) throw new OnnxError("bad-graph", `graph "${g.name}": "${name}" (${what}) is defined twice; names must be unique`);
    defined.add(name);
  };
  for (const v of g.inputs) define(v.name, "input");
  const defaults = /* @__PURE__ */ new Set();
  for (const t of g.initializers) {
    if (g.inputs.some((v) => v.name === t.name) && !defaults.has(t.name)) defaults.add(t.name);
    else define(t.name, "initializer");
  }
  for (const n of g.nodes) for (const o of n.outputs) define(o, `output of node ${n.name}`);
  for (const n of g.nodes) {
    for (const i of n.inputs) {
      if (i !== "" && !defined.has(i)) {
        throw new OnnxError("bad-graph", `graph "${g.name}": node "${n.name}" (${n.op}) reads "${i}", which nothing defines`);
      }
    }
  }
  for (const o of g.outputs) {
    if (!defined.has(o.name)) throw new OnnxError("bad-graph", `graph "${g.name}": output "${o.name}" is not produced by any node or input`);
  }
}
function serializeModel(graph, opts = {}) {
  validateGraph(graph);
  const g = new ProtoWriter();
  for (const n of graph.nodes) g.message(1, nodeProto(n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensorProto(t));
  for (const v of graph.inputs) g.message(11, valueInfoProto(v));
  for (const v of graph.outputs) g.message(12, valueInfoProto(v));
  const m = new ProtoWriter();
  m.int(1, irVersionFor(graph.opset));
  m.string(2, opts.producerName ?? "headshare");
  m.string(3, opts.producerVersion ?? "0.1.0");
  if (opts.docString) m.string(6, opts.docString);
  m.message(7, g);
  m.message(8, new ProtoWriter().string(1, "").int(2, graph.opset));
  const domains = new Set(graph.nodes.map((n) => n.domain).filter((d) => !!d));
  for (const d of domains) m.message(8, new ProtoWriter().string(1, d).int(2, 1));
  return m.finish();
}

// src/core/safetensors/dtype.ts
import os from "node:os";
var DTYPE_SIZE = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1
};
var DTYPES = Object.keys(DTYPE_SIZE);
if (os.endianness() !== "LE") {
  throw new Error("headshare: big-endian hosts are not supported (safetensors is little-endian)");
}
var f32 = new Float32Array(1);
var u32 = new Uint32Array(f32.buffer);
function numberToF16Bits(x2) {
  f32[0] = x2;
  const b = u32[0];
  const sign = b >>> 16 & 32768;
  const e = b >>> 23 & 255;
  const m = b & 8388607;
  if (e === 255) return sign | 31744 | (m ? 512 | m >>> 13 : 0);
  const ue = e - 127;
  if (ue > 15) return sign | 31744;
  if (ue >= -14) {
    let hm2 = m >>> 13;
    const rest2 = m & 8191;
    let he = ue + 15;
    if (rest2 > 4096 || rest2 === 4096 && hm2 & 1) {
      hm2++;
      if (hm2 === 1024) {
        hm2 = 0;
        he++;
      }
    }
    if (he >= 31) return sign | 31744;
    return sign | he << 10 | hm2;
  }
  if (e === 0) return sign;
  const sig = m | 8388608;
  const shift = -ue - 1;
  if (shift > 24) return sign;
  const hm = sig >>> shift;
  const rest = sig & (1 << shift) - 1;
  const half = 1 << shift - 1;
  const r2 = rest > half || rest === half && hm & 1 ? hm + 1 : hm;
  return sign | r2;
}
function f32ToBytes(values, dtype) {
  const n = values.length;
  switch (dtype) {
    case "F32":
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case "F64":
      return new Uint8Array(Float64Array.from(values).buffer);
    case "F16": {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = numberToF16Bits(values[i]);
      return new Uint8Array(out.buffer);
    }
    case "BF16": {
      const bits = new Uint32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const b = bits[i];
        out[i] = (b & 2139095040) === 2139095040 && b & 8388607 ? (b >>> 16 | 64) & 65535 : b + 32767 + (b >>> 16 & 1) >>> 16 & 65535;
      }
      return new Uint8Array(out.buffer);
    }
  }
}

// ../../tmp/p13/probe.ts
import * as ort from "onnxruntime-node";
var N = 2048;
var w = new Float32Array(N * N).map((_, i) => Math.sin(i) * 0.05);
var w16 = new Uint16Array(f32ToBytes(w, "F16").buffer);
function model(kind2) {
  const f16 = kind2 === "all16";
  const g = {
    name: "p",
    opset: 17,
    inputs: [{ name: "x", type: f16 ? "float16" : "float32", shape: [1, N] }, ...kind2 === "castOverride" ? [{ name: "w", type: "float16", shape: [N, N] }] : []],
    outputs: [{ name: "y", type: f16 ? "float16" : "float32", shape: [1, N] }],
    initializers: [{ name: "w", type: "float16", dims: [N, N], data: w16 }],
    nodes: f16 ? [{ name: "mm", op: "MatMul", inputs: ["x", "w"], outputs: ["m"] }, { name: "sm", op: "Softmax", inputs: ["m"], outputs: ["s"] }, { name: "ad", op: "Add", inputs: ["s", "m"], outputs: ["y"] }] : [{ name: "cast", op: "Cast", inputs: ["w"], outputs: ["wc"], attrs: { to: { i: 1 } } }, { name: "mm", op: "MatMul", inputs: ["x", "wc"], outputs: ["y"] }]
  };
  return serializeModel(g);
}
var kind = process.argv[2];
var rss0 = process.memoryUsage().rss;
var s = await ort.InferenceSession.create(model(kind), { optimizedModelFilePath: `/tmp/p13/opt-${kind}.onnx`, logSeverityLevel: 3 });
var x = kind === "all16" ? new ort.Tensor("float16", new Uint16Array(N).fill(15360), [1, N]) : new ort.Tensor("float32", new Float32Array(N).fill(1), [1, N]);
var r = await s.run({ x });
console.log(kind, "inputs", s.inputNames, "out type", r.y.type, r.y.data[0], "rss MiB", ((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(1), "weights fp16 MiB", (N * N * 2 / 2 ** 20).toFixed(1));
