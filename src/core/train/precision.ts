/**
 * Re-types a float32 graph as float64 (inputs, outputs, initializers, Constant/ConstantOfShape
 * values, Cast targets), so gradient checks against finite differences run in double precision on
 * the very graph that training uses in float32.
 */
import type { Attr, IrGraph, IrNode, IrTensor, IrValue } from "../onnx/ir";

const FLOAT = 1,
  DOUBLE = 11;

function tensor64(t: IrTensor): IrTensor {
  if (t.type !== "float32") return t;
  return { ...t, type: "float64", data: Float64Array.from(t.data as Float32Array) };
}

function value64(v: IrValue): IrValue {
  return v.type === "float32" ? { ...v, type: "float64" } : v;
}

function node64(n: IrNode): IrNode {
  if (!n.attrs) return n;
  const attrs: Record<string, Attr> = {};
  for (const [k, a] of Object.entries(n.attrs)) {
    if (n.op === "Cast" && k === "to" && "i" in a && a.i === FLOAT) attrs[k] = { i: DOUBLE };
    else if ("t" in a) attrs[k] = { t: tensor64(a.t) };
    else if (n.op === "Constant" && k === "value_float" && "f" in a)
      attrs["value"] = { t: { name: "value", type: "float64", dims: [], data: Float64Array.of(a.f) } };
    else if (n.op === "Constant" && k === "value_floats" && "floats" in a)
      attrs["value"] = { t: { name: "value", type: "float64", dims: [a.floats.length], data: Float64Array.from(a.floats) } };
    else attrs[k] = a;
  }
  return { ...n, attrs };
}

export function toFloat64(g: IrGraph): IrGraph {
  return {
    ...g,
    name: `${g.name}-f64`,
    nodes: g.nodes.map(node64),
    inputs: g.inputs.map(value64),
    outputs: g.outputs.map(value64),
    initializers: g.initializers.map(tensor64),
  };
}
