/**
 * Encodes an `IrGraph` as an ONNX ModelProto (onnx.proto field numbers), ready for
 * `InferenceSession.create(bytes)`. Tensors go in `raw_data` (little-endian). Weights of real
 * models are graph inputs, not initializers, so the model stays far below protobuf's 2 GB limit.
 */
import type { Attr, ElemType, IrGraph, IrNode, IrTensor, IrValue } from "./ir";
import { OnnxError } from "./errors";
import { ProtoWriter } from "./protobuf";

/** TensorProto.DataType numbers. */
export const ONNX_DTYPE: Readonly<Record<ElemType, number>> = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

/** Bytes per element of each type's raw_data. */
export const ELEM_BYTES: Readonly<Record<ElemType, number>> = {
  float32: 4,
  uint8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
};

// AttributeProto.AttributeType
const ATTR_FLOAT = 1,
  ATTR_INT = 2,
  ATTR_STRING = 3,
  ATTR_TENSOR = 4,
  ATTR_FLOATS = 6,
  ATTR_INTS = 7;

export interface SerializeOptions {
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
}

/** ONNX IR version that goes with a default-domain opset. */
function irVersionFor(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  return 8;
}

function tensorProto(t: IrTensor): ProtoWriter {
  const count = t.dims.reduce((a, b) => a * b, 1);
  const expected = count * ELEM_BYTES[t.type];
  if (t.external) {
    if (t.external.length !== expected)
      throw new OnnxError(
        "bad-graph",
        `tensor "${t.name}" (${t.type} [${t.dims.join(", ")}]) points at ${t.external.length} external bytes, expected ${expected}`,
      );
    const w = new ProtoWriter();
    for (const d of t.dims) w.int(1, d);
    w.int(2, ONNX_DTYPE[t.type]);
    w.string(8, t.name);
    // external_data (13): StringStringEntryProto {key 1, value 2}; data_location (14) = EXTERNAL (1)
    for (const [k, v] of [
      ["location", t.external.location],
      ["offset", String(t.external.offset)],
      ["length", String(t.external.length)],
    ] as const) {
      w.message(13, new ProtoWriter().string(1, k).string(2, v));
    }
    w.int(14, 1);
    return w;
  }
  if (t.data.byteLength !== expected) {
    throw new OnnxError(
      "bad-graph",
      `tensor "${t.name}" (${t.type} [${t.dims.join(", ")}]) holds ${t.data.byteLength} bytes, expected ${expected}; fix the data or the dims`,
    );
  }
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, ONNX_DTYPE[t.type]);
  w.string(8, t.name);
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return w;
}

function attributeProto(name: string, a: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ("f" in a) w.float(2, a.f).int(20, ATTR_FLOAT);
  else if ("i" in a) w.int(3, a.i).int(20, ATTR_INT);
  else if ("s" in a) w.string(4, a.s).int(20, ATTR_STRING);
  else if ("t" in a) w.message(5, tensorProto(a.t)).int(20, ATTR_TENSOR);
  else if ("floats" in a) {
    for (const f of a.floats) w.float(7, f);
    w.int(20, ATTR_FLOATS);
  } else {
    for (const i of a.ints) w.int(8, i);
    w.int(20, ATTR_INTS);
  }
  return w;
}

function nodeProto(n: IrNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, a] of Object.entries(n.attrs ?? {})) w.message(5, attributeProto(k, a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function valueInfoProto(v: IrValue): ProtoWriter {
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

/** Checks the graph is well formed: every edge defined once, every used edge defined, outputs exist. */
export function validateGraph(g: IrGraph): void {
  if (!Number.isInteger(g.opset) || g.opset < 13 || g.opset > 23) {
    throw new OnnxError("bad-graph", `graph "${g.name}": opset ${g.opset} is not supported; use 13..23`);
  }
  const defined = new Set<string>();
  const define = (name: string, what: string): void => {
    if (!name) throw new OnnxError("bad-graph", `graph "${g.name}": ${what} has an empty name`);
    if (defined.has(name)) throw new OnnxError("bad-graph", `graph "${g.name}": "${name}" (${what}) is defined twice; names must be unique`);
    defined.add(name);
  };
  for (const v of g.inputs) define(v.name, "input");
  // An initializer may share an input's name (ONNX: the input's default value, "overridable"), once.
  const defaults = new Set<string>();
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

/** The ONNX ModelProto bytes of `graph` (validated first; throws OnnxError "bad-graph"). */
export function serializeModel(graph: IrGraph, opts: SerializeOptions = {}): Uint8Array {
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
  const domains = new Set(graph.nodes.map((n) => n.domain).filter((d): d is string => !!d));
  for (const d of domains) m.message(8, new ProtoWriter().string(1, d).int(2, 1));
  return m.finish();
}
