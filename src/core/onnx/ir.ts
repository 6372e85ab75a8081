/**
 * A small in-memory ONNX graph IR. The runtime's graph builders (`../graph/*`) emit it, the
 * training engine differentiates it (`../train/autodiff.ts`), and `serialize.ts` turns it into
 * an ONNX ModelProto for onnxruntime. Kept deliberately close to ONNX: ops are ONNX op types,
 * values are named edges, attributes are typed.
 */

/** ONNX element types we use (TensorProto.DataType names). */
export type ElemType = "float32" | "float64" | "float16" | "int64" | "int32" | "bool" | "uint8";

/** A typed ONNX attribute. */
export type Attr =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly t: IrTensor };

export interface IrNode {
  /** Path-style name, e.g. "/model/layers.0/attn/q_proj/MatMul". */
  readonly name: string;
  readonly op: string;
  readonly domain?: string;
  /** Input edge names; "" for an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs?: Readonly<Record<string, Attr>>;
}

/** A graph input or output: name, element type and shape (a string is a symbolic dim). */
export interface IrValue {
  readonly name: string;
  readonly type: ElemType;
  readonly shape: readonly (number | string)[];
}

/** A constant tensor (initializer or Constant value). */
export interface IrTensor {
  readonly name: string;
  readonly type: ElemType;
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
  /**
   * ONNX external data: the bytes live in `location` (a file beside the model) at `offset`, `length`
   * bytes long; `data` is then empty and not written.
   */
  readonly external?: { readonly location: string; readonly offset: number; readonly length: number };
}

export interface IrGraph {
  readonly name: string;
  readonly nodes: IrNode[];
  readonly inputs: IrValue[];
  readonly outputs: IrValue[];
  readonly initializers: IrTensor[];
  /** Default-domain opset version. */
  readonly opset: number;
}
