/**
 * Errors of the training engine. Each has a `code` and a message that names what is wrong and
 * what to do about it (and the file, where one is involved).
 */
import { OutputError } from "../output/errors";

export type TrainErrorCode =
  | "bad-options" // an option is out of range or inconsistent
  | "no-gradient-rule" // the forward graph uses an op the autodiff cannot differentiate
  | "bad-graph" // the forward graph is malformed for differentiation (unknown loss, non-float input...)
  | "unknown-rank" // a rule needs a static rank that the graph does not determine
  | "bad-data" // training text is missing, empty or too short
  | "bad-checkpoint" // a resume checkpoint is unreadable or does not match the model
  | "bad-job" // a PostShare job folder (job.json, its data or its trained weights) is unusable
  | "non-finite" // the loss or gradients became NaN/Inf
  | "cancelled"; // the AbortSignal fired

export class TrainError extends Error {
  override readonly name = "TrainError";
  constructor(
    readonly code: TrainErrorCode,
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

/** The output module's refusals (path rules, lock, free space) as bad-options; a cancel while waiting for a lock as a cancel. */
export async function asTrainError<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof OutputError) throw new TrainError(e.code === "aborted" ? "cancelled" : "bad-options", e.message);
    throw e;
  }
}
