/**
 * Collects, per job, where its ONNX sessions ran, without threading a report through every core
 * function: the worker runs each job inside `withComputeLog`, and `createSession` (./ort.ts) records
 * into the log of the job whose async context created the session (jobs may run concurrently).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ComputeReport, GpuAdapter, ProviderName, ProviderSkip, SessionPlacement } from "./types";

/** Sessions kept per job (a sweep or a long training run creates several; the first ones say enough). */
const MAX_SESSIONS = 32;
/** Notes kept per job (distinct texts). */
const MAX_NOTES = 16;

export class ComputeLog {
  private first: { provider: ProviderName; adapter?: GpuAdapter; skipped: readonly ProviderSkip[] } | undefined;
  private readonly sessions: SessionPlacement[] = [];
  private readonly notes: string[] = [];

  /** `onChange` hears every new session, every placement learned after a first run, and every new note (change absent). */
  constructor(private readonly onChange?: (report: ComputeReport, change?: { session: SessionPlacement; first: boolean }) => void) {}

  /** A decision of the job about the device, in words; reported once (the report needs a session first). */
  note(text: string): void {
    if (this.notes.includes(text) || this.notes.length >= MAX_NOTES) return;
    this.notes.push(text);
    this.emit(undefined, false);
  }

  /** A new session; returns a setter for its placement (known after its first run). */
  session(
    graph: string,
    provider: ProviderName,
    adapter: GpuAdapter | undefined,
    skipped: readonly ProviderSkip[],
  ): (nodes: Record<string, number>, cpuOps?: Record<string, number>) => void {
    const isFirst = this.first === undefined;
    this.first ??= { provider, ...(adapter ? { adapter } : {}), skipped };
    const index = this.sessions.length;
    const s: SessionPlacement = { graph, provider };
    if (index < MAX_SESSIONS) this.sessions.push(s);
    this.emit(s, isFirst);
    return (nodes, cpuOps) => {
      const placed: SessionPlacement = { ...s, nodes: { ...nodes }, ...(cpuOps && Object.keys(cpuOps).length ? { cpuOps: topOps(cpuOps) } : {}) };
      if (index < MAX_SESSIONS) this.sessions[index] = placed;
      this.emit(placed, false);
    };
  }

  report(): ComputeReport | undefined {
    return this.first
      ? { ...this.first, skipped: [...this.first.skipped], sessions: [...this.sessions], ...(this.notes.length ? { notes: [...this.notes] } : {}) }
      : undefined;
  }

  private emit(session: SessionPlacement | undefined, first: boolean): void {
    const r = this.report();
    if (r && this.onChange) {
      try {
        this.onChange(r, session ? { session, first } : undefined);
      } catch {
        /* a listener's failure is not the job's */
      }
    }
  }
}

/** The 12 most frequent op types (a report, not an inventory). */
function topOps(ops: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(ops)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12),
  );
}

const storage = new AsyncLocalStorage<ComputeLog>();

/** Runs `fn` with `log` receiving the sessions it creates. */
export function withComputeLog<T>(log: ComputeLog, fn: () => Promise<T>): Promise<T> {
  return storage.run(log, fn);
}

/** Runs `fn` outside any job's log (checks whose sessions are not the job's work). */
export function outsideComputeLog<T>(fn: () => Promise<T>): Promise<T> {
  return storage.exit(fn);
}

/** Notes a decision about the device in the log of the job running in this async context (no-op outside a job). */
export function noteCompute(text: string): void {
  storage.getStore()?.note(text);
}

/** The log of the job running in this async context, if any. */
export function currentComputeLog(): ComputeLog | undefined {
  return storage.getStore();
}
