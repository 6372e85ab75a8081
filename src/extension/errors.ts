/** Errors the extension raises itself (user input, files); worker errors arrive as RpcError. */
export type ExtensionErrorCode = "bad-input" | "not-a-model" | "untrusted" | "output-exists" | "output-over-input" | "cancelled" | "no-text" | "io";

export class ExtensionError extends Error {
  override readonly name = "ExtensionError";
  constructor(
    readonly code: ExtensionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** True for a user's cancel (our own or the worker's "cancelled" reply). */
export function isCancel(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "cancelled";
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
