/**
 * The worker's side of the protocol: one job table (method → thin handler) served over a
 * transport, with the lifecycle requests (`headshare/initialize`, `headshare/shutdown`), throttled
 * progress events named by request id, and `headshare/status` pushes (idle | loading | computing |
 * error, plus the provider last used). The real table is in ./jobTable.ts; tests inject their own.
 */
import { ComputeLog, withComputeLog } from "../core/runtime/computeLog";
import { setFollowSymlinks } from "../core/safetensors/contained";
import type { ComputeReport } from "../core/runtime/types";
import { Rpc, RpcError, type HandlerContext, type LogLevel, type Transport } from "../protocol/rpc";
import {
  WORKER_PROTOCOL_VERSION,
  clientSide,
  workerSide,
  type ClientSide,
  type JobParams,
  type WorkerJob,
  type WorkerSide,
  type WorkerStatus,
} from "../protocol/worker";
import type { z } from "zod";
import type { Providers } from "../protocol/common";
import { throttleProgress, type ProgressUpdate } from "./progress";

export interface JobContext {
  readonly id: number;
  readonly job: string;
  readonly signal: AbortSignal;
  /** Throttled: call it as often as you like. */
  readonly progress: (p: ProgressUpdate) => void;
  /** The providers this job should try: its own `providers` param, else the worker's default. */
  readonly providers: Providers;
}

/** Results may be built from the cores' readonly data types. */
type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export interface JobDef<M extends WorkerJob> {
  /** A short name for status and errors (e.g. the model folder's name). */
  label?(params: z.output<(typeof workerSide.requests)[M]["params"]>): string;
  run(params: z.output<(typeof workerSide.requests)[M]["params"]>, ctx: JobContext): Promise<DeepReadonly<z.input<(typeof workerSide.requests)[M]["result"]>>>;
}
/** The job table: the jobs this worker can run. A missing job is answered "unknown-method". */
export type JobTable = { readonly [M in WorkerJob]?: JobDef<M> };

export interface ServeOptions {
  readonly log?: (level: LogLevel, message: string) => void;
  /** Called after `headshare/shutdown` has been answered and running jobs have settled. */
  readonly onShutdown?: () => void;
  /** Progress throttle interval (default 250 ms). */
  readonly progressIntervalMs?: number;
}

export interface WorkerServer {
  readonly rpc: Rpc<WorkerSide, ClientSide>;
  /** Aborts every running job and resolves when they have all settled (or after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

export function serveWorker(table: JobTable, transport: Transport, opts: ServeOptions = {}): WorkerServer {
  const rpc = new Rpc(workerSide, clientSide, transport, { ...(opts.log ? { log: opts.log } : {}), name: "worker" });
  let defaultProviders: Providers = "auto";
  let lastProvider: WorkerStatus["provider"] = null;
  let lastCompute: ComputeReport | undefined;
  const running = new Map<number, { method: WorkerJob; label?: string; done: Promise<unknown>; abort: AbortController }>();

  const pushStatus = (state: WorkerStatus["state"], message?: string): void => {
    const first = [...running.entries()][0];
    rpc.notify("headshare/status", {
      state,
      provider: lastProvider,
      running: running.size,
      ...(lastCompute ? { compute: lastCompute } : {}),
      ...(first && state === "computing" ? { job: { id: first[0], method: first[1].method, ...(first[1].label ? { label: first[1].label } : {}) } } : {}),
      ...(message ? { message } : {}),
    });
  };

  rpc.handle("headshare/initialize", (params) => {
    pushStatus("loading");
    defaultProviders = params.providers;
    // The consent comes from the client's handshake only (the worker's own environment is not asked).
    setFollowSymlinks(params.followSymlinks);
    queueMicrotask(() => running.size === 0 && pushStatus("idle"));
    return { protocolVersion: WORKER_PROTOCOL_VERSION, pid: process.pid, node: process.version };
  });

  const stop = async (timeoutMs = 5000): Promise<void> => {
    for (const r of running.values()) r.abort.abort(new RpcError("cancelled", "the worker is shutting down"));
    const all = Promise.allSettled([...running.values()].map((r) => r.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all, new Promise<void>((res) => (timer = setTimeout(res, timeoutMs)))]);
    if (timer) clearTimeout(timer);
  };

  rpc.handle("headshare/shutdown", () => {
    void stop().then(() => setImmediate(() => opts.onShutdown?.()));
    return {};
  });

  for (const method of Object.keys(table) as WorkerJob[]) {
    const def = table[method] as JobDef<WorkerJob> | undefined;
    if (!def) continue;
    rpc.handle(method, async (params: JobParams<WorkerJob> & { providers?: Providers | undefined }, hctx: HandlerContext) => {
      // One controller per job, aborted by the client's cancel (hctx.signal) or by `stop`.
      const abort = new AbortController();
      const onCancel = (): void => abort.abort(hctx.signal.reason);
      hctx.signal.addEventListener("abort", onCancel, { once: true });
      const progress = throttleProgress((p) => rpc.notify("headshare/progress", { job: hctx.id, ...p }), opts.progressIntervalMs);
      const label = safeLabel(def, params);
      let settle!: () => void;
      running.set(hctx.id, { method, ...(label ? { label } : {}), abort, done: new Promise<void>((r) => (settle = r)) });
      pushStatus("computing");
      try {
        // Where this job's graphs run: to the client as each session is created and placed.
        const computeLog = new ComputeLog((compute) => rpc.notify("headshare/compute", { job: hctx.id, compute }));
        const result = await withComputeLog(computeLog, () =>
          def.run(params as never, {
            id: hctx.id,
            job: hctx.job,
            signal: abort.signal,
            progress,
            providers: params.providers ?? defaultProviders,
          }),
        );
        progress.flush();
        const used = (result as { provider?: unknown }).provider;
        const compute = computeLog.report();
        if (typeof used === "string" && used !== "none") {
          lastProvider = used as WorkerStatus["provider"];
          if (compute) {
            lastCompute = compute;
            (result as { compute?: ComputeReport }).compute = compute;
          }
        }
        running.delete(hctx.id);
        pushStatus(running.size ? "computing" : "idle");
        return result as never;
      } catch (err) {
        running.delete(hctx.id);
        if (abort.signal.aborted) pushStatus(running.size ? "computing" : "idle");
        else
          pushStatus(
            running.size ? "computing" : "error",
            `${hctx.job}${label ? ` (${label})` : ""} failed: ${err instanceof Error ? err.message : String(err)}`,
          );
        if (abort.signal.aborted && !(err instanceof RpcError && err.code === "cancelled")) {
          throw new RpcError("cancelled", `${hctx.job}${label ? ` (${label})` : ""} was cancelled`, hctx.job);
        }
        throw err;
      } finally {
        progress.dispose();
        hctx.signal.removeEventListener("abort", onCancel);
        settle();
      }
    });
  }
  return { rpc, stop };
}

function safeLabel(def: JobDef<WorkerJob>, params: unknown): string | undefined {
  try {
    return def.label?.(params as never);
  } catch {
    return undefined;
  }
}
