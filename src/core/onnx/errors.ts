/** Errors of the ONNX layer (graph building, serialization). */
export type OnnxErrorCode =
  | "bad-graph" // the IR is inconsistent (undefined edge, duplicate name, wrong data length)
  | "bad-option" // a builder option is out of range
  | "unsupported"; // an architecture or feature we do not build

export class OnnxError extends Error {
  override readonly name = "OnnxError";
  constructor(
    readonly code: OnnxErrorCode,
    message: string,
  ) {
    super(message);
  }
}
