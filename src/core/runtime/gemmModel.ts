/**
 * Hand-built ONNX models for the match kernel: `C = A · Bᵀ` (one Gemm with transB = 1), float32,
 * with symbolic dims so one session serves every block shape.
 *
 *   A [m, k] f32 ─┐
 *                 ├─ Gemm(transB=1) ─► C [m, n] f32
 *   B [n, k] f32 ─┘
 */
import { ProtoWriter } from "./protobuf";

/** onnx TensorProto.DataType.FLOAT */
const FLOAT = 1;
/** onnx AttributeProto.AttributeType.INT */
const ATTR_INT = 2;

function valueInfo(w: ProtoWriter, name: string, dims: readonly string[]): void {
  w.string(1, name); // ValueInfoProto.name
  w.message(2, (type) => // ValueInfoProto.type : TypeProto
    type.message(1, (tensor) => { // TypeProto.tensor_type
      tensor.varint(1, FLOAT); // elem_type
      tensor.message(2, (shape) => { // shape : TensorShapeProto
        for (const d of dims) shape.message(1, (dim) => dim.string(2, d)); // dim { dim_param }
      });
    }));
}

/** The serialized ModelProto of `C = A · Bᵀ` (ir_version 8, opset 17). */
export function gemmTransBModel(): Uint8Array {
  const model = new ProtoWriter();
  model.varint(1, 8); // ir_version
  model.string(2, "headshare"); // producer_name
  model.message(7, (g) => { // graph
    g.message(1, (n) => { // node
      n.string(1, "A").string(1, "B").string(2, "C").string(3, "/match/gram/Gemm").string(4, "Gemm");
      n.message(5, (a) => a.string(1, "transB").varint(3, 1).varint(20, ATTR_INT));
    });
    g.string(2, "headshare_gram");
    g.message(11, (v) => valueInfo(v, "A", ["m", "k"]));
    g.message(11, (v) => valueInfo(v, "B", ["n", "k"]));
    g.message(12, (v) => valueInfo(v, "C", ["m", "n"]));
  });
  model.message(8, (o) => o.string(1, "").varint(2, 17)); // opset_import
  return model.finish();
}
