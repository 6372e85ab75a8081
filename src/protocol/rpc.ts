/**
 * One RPC class for every boundary (extension ⇄ worker over child-process IPC, extension ⇄ webview
 * over postMessage), after vscode-hexeditor's MessageHandler, with what it lacks: error replies
 * that reject the caller's promise (a handler that throws always answers), cancellation by id
 * (an AbortSignal on the handler side), and zod validation of every message received: malformed
 * or unknown messages are logged and never acted on. Envelope: ./envelope.ts.
 *
 * `Rpc<Local, Remote>`: `Local` lists what this side serves (requests it handles, events it
 * receives); `Remote` what the other side serves (requests this side sends, events it emits).
 */
import * as z from "zod";
import { describeMessage, describeZodError, envelopeSchema, type Envelope, type ErrorPayload } from "./envelope";

export interface RequestDef {
  readonly params: z.ZodType;
  readonly result: z.ZodType;
}
/** What one side of a boundary serves. */
export interface ProtocolSide {
  readonly requests: Readonly<Record<string, RequestDef>>;
  readonly events: Readonly<Record<string, z.ZodType>>;
}

export type RequestName<S extends ProtocolSide> = keyof S["requests"] & string;
export type EventName<S extends ProtocolSide> = keyof S["events"] & string;
export type ParamsIn<S extends ProtocolSide, M extends RequestName<S>> = z.input<S["requests"][M]["params"]>;
export type ParamsOf<S extends ProtocolSide, M extends RequestName<S>> = z.output<S["requests"][M]["params"]>;
export type ResultIn<S extends ProtocolSide, M extends RequestName<S>> = z.input<S["requests"][M]["result"]>;
export type ResultOf<S extends ProtocolSide, M extends RequestName<S>> = z.output<S["requests"][M]["result"]>;
export type EventIn<S extends ProtocolSide, M extends EventName<S>> = z.input<S["events"][M]>;
export type EventOf<S extends ProtocolSide, M extends EventName<S>> = z.output<S["events"][M]>;

/** How messages leave this side. The owner feeds received messages to `Rpc.receive`. */
export interface Transport {
  send(message: Envelope): void;
}

/** Error codes produced by the RPC layer itself (handlers add their own, e.g. "model-error"). */
export type RpcErrorCode =
  | "cancelled"
  | "unknown-method"
  | "invalid-params"
  | "invalid-result"
  | "duplicate-id"
  | "internal"
  | "disposed"
  | "send-failed"
  | "timeout"
  | "worker-exited"
  | "worker-missing"
  | "worker-start-failed";

/** An error that crossed (or could not cross) a boundary. `code` is machine-readable; `job` names the job. */
export class RpcError extends Error {
  override readonly name = "RpcError";
  constructor(
    readonly code: RpcErrorCode | (string & {}),
    message: string,
    readonly job?: string,
    /** The class name of the error where it was thrown (e.g. "ModelError"), when it came from the other side. */
    readonly remoteName?: string,
  ) {
    super(message);
  }
  toPayload(): ErrorPayload {
    return { message: this.message, code: this.code, ...(this.job ? { job: this.job } : {}), ...(this.remoteName ? { name: this.remoteName } : {}) };
  }
}

export interface HandlerContext {
  /** The request's id (unique per sender); progress events name it as their `job`. */
  readonly id: number;
  readonly method: string;
  /** `method #id`, for messages. */
  readonly job: string;
  /** Aborted when the other side cancels the request or the RPC is disposed. */
  readonly signal: AbortSignal;
}
export type Handler<S extends ProtocolSide, M extends RequestName<S>> = (
  params: ParamsOf<S, M>,
  ctx: HandlerContext,
) => Promise<ResultIn<S, M>> | ResultIn<S, M>;
export type EventListener<S extends ProtocolSide, M extends EventName<S>> = (params: EventOf<S, M>) => void;

export interface RequestOptions {
  /** Aborting sends a cancel message; the promise rejects with code "cancelled" when the other side answers, or after `cancelGraceMs`. */
  readonly signal?: AbortSignal;
  /** Added to the job name in errors: `headshare/match #3 (model.safetensors)`. */
  readonly label?: string;
}
export interface StartedRequest<T> {
  readonly id: number;
  readonly job: string;
  readonly result: Promise<T>;
}
export interface PendingInfo {
  readonly id: number;
  readonly method: string;
  readonly job: string;
  readonly startedAt: number;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
export interface RpcOptions {
  /** Where rejected messages and handler failures are reported. Default: nothing. */
  readonly log?: (level: LogLevel, message: string) => void;
  /** After a cancel is sent, how long to wait for the other side's answer before rejecting anyway (default 5000 ms). */
  readonly cancelGraceMs?: number;
  /** Called when a cancelled request got no answer within the grace period (e.g. to kill a hung worker). */
  readonly onUnansweredCancel?: (info: PendingInfo) => void;
  /** A name for this side in logs ("worker", "client", "webview"). */
  readonly name?: string;
}

interface Pending extends PendingInfo {
  readonly resultSchema: z.ZodType;
  resolve(value: unknown): void;
  reject(err: RpcError): void;
  cleanup(): void;
}

/** Converts anything thrown by a handler into an error payload. Errors with a string `code` (typed core errors) keep it. */
export function toErrorPayload(err: unknown, job: string, aborted: boolean): ErrorPayload {
  if (aborted) return { code: "cancelled", message: `${job} was cancelled`, job };
  if (err instanceof RpcError) return { ...err.toPayload(), job: err.job ?? job };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      message: err.message || String(err),
      code: typeof code === "string" && code.length > 0 && code.length <= 100 ? code : "internal",
      job,
      name: err.name,
    };
  }
  return { message: `non-Error value thrown: ${describeMessage(err)}`, code: "internal", job };
}

/**
 * Clamps an error payload to what errorPayloadSchema accepts, so the other side never drops an
 * error reply as malformed (and never waits forever for it): long messages are truncated.
 */
export function fitErrorPayload(p: ErrorPayload): ErrorPayload {
  const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 20)} … (truncated)` : s);
  return {
    message: clip(String(p.message), 20_000),
    code: typeof p.code === "string" && p.code.length >= 1 && p.code.length <= 100 ? p.code : "internal",
    ...(p.job !== undefined ? { job: clip(String(p.job), 2_000) } : {}),
    ...(p.name !== undefined ? { name: clip(String(p.name), 200) } : {}),
  };
}

export class Rpc<Local extends ProtocolSide, Remote extends ProtocolSide> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly incoming = new Map<number, AbortController>();
  private readonly handlers = new Map<string, (params: unknown, ctx: HandlerContext) => unknown>();
  private readonly listeners = new Map<string, Set<(params: unknown) => void>>();
  private disposed = false;

  constructor(
    private readonly local: Local,
    private readonly remote: Remote,
    private readonly transport: Transport,
    private readonly opts: RpcOptions = {},
  ) {}

  // ---------------------------------------------------------------- sending

  /** Sends a request; the promise resolves with the validated result or rejects with an RpcError. */
  request<M extends RequestName<Remote>>(method: M, params: ParamsIn<Remote, M>, opts: RequestOptions = {}): Promise<ResultOf<Remote, M>> {
    return this.start(method, params, opts).result;
  }

  /** Like `request`, but also returns the id (progress events name it) and the job name. */
  start<M extends RequestName<Remote>>(method: M, params: ParamsIn<Remote, M>, opts: RequestOptions = {}): StartedRequest<ResultOf<Remote, M>> {
    const id = this.nextId++;
    const job = `${method} #${id}${opts.label ? ` (${opts.label})` : ""}`;
    const def = this.remote.requests[method];
    const fail = (err: RpcError): StartedRequest<ResultOf<Remote, M>> => ({ id, job, result: Promise.reject(err) });
    if (this.disposed) return fail(new RpcError("disposed", `${job} was not sent: the connection is closed`, job));
    if (!def) return fail(new RpcError("unknown-method", `${job}: unknown method ${method}`, job));
    const parsed = def.params.safeParse(params);
    if (!parsed.success) return fail(new RpcError("invalid-params", `${job}: invalid options: ${describeZodError(parsed.error)}`, job));
    if (opts.signal?.aborted) return fail(new RpcError("cancelled", `${job} was cancelled before it started`, job));

    let settle!: { resolve(v: unknown): void; reject(e: RpcError): void };
    const result = new Promise<ResultOf<Remote, M>>((resolve, reject) => {
      settle = { resolve: resolve as (v: unknown) => void, reject };
    });
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => {
      const p = this.pending.get(id);
      if (!p) return;
      this.post({ kind: "cancel", id: this.nextId++, target: id });
      graceTimer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        this.settle(id, new RpcError("cancelled", `${job} was cancelled (the other side did not confirm within ${this.cancelGraceMs} ms)`, job));
        this.opts.onUnansweredCancel?.(p);
      }, this.cancelGraceMs);
      unrefTimer(graceTimer);
    };
    const pending: Pending = {
      id,
      method,
      job,
      startedAt: Date.now(),
      resultSchema: def.result,
      resolve: settle.resolve,
      reject: settle.reject,
      cleanup: () => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (graceTimer) clearTimeout(graceTimer);
      },
    };
    this.pending.set(id, pending);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (!this.post({ kind: "request", id, method, params: parsed.data })) {
      this.settle(id, new RpcError("send-failed", `${job} could not be sent: the connection is closed`, job));
    }
    return { id, job, result };
  }

  /** Fire and forget. Invalid params are a bug on this side: logged and dropped. */
  notify<M extends EventName<Remote>>(method: M, params: EventIn<Remote, M>): void {
    const schema = this.remote.events[method];
    if (!schema) return this.log("error", `not sending event ${method}: unknown event`);
    const parsed = schema.safeParse(params);
    if (!parsed.success) return this.log("error", `not sending event ${method}: ${describeZodError(parsed.error, "params")}`);
    if (!this.disposed) this.post({ kind: "event", id: this.nextId++, method, params: parsed.data });
  }

  /** Requests sent and not yet answered. */
  pendingRequests(): PendingInfo[] {
    return [...this.pending.values()].map(({ id, method, job, startedAt }) => ({ id, method, job, startedAt }));
  }

  /** Rejects one pending request (e.g. on timeout); true when it was pending. */
  fail(id: number, err: RpcError): boolean {
    return this.settle(id, err);
  }

  /** Rejects every pending request with the error `make` builds for it (e.g. when the worker died). */
  failAll(make: (info: PendingInfo) => RpcError): void {
    for (const p of [...this.pending.values()]) this.settle(p.id, make(p));
  }

  // ---------------------------------------------------------------- serving

  /** Registers the handler of a request this side serves (one per method). */
  handle<M extends RequestName<Local>>(method: M, handler: Handler<Local, M>): void {
    if (!this.local.requests[method]) throw new RpcError("unknown-method", `cannot handle ${method}: it is not in this side's protocol`);
    this.handlers.set(method, handler as (params: unknown, ctx: HandlerContext) => unknown);
  }

  /** Listens to an event this side receives; returns an unsubscribe function. */
  on<M extends EventName<Local>>(method: M, listener: EventListener<Local, M>): () => void {
    if (!this.local.events[method]) throw new RpcError("unknown-method", `cannot listen to ${method}: it is not in this side's protocol`);
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    const l = listener as (params: unknown) => void;
    set.add(l);
    return () => void set.delete(l);
  }

  /** Feeds one received message. Anything malformed or unknown is logged and dropped (or answered with an error). */
  receive(raw: unknown): void {
    if (this.disposed) return;
    const env = envelopeSchema.safeParse(raw);
    if (!env.success) return this.log("warn", `rejected a malformed message (${describeZodError(env.error, "message")}): ${describeMessage(raw)}`);
    const msg = env.data;
    switch (msg.kind) {
      case "request":
        return this.onRequest(msg.id, msg.method, msg.params);
      case "result":
        return this.onResult(msg.inReplyTo, msg.result);
      case "error": {
        const p = this.pending.get(msg.inReplyTo);
        if (!p) return this.log("warn", `dropped an error reply to unknown request ${msg.inReplyTo}: ${msg.error.message}`);
        const message = msg.error.message || `${p.job} failed (the other side gave no message; code ${JSON.stringify(msg.error.code)})`;
        // The caller's own name for the job (it carries the label) wins over the other side's.
        this.settle(p.id, new RpcError(msg.error.code, message, p.job, msg.error.name));
        return;
      }
      case "event":
        return this.onEvent(msg.method, msg.params);
      case "cancel": {
        const ac = this.incoming.get(msg.target);
        if (ac) ac.abort(new RpcError("cancelled", `request ${msg.target} was cancelled by the other side`));
        return;
      }
    }
  }

  /** Rejects everything pending (code "disposed" unless `err` is given), aborts running handlers, and stops. */
  dispose(err?: (info: PendingInfo) => RpcError): void {
    if (this.disposed) return;
    this.failAll(err ?? ((p) => new RpcError("disposed", `${p.job} was abandoned: the connection was closed`, p.job)));
    this.disposed = true;
    for (const ac of this.incoming.values()) ac.abort(new RpcError("disposed", "the connection was closed"));
    this.incoming.clear();
    this.listeners.clear();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  // ---------------------------------------------------------------- internals

  private get cancelGraceMs(): number {
    return this.opts.cancelGraceMs ?? 5000;
  }

  private onRequest(id: number, method: string, rawParams: unknown): void {
    const job = `${method} #${id}`;
    const replyError = (error: ErrorPayload): void => void this.post({ kind: "error", id: this.nextId++, inReplyTo: id, error: fitErrorPayload(error) });
    if (this.incoming.has(id)) {
      this.log("warn", `rejected ${job}: a request with this id is still running`);
      return replyError({ code: "duplicate-id", message: `${job} rejected: a request with id ${id} is still running`, job });
    }
    const def = this.local.requests[method];
    const handler = this.handlers.get(method);
    if (!def || !handler) {
      this.log("warn", `rejected ${job}: unknown method`);
      return replyError({ code: "unknown-method", message: `${job} rejected: ${this.opts.name ?? "this side"} does not handle ${method}`, job });
    }
    const parsed = def.params.safeParse(rawParams);
    if (!parsed.success) {
      const why = describeZodError(parsed.error, "params");
      this.log("warn", `rejected ${job}: ${why}`);
      return replyError({ code: "invalid-params", message: `${job} rejected: invalid options: ${why}`, job });
    }
    const ac = new AbortController();
    this.incoming.set(id, ac);
    const ctx: HandlerContext = { id, method, job, signal: ac.signal };
    Promise.resolve()
      .then(() => handler(parsed.data, ctx))
      .then(
        (result) => {
          if (ac.signal.aborted) return replyError(toErrorPayload(undefined, job, true));
          const ok = def.result.safeParse(result);
          if (!ok.success) {
            const why = describeZodError(ok.error, "result");
            this.log("error", `${job} produced an invalid result: ${why}`);
            return replyError({ code: "invalid-result", message: `${job} produced an invalid result: ${why}`, job });
          }
          this.post({ kind: "result", id: this.nextId++, inReplyTo: id, result: ok.data });
        },
        (err: unknown) => {
          let payload: ErrorPayload;
          try {
            payload = toErrorPayload(err, job, ac.signal.aborted);
          } catch {
            // e.g. an Error whose `message` getter throws: still answer.
            payload = { code: "internal", message: `${job} failed with an error that cannot be described`, job };
          }
          if (payload.code !== "cancelled") this.log("warn", `${job} failed: ${payload.message}`);
          replyError(payload);
        },
      )
      .catch((err: unknown) => this.log("error", `${job}: could not answer: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.incoming.delete(id));
  }

  private onResult(inReplyTo: number, raw: unknown): void {
    const p = this.pending.get(inReplyTo);
    if (!p) return this.log("warn", `dropped a result for unknown request ${inReplyTo}`);
    const ok = p.resultSchema.safeParse(raw);
    if (!ok.success) {
      const why = describeZodError(ok.error, "result");
      this.log("warn", `${p.job}: rejected an invalid result: ${why}`);
      this.settle(p.id, new RpcError("invalid-result", `${p.job} answered with an invalid result: ${why}`, p.job));
      return;
    }
    this.pending.delete(p.id);
    p.cleanup();
    p.resolve(ok.data);
  }

  private onEvent(method: string, raw: unknown): void {
    const schema = this.local.events[method];
    if (!schema) return this.log("warn", `dropped unknown event ${method}`);
    const ok = schema.safeParse(raw);
    if (!ok.success) return this.log("warn", `dropped event ${method}: ${describeZodError(ok.error, "params")}`);
    for (const l of this.listeners.get(method) ?? []) {
      try {
        l(ok.data);
      } catch (err) {
        this.log("error", `listener of ${method} threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private settle(id: number, err: RpcError): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    p.cleanup();
    p.reject(err);
    return true;
  }

  private post(msg: Envelope): boolean {
    try {
      this.transport.send(msg);
      return true;
    } catch (err) {
      this.log("error", `could not send ${msg.kind}${"method" in msg ? ` ${msg.method}` : ""}: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  private log(level: LogLevel, message: string): void {
    this.opts.log?.(level, this.opts.name ? `[${this.opts.name}] ${message}` : message);
  }
}

/** Lets a Node process exit while `timer` waits (this file also runs in the webview, whose timers are numbers). */
function unrefTimer(timer: unknown): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer && typeof timer.unref === "function") timer.unref();
}
