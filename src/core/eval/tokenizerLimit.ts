/**
 * Tokenizing under a time limit. A tokenizer.json carries regexes (normalizer/pre-tokenizer
 * `Replace`/`Split` patterns) that JavaScript runs with a backtracking engine: `(a|aa)+$` on 40 "a"s
 * never finishes. So tokenizing runs on a thread (tokenizerThread.js beside the running bundle):
 * the caller posts the text, waits synchronously (Atomics.wait) until the thread answers or the
 * deadline passes, and on a miss terminates the thread (V8 interrupts the regex within milliseconds)
 * and throws EvalError("tokenizer-stuck") naming the tokenizer file and, when it can tell, the regex.
 * The thread has its own heap limit, so a tokenizer that runs out of memory fails the same way.
 * `encode` and `decode` stay synchronous for their callers.
 */
import fs from "node:fs";
import path from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { EvalError } from "./errors";

/** What the thread receives as workerData. */
export interface ThreadInput {
  readonly json: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  /** SharedArrayBuffer of one int32: the last answered sequence number. */
  readonly flag: SharedArrayBuffer;
  readonly port: MessagePort;
}
export type ThreadRequest =
  { readonly seq: number; readonly op: "encode"; readonly text: string } | { readonly seq: number; readonly op: "decode"; readonly ids: readonly number[] };
/** Sequence 1 answers the thread's start (the tokenizer built, or why not). */
export type ThreadReply =
  | { readonly seq: number; readonly ok: true; readonly ids?: Int32Array; readonly text?: string }
  | { readonly seq: number; readonly ok: false; readonly message: string };

export interface TimeLimit {
  /** Allowed for any call (and for building the tokenizer on the thread). */
  readonly baseMs: number;
  /** Added per UTF-16 unit of text (or per id decoded). */
  readonly perCharMs: number;
}

/**
 * The default: 10 s plus 10 µs per character. Normal tokenizing runs at 0.2–1.5 µs per character
 * (tokenizer bench on this machine), so only a runaway regex or a pathological input reaches it.
 */
export const DEFAULT_TIME_LIMIT: TimeLimit = { baseMs: 10_000, perCharMs: 0.01 };

/** The thread's old-generation heap, MiB: a real tokenizer (≤ 256 MiB of JSON) and one chunk of text fit. */
const THREAD_HEAP_MIB = 3072;

/** Building the tokenizer on the thread (the largest real tokenizer.json files take a few seconds). */
const LOAD_MS = 120_000;

/** A thread left idle this long is stopped (the next call starts another). */
const IDLE_MS = 20_000;

/** The thread script beside the running bundle, or undefined when this build has none. */
export function tokenizerThreadScript(dir: string = __dirname): string | undefined {
  const p = path.join(dir, "tokenizerThread.js");
  return fs.existsSync(p) ? p : undefined;
}

/** Every regex source in a tokenizer.json's normalizer, pre-tokenizer and decoder, with where it sits. */
export function tokenizerRegexes(json: Record<string, unknown>): { readonly where: string; readonly source: string }[] {
  const out: { where: string; source: string }[] = [];
  const walk = (v: unknown, where: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}[${i}]`));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "Regex" && typeof x === "string") out.push({ where: where.replace(/\.pattern$/, ""), source: x });
        else walk(x, `${where}.${k}`);
      }
    }
  };
  for (const part of ["normalizer", "pre_tokenizer", "decoder"]) walk(json[part], part);
  return out;
}

/** One call to a thread that answers through the flag protocol; "timeout" when the deadline passed first. */
function callSync(worker: Worker, port: MessagePort, flag: Int32Array, req: ThreadRequest | undefined, seq: number, ms: number): ThreadReply | "timeout" {
  if (req) port.postMessage(req);
  const deadline = Date.now() + ms;
  for (;;) {
    if (Atomics.load(flag, 0) >= seq) break;
    const left = deadline - Date.now();
    if (left <= 0) return "timeout";
    Atomics.wait(flag, 0, Atomics.load(flag, 0), left);
  }
  const m = receiveMessageOnPort(port);
  if (!m) throw new Error(`tokenizer thread ${worker.threadId} answered ${seq} without a message`);
  return m.message as ThreadReply;
}

/**
 * Which regex alone runs past `ms` on `text` (each on a fresh thread, in order), or undefined.
 * Used only after a time-out, to name the culprit.
 */
function stuckRegex(regexes: readonly { where: string; source: string }[], text: string, ms: number): { where: string; source: string } | undefined {
  const code = `const { workerData: w } = require("node:worker_threads");
const flag = new Int32Array(w.flag);
let re; try { re = new RegExp(w.source, "gu"); } catch { re = undefined; }
if (re) w.text.replace(re, "");
w.port.postMessage({ seq: 2, ok: true });
Atomics.store(flag, 0, 2); Atomics.notify(flag, 0);`;
  for (const r of regexes) {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(code, { eval: true, workerData: { source: r.source, text, flag: flag.buffer, port: port2 }, transferList: [port2] });
    try {
      if (callSync(worker, port1, flag, undefined, 2, ms) === "timeout") return r;
    } finally {
      void worker.terminate();
      port1.close();
    }
  }
  return undefined;
}

/** Encode/decode on a tokenizer thread under a time limit (see the file comment). */
export class LimitedTokenizer {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private flag: Int32Array | undefined;
  private seq = 1;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    /** The tokenizer.json (named in errors). */
    readonly file: string,
    private readonly json: Record<string, unknown>,
    private readonly config: Record<string, unknown>,
    private readonly limit: TimeLimit = DEFAULT_TIME_LIMIT,
    private readonly script: string | undefined = tokenizerThreadScript(),
  ) {}

  encode(text: string): Int32Array {
    const r = this.call({ seq: 0, op: "encode", text }, text.length, text);
    return r.ids ?? new Int32Array(0);
  }

  decode(ids: readonly number[]): string {
    return this.call({ seq: 0, op: "decode", ids: [...ids] }, ids.length, undefined).text ?? "";
  }

  /** Stops the thread (a later call starts another). */
  close(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    if (this.worker) void this.worker.terminate();
    this.port?.close();
    this.worker = this.port = this.flag = undefined;
  }

  private start(): void {
    if (!this.script)
      throw new EvalError(
        "no-tokenizer",
        `tokenizerThread.js is missing beside ${__dirname}: this build of headshare is incomplete; rebuild it (npm run build)`,
      );
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    const input: ThreadInput = { json: this.json, config: this.config, flag: flag.buffer as SharedArrayBuffer, port: port2 };
    const worker = new Worker(this.script, { workerData: input, transferList: [port2], resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MIB } });
    worker.unref();
    worker.on("error", () => {}); // a thread that dies (out of memory) is reported by the caller's deadline
    this.worker = worker;
    this.port = port1;
    this.flag = flag;
    this.seq = 1;
    const ready = callSync(worker, port1, flag, undefined, 1, Math.max(LOAD_MS, this.limit.baseMs));
    if (ready === "timeout" || !ready.ok) {
      this.close();
      throw new EvalError(
        "no-tokenizer",
        `${this.file}: @huggingface/tokenizers cannot load it (${ready === "timeout" ? "building it did not finish in time" : ready.message})`,
      );
    }
  }

  private call(req: ThreadRequest, size: number, text: string | undefined): Extract<ThreadReply, { ok: true }> {
    if (!this.worker) this.start();
    if (this.idle) clearTimeout(this.idle);
    const seq = ++this.seq;
    const ms = this.limit.baseMs + this.limit.perCharMs * size;
    const r = callSync(this.worker!, this.port!, this.flag!, { ...req, seq }, seq, ms);
    if (r === "timeout") {
      this.close();
      throw this.stuck(ms, size, text);
    }
    this.idle = setTimeout(() => this.close(), IDLE_MS);
    this.idle.unref();
    if (!r.ok) throw new EvalError("bad-text", `${this.file}: the tokenizer failed on the text (${r.message})`);
    return r;
  }

  private stuck(ms: number, size: number, text: string | undefined): EvalError {
    const secs = (ms / 1000).toFixed(1);
    const regexes = tokenizerRegexes(this.json);
    const culprit = text !== undefined ? stuckRegex(regexes, text, Math.min(ms, 2000)) : undefined;
    const what = `tokenizing ${size} characters did not finish within ${secs} s (or ran out of the thread's ${THREAD_HEAP_MIB} MiB heap)`;
    if (culprit)
      return new EvalError(
        "tokenizer-stuck",
        `${this.file}: ${what}: the ${culprit.where} regex ${JSON.stringify(culprit.source)} backtracks without end on this text; fix or remove that pattern (or use the model's original tokenizer.json)`,
      );
    const list = regexes.length ? `; its regexes: ${regexes.map((r) => `${r.where} ${JSON.stringify(r.source)}`).join(", ")}` : "";
    return new EvalError("tokenizer-stuck", `${this.file}: ${what}${list}; check the tokenizer's patterns, or pass a smaller text`);
  }
}
