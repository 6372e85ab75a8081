/** Errors of the output-folder module: each names the folder or file and says what to do. */
export type OutputErrorCode = "bad-out" | "out-exists" | "out-is-input" | "no-parent" | "not-writable" | "locked" | "no-space" | "aborted" | "swap-failed";

export class OutputError extends Error {
  override readonly name = "OutputError";
  constructor(
    readonly code: OutputErrorCode,
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}
