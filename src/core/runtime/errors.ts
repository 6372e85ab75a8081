/** Errors of the ORT runtime layer. */
export type RuntimeErrorCode = "bad-providers" | "bad-model" | "bad-threads" | "no-provider" | "run-failed" | "gpu-memory" | "gpu-limit";

export class RuntimeError extends Error {
  override readonly name = "RuntimeError";
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message);
  }
}
