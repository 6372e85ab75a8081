/**
 * `GraphBuilder`: emits an `IrGraph` the way onnxruntime-genai's model builder does (style.md §5):
 * path-style node names ("/model/layers.0/attn/q_proj/MatMul"), outputs named "{node}/output_{i}",
 * constants named "/model/constants/{DTYPE}/{value}" and deduplicated.
 */
import type { Attr, ElemType, IrGraph, IrNode, IrTensor, IrValue } from "./ir";
import { OnnxError } from "./errors";

/** ONNX dtype names used in constant paths. */
const DTYPE_NAME: Readonly<Record<ElemType, string>> = {
  float32: "FLOAT",
  float64: "DOUBLE",
  float16: "FLOAT16",
  int64: "INT64",
  int32: "INT32",
  bool: "BOOL",
  uint8: "UINT8",
};

export type Shape = readonly (number | string)[];

/** Plain attribute values, converted to typed `Attr`s: integers → i, other numbers → f, arrays of integers → ints. */
export type AttrValue = number | string | readonly number[] | Attr;

export interface NodeOptions {
  /** Number of outputs (default 1). */
  readonly outputs?: number;
  readonly domain?: string;
  /** Force float attributes for numbers that happen to be integers (e.g. alpha: 1). */
  readonly floatAttrs?: readonly string[];
}

function toAttr(key: string, v: AttrValue, floatAttrs: readonly string[]): Attr {
  if (typeof v === "string") return { s: v };
  if (typeof v === "number") return Number.isInteger(v) && !floatAttrs.includes(key) ? { i: v } : { f: v };
  if (Array.isArray(v)) {
    const arr = v as readonly number[];
    return arr.every((x) => Number.isInteger(x)) && !floatAttrs.includes(key) ? { ints: arr } : { floats: arr };
  }
  return v as Attr;
}

export class GraphBuilder {
  private readonly nodes: IrNode[] = [];
  private readonly inputs: IrValue[] = [];
  private readonly outputs: IrValue[] = [];
  private readonly initializers: IrTensor[] = [];
  private readonly names = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly opset = 17,
  ) {
    if (!Number.isInteger(opset) || opset < 13 || opset > 23) {
      throw new OnnxError("bad-option", `GraphBuilder "${name}": opset ${opset} is not supported; use 13..23`);
    }
  }

  private claim(name: string, what: string): void {
    if (this.names.has(name)) {
      throw new OnnxError("bad-graph", `GraphBuilder "${this.name}": ${what} "${name}" is already defined; names must be unique`);
    }
    this.names.add(name);
  }

  /** Declares a graph input; returns its name. */
  input(name: string, type: ElemType, shape: Shape): string {
    this.claim(name, "input");
    this.inputs.push({ name, type, shape: [...shape] });
    return name;
  }

  /** Declares an existing edge as a graph output. */
  output(name: string, type: ElemType, shape: Shape): string {
    if (!this.names.has(name)) {
      throw new OnnxError("bad-graph", `GraphBuilder "${this.name}": output "${name}" is not an edge of the graph`);
    }
    if (this.outputs.some((o) => o.name === name)) {
      throw new OnnxError("bad-graph", `GraphBuilder "${this.name}": "${name}" is already an output`);
    }
    this.outputs.push({ name, type, shape: [...shape] });
    return name;
  }

  /** Adds a named initializer; returns its name. */
  initializer(name: string, type: ElemType, dims: readonly number[], data: IrTensor["data"]): string {
    this.claim(name, "initializer");
    this.initializers.push({ name, type, dims: [...dims], data });
    return name;
  }

  /**
   * A deduplicated constant: "/model/constants/INT64/[1, -1]" for 1-D values, "/model/constants/FLOAT/1"
   * for scalars (dims []). `dims` defaults to [values.length] (or [] for a single number).
   */
  constant(type: ElemType, values: number | readonly number[], dims?: readonly number[]): string {
    const vals = typeof values === "number" ? [values] : values;
    const shape = dims ?? (typeof values === "number" ? [] : [vals.length]);
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== vals.length) {
      throw new OnnxError("bad-graph", `constant of shape [${shape.join(", ")}] needs ${count} values, got ${vals.length}`);
    }
    const text = shape.length === 0 ? String(vals[0]) : shape.length === 1 ? `[${vals.join(", ")}]` : `${JSON.stringify(shape)}/[${vals.join(", ")}]`;
    const name = `/model/constants/${DTYPE_NAME[type]}/${text}`;
    const hit = this.constants.get(name);
    if (hit) return hit;
    let data: IrTensor["data"];
    switch (type) {
      case "float32":
        data = Float32Array.from(vals);
        break;
      case "float64":
        data = Float64Array.from(vals);
        break;
      case "int64":
        data = BigInt64Array.from(vals.map((v) => BigInt(v)));
        break;
      case "int32":
        data = Int32Array.from(vals);
        break;
      case "bool":
      case "uint8":
        data = Uint8Array.from(vals);
        break;
      case "float16":
        throw new OnnxError("bad-option", `constant ${name}: float16 constants are not supported; use float32 and Cast`);
    }
    this.initializer(name, type, shape, data);
    this.constants.set(name, name);
    return name;
  }

  /** Scalar float32 constant. */
  f32(v: number): string {
    return this.constant("float32", v);
  }
  /** 1-D int64 constant. */
  i64s(v: readonly number[]): string {
    return this.constant("int64", v);
  }

  /**
   * Adds a node named `name` (a path like "/model/layers.0/attn/q_proj/MatMul"); returns its output
   * names "{name}/output_{i}".
   */
  node(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> | undefined, name: string, opts: NodeOptions = {}): string[] {
    if (this.nodeNames.has(name)) {
      throw new OnnxError("bad-graph", `GraphBuilder "${this.name}": node name "${name}" is used twice`);
    }
    for (const i of inputs) {
      if (i !== "" && !this.names.has(i)) {
        throw new OnnxError("bad-graph", `GraphBuilder "${this.name}": node "${name}" (${op}) reads "${i}", which is not defined yet`);
      }
    }
    this.nodeNames.add(name);
    const n = opts.outputs ?? 1;
    const outputs = Array.from({ length: n }, (_, i) => `${name}/output_${i}`);
    for (const o of outputs) this.claim(o, "node output");
    const typed: Record<string, Attr> = {};
    for (const [k, v] of Object.entries(attrs ?? {})) typed[k] = toAttr(k, v, opts.floatAttrs ?? []);
    this.nodes.push({
      name,
      op,
      inputs: [...inputs],
      outputs,
      ...(Object.keys(typed).length ? { attrs: typed } : {}),
      ...(opts.domain ? { domain: opts.domain } : {}),
    });
    return outputs;
  }

  /** `node` for single-output ops: returns the one output name. */
  op(op: string, inputs: readonly string[], name: string, attrs?: Readonly<Record<string, AttrValue>>, opts: NodeOptions = {}): string {
    return this.node(op, inputs, attrs, name, opts)[0]!;
  }

  /** Gives `edge` a second, exact name (an Identity node; e.g. a public output name like "logits"). */
  alias(edge: string, name: string): string {
    const nodeName = `/outputs/${name}/Identity`;
    if (!this.names.has(edge)) throw new OnnxError("bad-graph", `GraphBuilder "${this.name}": alias of unknown edge "${edge}"`);
    if (this.nodeNames.has(nodeName)) throw new OnnxError("bad-graph", `GraphBuilder "${this.name}": "${name}" is aliased twice`);
    this.claim(name, "alias");
    this.nodeNames.add(nodeName);
    this.nodes.push({ name: nodeName, op: "Identity", inputs: [edge], outputs: [name] });
    return name;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  build(): IrGraph {
    return {
      name: this.name,
      opset: this.opset,
      nodes: [...this.nodes],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      initializers: [...this.initializers],
    };
  }
}
