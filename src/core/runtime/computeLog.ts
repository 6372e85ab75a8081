/**
 * Collects, per job, where its ONNX sessions ran, without threading a report through every core
 * function: the worker runs each job inside `withComputeLog`, and `createSession` (./ort.ts) records
 * into the log of the job whose async context created the session (jobs may run concurrently).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ComputeReport, GpuAdapter, ProviderName, ProviderSkip, SessionPlacement } from "./types";

/** Sessions kept per job (a sweep or a long training run creates several; the first ones say enough). */
const MAX_SESSIONS = 32;

export class ComputeLog {
  private first: { provider: ProviderName; adapter?: GpuAdapter; skipped: readonly ProviderSkip[] } | undefined;
  private readonly sessions: SessionPlacement[] = [];

  /** `onChange` hears every new session and every placement learned after a first run. */
  constructor(private readonly onChange?: (report: ComputeReport, change: { session: SessionPlacement; first: boolean }) => void) {}

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
    return this.first ? { ...this.first, skipped: [...this.first.skipped], sessions: [...this.sessions] } : undefined;
  }

  private emit(session: SessionPlacement, first: boolean): void {
    const r = this.report();
    if (r && this.onChange) {
      try {
        this.onChange(r, { session, first });
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

/** The log of the job running in this async context, if any. */
export function currentComputeLog(): ComputeLog | undefined {
  return storage.getStore();
}
