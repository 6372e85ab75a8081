/**
 * What a gradient rule may use: emit ONNX nodes into the backward graph, make typed constants,
 * ask for static ranks/values, and undo broadcasting. Rules are pure functions of a forward node
 * and the gradients of its outputs (see `./index.ts`).
 */
import type { Attr, ElemType, IrNode, IrTensor } from "../../onnx/ir";
import { TrainError } from "../errors";
import { inferNode, type ValueInfo } from "../staticInfo";

/** Float element types the engine differentiates. */
export type FloatType = "float32" | "float64" | "float16";

export const FLOAT_TYPES: ReadonlySet<ElemType> = new Set<ElemType>(["float32", "float64", "float16"]);

/**
 * A gradient rule: given the forward node, the gradient of each output (undefined when that
 * output does not reach the loss) and which inputs need a gradient, returns each input's gradient
 * (undefined where not needed or not differentiable). The gradient of an output has its shape.
 */
export type GradRule = (node: IrNode, dOut: readonly (string | undefined)[], ctx: GradContext, needs: readonly boolean[]) => (string | undefined)[];

export class GradContext {
  readonly nodes: IrNode[] = [];
  readonly initializers: IrTensor[] = [];
  private counter = 0;
  private readonly consts = new Map<string, string>();
  /** The forward node whose rule is emitting (for names and errors). */
  current = "";

  constructor(
    readonly floatType: FloatType,
    readonly info: Map<string, ValueInfo>,
    private readonly prefix = "/grad",
  ) {}

  /** Emits a node with `nOut` outputs; returns their names. */
  nodeN(op: string, inputs: readonly string[], nOut: number, attrs?: Record<string, Attr>): string[] {
    const id = this.counter++;
    const base = `${this.prefix}${this.current}/${op}_${id}`;
    const outputs = Array.from({ length: nOut }, (_, i) => `${base}:${i}`);
    const node: IrNode = { name: base, op, inputs: [...inputs], outputs, ...(attrs ? { attrs } : {}) };
    this.nodes.push(node);
    inferNode(node, this.info);
    return outputs;
  }

  /** Emits a single-output node. */
  op(op: string, inputs: readonly string[], attrs?: Record<string, Attr>): string {
    return this.nodeN(op, inputs, 1, attrs)[0]!;
  }

  /** A scalar constant of the graph's float type. */
  scalar(value: number): string {
    return this.constant(this.floatType, [], [value]);
  }

  /** A 1-D int64 constant (axes, shapes, perms). */
  ints(values: readonly number[]): string {
    return this.constant("int64", [values.length], values);
  }

  /** A scalar int64 constant. */
  int(value: number): string {
    return this.constant("int64", [], [value]);
  }

  private constant(type: ElemType, dims: number[], values: readonly number[]): string {
    const key = `${type}/${dims.join("x")}/${values.join(",")}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = `${this.prefix}/constants/${type}/${this.consts.size}`;
    const data =
      type === "int64"
        ? BigInt64Array.from(values, (v) => BigInt(v))
        : type === "float64"
          ? Float64Array.from(values)
          : type === "float32"
            ? Float32Array.from(values)
            : Uint16Array.from(values, f32ToF16);
    this.initializers.push({ name, type, dims, data });
    this.info.set(name, { rank: dims.length, ...(type === "int64" ? { ints: [...values] } : {}), ...(dims.length === 1 ? { len: dims[0]! } : {}) });
    this.consts.set(key, name);
    return name;
  }

  /** Static rank of a value, or a TrainError naming the node that needs it. */
  rank(value: string): number {
    const r = this.info.get(value)?.rank;
    if (r === undefined) {
      throw new TrainError(
        "unknown-rank",
        `autodiff: the rank of "${value}" (needed by the gradient of ${this.current || "a node"}) is not static; give graph inputs fixed-rank shapes and shapes from constants`,
      );
    }
    return r;
  }

  rankOrUndefined(value: string): number | undefined {
    return this.info.get(value)?.rank;
  }

  /** Static integer value of a small tensor (axes, perm), or undefined. */
  constInts(value: string): number[] | undefined {
    return this.info.get(value)?.ints;
  }

  shape(value: string): string {
    return this.op("Shape", [value]);
  }

  /** Zeros shaped like `like`, of the float type. */
  zerosLike(like: string): string {
    return this.op("ConstantOfShape", [this.shape(like)], {
      value: {
        t: {
          name: "value",
          type: this.floatType,
          dims: [1],
          data: this.floatType === "float64" ? new Float64Array(1) : this.floatType === "float32" ? new Float32Array(1) : new Uint16Array(1),
        },
      },
    });
  }

  neg(x: string): string {
    return this.op("Neg", [x]);
  }
  add(a: string, b: string): string {
    return this.op("Add", [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op("Sub", [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op("Mul", [a, b]);
  }
  div(a: string, b: string): string {
    return this.op("Div", [a, b]);
  }

  /**
   * Sums `grad` (shaped like the broadcast output) down to the shape of `like` (an input that was
   * broadcast). Static ranks give a cheap path (ReduceSum over the leading and size-1 axes,
   * found at run time); without them, everything is computed from shapes at run time.
   *
   *   grad [..out]  --ReduceSum(axes where shape(like) padded with 1s differs, keepdims)-->
   *                 --Reshape(shape(like))--> [..like]
   */
  unbroadcast(grad: string, like: string): string {
    const rg = this.rankOrUndefined(grad),
      rl = this.rankOrUndefined(like);
    const sg = this.shape(grad),
      sl = this.shape(like);
    let padded: string;
    if (rg !== undefined && rl !== undefined) {
      if (rg === rl) padded = sl;
      else padded = this.op("Concat", [this.ints(new Array<number>(rg - rl).fill(1)), sl], { axis: { i: 0 } });
    } else {
      const diff = this.op("Sub", [this.op("Size", [sg]), this.op("Size", [sl])]);
      const ones = this.op("ConstantOfShape", [this.op("Reshape", [diff, this.ints([1])])], {
        value: { t: { name: "value", type: "int64", dims: [1], data: BigInt64Array.of(1n) } },
      });
      padded = this.op("Concat", [ones, sl], { axis: { i: 0 } });
    }
    const differ = this.op("Not", [this.op("Equal", [padded, sg])]);
    const axes = this.op("Reshape", [this.op("NonZero", [differ]), this.ints([-1])]);
    const summed = this.op("ReduceSum", [grad, axes], { keepdims: { i: 1 }, noop_with_empty_axes: { i: 1 } });
    return this.op("Reshape", [summed, sl]);
  }

  /** Unbroadcast only when the two values might differ in shape (skips same-name cases). */
  maybeUnbroadcast(grad: string, like: string, out: string): string {
    if (like === out) return grad;
    return this.unbroadcast(grad, like);
  }
}

function f32ToF16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}
