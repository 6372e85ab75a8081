/**
 * The wire envelope of every RPC boundary (extension ⇄ worker over child-process IPC, extension ⇄
 * webview over postMessage). Mirrored by nothing: both ends import this file. Every received
 * message is parsed with `envelopeSchema` before anything looks at it.
 *
 *   request  {kind:"request", id, method, params}          → answered by exactly one result or error
 *   result   {kind:"result",  id, inReplyTo, result}
 *   error    {kind:"error",   id, inReplyTo, error:{message, code, job?, name?}}
 *   event    {kind:"event",   id, method, params}           fire and forget
 *   cancel   {kind:"cancel",  id, target}                   asks the other side to abort request `target`
 */
import * as z from "zod";

const messageId = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Namespaced method names: `headshare/match`, `headshare/progress`, `webview/ready`. */
export const methodName = z
  .string()
  .min(3)
  .max(120)
  .regex(/^[a-z][a-zA-Z0-9-]*(\/[a-zA-Z0-9-]+)+$/, "a namespaced method name like headshare/match");

/** The error object of an error reply. `code` is machine-readable (e.g. "cancelled", "worker-exited", "model-error"). */
export const errorPayloadSchema = z.object({
  message: z.string().max(20_000),
  code: z.string().min(1).max(100),
  /** The job the error belongs to, e.g. `headshare/match #3 (stories260K-hf)`. */
  job: z.string().max(2_000).optional(),
  /** The class name of the error on the side that threw it (e.g. "ModelError"). */
  name: z.string().max(200).optional(),
});
export type ErrorPayload = z.infer<typeof errorPayloadSchema>;

export const requestEnvelope = z.object({ kind: z.literal("request"), id: messageId, method: methodName, params: z.unknown() });
export const resultEnvelope = z.object({ kind: z.literal("result"), id: messageId, inReplyTo: messageId, result: z.unknown() });
export const errorEnvelope = z.object({ kind: z.literal("error"), id: messageId, inReplyTo: messageId, error: errorPayloadSchema });
export const eventEnvelope = z.object({ kind: z.literal("event"), id: messageId, method: methodName, params: z.unknown() });
export const cancelEnvelope = z.object({ kind: z.literal("cancel"), id: messageId, target: messageId });

export const envelopeSchema = z.discriminatedUnion("kind", [requestEnvelope, resultEnvelope, errorEnvelope, eventEnvelope, cancelEnvelope]);
export type Envelope = z.infer<typeof envelopeSchema>;

/** A short, safe rendering of a received value for logs (never throws, at most `max` characters). */
export function describeMessage(raw: unknown, max = 200): string {
  let s: string;
  try {
    s = JSON.stringify(raw, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(raw);
  } catch {
    s = Object.prototype.toString.call(raw);
  }
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

/** The first zod issue as one readable line: `params.ratio: Too big: expected number to be <=0.96`. */
export function describeZodError(err: z.ZodError, root = ""): string {
  const issue = err.issues[0];
  if (!issue) return "invalid value";
  const where = [root, ...issue.path.map(String)].filter((p) => p !== "").join(".");
  const more = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more problem${err.issues.length > 2 ? "s" : ""})` : "";
  return `${where || "value"}: ${issue.message}${more}`;
}
