/** Errors of the ONNX export and of generation. */
export type ExportErrorCode =
  | "bad-input" // the model, plan or output folder cannot be exported as asked
  | "bad-options" // an option is out of range
  | "unsupported" // a family or dtype the exporter does not write
  | "cancelled";

export class ExportError extends Error {
  override readonly name = "ExportError";
  constructor(
    readonly code: ExportErrorCode,
    message: string,
  ) {
    super(message);
  }
}
