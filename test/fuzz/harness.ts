/**
 * The fuzz harness: runs structure-aware fast-check generators against every reader and checks
 * that each input ends in success or a *typed* error (an Error subclass with a string `code` and
 * a message that names the file), within a per-case time limit and without allocating beyond a
 * bound. A sync hang is caught by a watchdog thread (it prints the target and case, then kills
 * the process); an async hang by a race against a timer.
 *
 * Reproducible: every target runs under one seed (printed); a failure prints fast-check's shrunk
 * counterexample with its seed and path, so `npm run test:fuzz -- --seed S --only T` replays it.
 */
import fc from "fast-check";
import { Worker } from "node:worker_threads";

/** What one input did. */
export type Outcome =
  { readonly kind: "ok"; readonly label?: string } | { readonly kind: "typed"; readonly errorKind: string } | { readonly kind: "crash"; readonly why: string };

export interface FuzzTarget<T> {
  /** Short name, e.g. "safetensors.header". */
  readonly name: string;
  /** How many cases this target gets per 100,000 of the bounded run (its share; cheap targets more). */
  readonly weight: number;
  readonly arb: fc.Arbitrary<T>;
  /** Runs the reader on one input. Returns its result (checked by `check`) or throws. */
  run(input: T): unknown | Promise<unknown>;
  /** Invariants a successful result must satisfy (throw to report a crash). */
  check?(input: T, result: unknown): void | Promise<void>;
  /** The file name an error message must mention (the reader was told it), when there is one. */
  fileOf?(input: T): string | undefined;
  /** Error classes (by `name`) this reader may throw; default: any Error subclass with a string `code`. */
  readonly errorNames?: readonly string[];
  /** For readers that answer instead of throwing (message validators): names what a success was ("accepted", "rejected"). */
  label?(input: T, result: unknown): string;
  /** Optional once-per-run setup/teardown (temp dirs). */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** Per-case wall-clock limit (ms). Default 2000. */
  readonly timeLimitMs?: number;
}

/** The allocation bound per case: array buffers + JS heap may not grow by more than this. */
export const ALLOC_BOUND_BYTES = 64 * 1024 * 1024;

const BUILTIN_ERRORS = new Set([
  "Error",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
  "EvalError",
  "URIError",
  "AggregateError",
  "AssertionError",
]);

/**
 * `Class:code` when `e` is an acceptable typed error, else undefined. Acceptable: an Error whose
 * class is not a JS builtin, with a non-empty string `code`, a message, and (when `file` is given)
 * the file's name somewhere in the message. Node system errors (ENOENT...) are builtin `Error`s
 * and therefore not acceptable: a reader must wrap them.
 */
export function typedErrorKind(e: unknown, file?: string, allowed?: readonly string[]): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const cls = e.name && e.name !== "Error" ? e.name : (e.constructor?.name ?? "Error");
  if (BUILTIN_ERRORS.has(cls)) return undefined;
  if (allowed && !allowed.includes(cls)) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== "string" || code.length === 0) return undefined;
  if (!e.message || e.message.length < 8) return undefined;
  if (file !== undefined) {
    const base = file.split(/[\\/]/).pop() ?? file;
    if (!e.message.includes(base)) return undefined;
  }
  return `${cls}:${code}`;
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${e.constructor?.name ?? "Error"}${code !== undefined ? `(code=${String(code)})` : ""}: ${e.message.slice(0, 300)}\n${(e.stack ?? "").split("\n").slice(1, 6).join("\n")}`;
  }
  return `non-Error thrown: ${String(e).slice(0, 200)}`;
}

function heapAndBuffers(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Runs one case: outcome + elapsed time. Never throws. */
export async function runCase<T>(t: FuzzTarget<T>, input: T): Promise<Outcome> {
  const limit = t.timeLimitMs ?? 2000;
  const m0 = heapAndBuffers();
  const t0 = performance.now();
  let outcome: Outcome;
  try {
    let r = t.run(input);
    if (r instanceof Promise) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HangError(limit)), limit);
      });
      try {
        r = await Promise.race([r, timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
    try {
      const c = t.check?.(input, r);
      if (c instanceof Promise) await c;
      const label = t.label?.(input, r);
      outcome = label !== undefined ? { kind: "ok", label } : { kind: "ok" };
    } catch (e) {
      outcome = { kind: "crash", why: `succeeded but the result breaks an invariant: ${describeError(e)}` };
    }
  } catch (e) {
    if (e instanceof HangError) outcome = { kind: "crash", why: e.message };
    else {
      const kind = typedErrorKind(e, t.fileOf?.(input), t.errorNames);
      outcome = kind ? { kind: "typed", errorKind: kind } : { kind: "crash", why: `untyped or unclear error: ${describeError(e)}` };
    }
  }
  const ms = performance.now() - t0;
  if (outcome.kind !== "crash" && ms > limit) outcome = { kind: "crash", why: `took ${ms.toFixed(0)} ms (limit ${limit} ms)` };
  const polluted = [...Object.keys(Object.prototype).map((k) => `Object.prototype.${k}`), ...Object.keys(Array.prototype).map((k) => `Array.prototype.${k}`)];
  if (polluted.length) {
    for (const k of Object.keys(Object.prototype)) delete (Object.prototype as Record<string, unknown>)[k];
    for (const k of Object.keys(Array.prototype)) delete (Array.prototype as unknown as Record<string, unknown>)[k];
    if (outcome.kind !== "crash") outcome = { kind: "crash", why: `prototype pollution: ${polluted.join(", ")} appeared during the case` };
  }
  const grew = heapAndBuffers() - m0;
  if (outcome.kind !== "crash" && grew > ALLOC_BOUND_BYTES)
    outcome = { kind: "crash", why: `allocated ${(grew / 2 ** 20).toFixed(0)} MiB in one case (bound ${ALLOC_BOUND_BYTES / 2 ** 20} MiB)` };
  return outcome;
}

class HangError extends Error {
  constructor(limit: number) {
    super(`did not finish within ${limit} ms (hang)`);
  }
}

/** A crash: the target, fast-check's report (seed, path, shrunk counterexample) and why. */
export interface Crash {
  readonly target: string;
  readonly report: string;
}

export interface TargetReport {
  readonly name: string;
  readonly cases: number;
  readonly ok: number;
  readonly typed: number;
  readonly errorKinds: ReadonlyMap<string, number>;
  /** Labels of successes (targets with `label`). */
  readonly okKinds: ReadonlyMap<string, number>;
  readonly crashes: readonly Crash[];
  readonly seconds: number;
}

export interface RunOptions {
  readonly seed: number;
  /** Cases for this target (already scaled by weight). */
  readonly cases: number;
  /** Stop the target after this many seconds (long mode); cases is then an upper bound. */
  readonly seconds?: number;
}

/**
 * Watchdog thread: if the case counter stops moving for `limitMs` while a case runs, prints the
 * target and case number to stderr and kills the process (SIGKILL, so no core dump) (a sync reader stuck in a loop cannot be
 * interrupted from the same thread).
 */
export class Watchdog {
  private readonly shared = new Int32Array(new SharedArrayBuffer(12)); // [caseNo, busy, limitMs]
  private readonly worker: Worker;
  constructor(limitMs: number) {
    Atomics.store(this.shared, 2, limitMs);
    this.worker = new Worker(
      `
      const { workerData, parentPort } = require("node:worker_threads");
      const fs = require("node:fs");
      const s = workerData.shared; let target = "?", last = -1, since = Date.now();
      parentPort.on("message", (m) => { target = m; });
      setInterval(() => {
        const n = Atomics.load(s, 0), busy = Atomics.load(s, 1);
        if (!busy || n !== last) { last = n; since = Date.now(); return; }
        if (Date.now() - since > Atomics.load(s, 2)) {
          fs.writeSync(2, "\\nFUZZ HANG: target " + target + " case " + n + " has run for over " + Atomics.load(s, 2) + " ms; killing the run\\n");
          process.kill(process.pid, "SIGKILL");
        }
      }, 100).unref();
    `,
      { eval: true, workerData: { shared: this.shared } },
    );
    this.worker.unref();
  }
  target(name: string): void {
    this.worker.postMessage(name);
  }
  enter(caseNo: number): void {
    Atomics.store(this.shared, 0, caseNo);
    Atomics.store(this.shared, 1, 1);
  }
  leave(): void {
    Atomics.store(this.shared, 1, 0);
  }
  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Runs one target under fast-check; never throws (crashes are returned). */
export async function runTarget<T>(t: FuzzTarget<T>, opts: RunOptions, dog?: Watchdog): Promise<TargetReport> {
  const t0 = performance.now();
  const kinds = new Map<string, number>();
  const okKinds = new Map<string, number>();
  let cases = 0,
    ok = 0,
    typed = 0;
  const crashes: Crash[] = [];
  dog?.target(t.name);
  await t.setup?.();
  try {
    const prop = fc.asyncProperty(t.arb, async (input) => {
      cases++;
      dog?.enter(cases);
      const o = await runCase(t, input);
      dog?.leave();
      if (o.kind === "ok") {
        ok++;
        if (o.label) okKinds.set(o.label, (okKinds.get(o.label) ?? 0) + 1);
      } else if (o.kind === "typed") {
        typed++;
        kinds.set(o.errorKind, (kinds.get(o.errorKind) ?? 0) + 1);
      } else throw new Error(o.why);
    });
    const params: fc.Parameters<[T]> = {
      seed: opts.seed,
      numRuns: opts.cases,
      ...(opts.seconds !== undefined ? { interruptAfterTimeLimit: opts.seconds * 1000, markInterruptAsFailure: false } : {}),
    };
    const details = await fc.check(prop, params);
    if (details.failed) {
      crashes.push({
        target: t.name,
        report: `seed ${details.seed}, path "${details.counterexamplePath ?? ""}"\n  counterexample: ${fc.stringify(details.counterexample).slice(0, 1500)}\n  ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
      });
    }
  } finally {
    dog?.leave();
    await t.teardown?.();
  }
  return { name: t.name, cases, ok, typed, errorKinds: kinds, okKinds, crashes, seconds: (performance.now() - t0) / 1000 };
}

/** A printable summary of a whole run. */
export function formatReports(reports: readonly TargetReport[], seed: number): string {
  const total = reports.reduce((s, r) => s + r.cases, 0);
  const crashes = reports.flatMap((r) => r.crashes);
  const secs = reports.reduce((s, r) => s + r.seconds, 0);
  const lines = [`fuzz: seed ${seed}, ${total} cases in ${secs.toFixed(1)} s, crashes: ${crashes.length}`];
  for (const r of reports) {
    lines.push(
      `  ${r.name.padEnd(28)} ${String(r.cases).padStart(8)} cases  ok ${String(r.ok).padStart(7)}  typed ${String(r.typed).padStart(7)}  ${r.seconds.toFixed(1).padStart(6)} s  crashes ${r.crashes.length}`,
    );
    const ks = [...r.errorKinds.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`);
    if (ks.length) lines.push(`      error kinds: ${ks.join(", ")}`);
    const oks = [...r.okKinds.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`);
    if (oks.length) lines.push(`      outcomes: ${oks.join(", ")}`);
  }
  const all = new Set(reports.flatMap((r) => [...r.errorKinds.keys()]));
  lines.push(`  distinct error kinds: ${all.size}`);
  for (const c of crashes) lines.push(`CRASH in ${c.target}: ${c.report}`);
  return lines.join("\n");
}
