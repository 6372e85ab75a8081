/** Errors of evaluation (tokenizer, text protocol, metrics). */
export type EvalErrorCode =
  | "bad-option" // an option is out of range or inconsistent
  | "no-tokenizer" // tokenizer.json missing or unreadable
  | "tokenizer-stuck" // tokenizing ran past its time limit (a regex that backtracks without end) or out of memory
  | "bad-text" // the text is empty or yields no scorable tokens
  | "mismatch" // two models that must agree (vocab, layers) do not
  | "too-large" // the weights (as float32), or one layer of them, do not fit the memory available
  | "changed" // a checkpoint file changed (or vanished) while it was being read
  | "non-finite" // the result is NaN/Inf (a damaged weight, named)
  | "aborted"; // the AbortSignal fired

export class EvalError extends Error {
  override readonly name = "EvalError";
  constructor(
    readonly code: EvalErrorCode,
    message: string,
  ) {
    super(message);
  }
}
