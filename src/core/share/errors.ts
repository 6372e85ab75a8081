/**
 * Typed errors of DirectShare. Pure (no node imports): the webview bundles `plan.ts`, which throws
 * `PlanError`. Every message names the input and says what to do.
 */
export type PlanErrorCode = "bad-ratio" | "ratio-too-high" | "bad-table" | "bad-plan";
export type MatchTableErrorCode = "bad-json" | "bad-format" | "bad-field" | "bad-entry" | "incomplete";
export type MatchErrorCode = "bad-options" | "unsupported" | "aborted" | "read-failed" | "bad-weights";
export type ShareErrorCode = "bad-options" | "bad-plan" | "out-exists" | "out-is-input" | "aborted" | "not-compact" | "bad-compact" | "write-failed";

export class PlanError extends Error {
  override readonly name = "PlanError";
  constructor(
    readonly code: PlanErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class MatchTableError extends Error {
  override readonly name = "MatchTableError";
  constructor(
    readonly code: MatchTableErrorCode,
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

export class MatchError extends Error {
  override readonly name = "MatchError";
  constructor(
    readonly code: MatchErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class ShareError extends Error {
  override readonly name = "ShareError";
  constructor(
    readonly code: ShareErrorCode,
    message: string,
  ) {
    super(message);
  }
}
