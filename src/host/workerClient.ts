/**
 * `WorkerClient`: the extension's and the CLI's handle on the compute process (dist/worker.js).
 * It starts the worker lazily on the first request (hexeditor's initWorker), exposes typed
 * `request(method, params, {signal, onProgress})`, surfaces progress and status events, and when
 * the worker dies (crash, kill, OOM) or a job hangs past its timeout it rejects every pending job
 * with an error naming the job, then starts a fresh worker on the next request. `dispose()` stops it.
 */
import { computeText, sessionsText, type ComputeInfo } from "../protocol/common";
import { fork, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describeZodError } from "../protocol/envelope";
import { Rpc, RpcError, type LogLevel, type PendingInfo } from "../protocol/rpc";
import {
  WORKER_PROTOCOL_VERSION,
  clientSide,
  workerRequests,
  workerSide,
  type ClientSide,
  type JobParams,
  type JobResult,
  type Progress,
  type WorkerJob,
  type WorkerSide,
  type WorkerStatus,
} from "../protocol/worker";
import { cgroupMemory, modelWeightBytes, oomReport, type CgroupMemory } from "./memoryLimit";
import type { Providers } from "../protocol/common";

/** The worker's status as the client sees it: the worker's own pushes, plus "stopped" when none runs. */
export type ClientStatus = WorkerStatus | { readonly state: "stopped"; readonly provider: WorkerStatus["provider"]; readonly message?: string };

export interface WorkerClientOptions {
  /** Path of the worker script. Default: `worker.js` beside this bundle (dist/cli.js and dist/extension.js both live in dist/). */
  readonly workerPath?: string;
  /** Default execution providers for every job (a job's own `providers` param wins). Default "auto". */
  readonly providers?: Providers;
  /** The user's consent to follow links out of a model folder, sent in the worker's handshake (default false). */
  readonly followSymlinks?: boolean;
  /** Per-job timeouts in ms (0 or absent: none). A job past its timeout kills the worker (it is presumed hung). */
  readonly jobTimeoutMs?: Partial<Record<WorkerJob, number>>;
  /** How long the worker may take to start and answer the handshake (default 30 s). */
  readonly startTimeoutMs?: number;
  /** After a cancel, how long the worker may take to confirm before it is killed (default 5 s). */
  readonly cancelGraceMs?: number;
  /** Extra environment for the worker. */
  readonly env?: Readonly<Record<string, string>>;
  /** Node flags for the worker (default none: never inherit the host's --inspect flags). */
  readonly execArgv?: readonly string[];
  readonly log?: (level: LogLevel, message: string) => void;
}

export interface JobOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: Progress) => void;
  /** Where the job's graphs run (provider, adapter, skipped providers, node placement), as the worker learns it. */
  readonly onCompute?: (c: ComputeInfo) => void;
  /** Overrides the client's timeout for this job (ms; 0 = none). */
  readonly timeoutMs?: number;
  /** Names the job in errors and status (default: the model file's name). */
  readonly label?: string;
}

interface Connection {
  readonly child: ChildProcess;
  readonly rpc: Rpc<ClientSide, WorkerSide>;
  readonly ready: Promise<void>;
  /** The last few KB the worker wrote to stdout/stderr, for crash reports. */
  tail: string;
  /** Why the client killed it, when it did. */
  killReason?: string;
  /** True when it was stopped on purpose (dispose, restart): status "stopped" rather than "error". */
  expectedExit?: boolean;
  exitInfo?: string;
  exited: boolean;
  /** Which start of the worker this is (1, 2, …). */
  readonly generation: number;
  /** The memory cgroup when it started (to tell an OOM kill from another SIGKILL). */
  readonly memory: CgroupMemory;
  /** The model of the job it last ran (for the memory estimate in an OOM report). */
  model?: string;
  /** The last estimated peak memory a job reported (eval's estimator), for the OOM report. */
  memoryNeed?: { readonly bytes: number; readonly what: string };
}

const TAIL_BYTES = 4096;

/** Default location of dist/worker.js: next to the running bundle. */
export function defaultWorkerPath(): string {
  return path.join(__dirname, "worker.js");
}

export class WorkerClient {
  private conn: Connection | undefined;
  private disposed = false;
  private statusValue: ClientStatus = { state: "stopped", provider: null };
  private readonly statusListeners = new Set<(s: ClientStatus) => void>();
  private readonly progressListeners = new Set<(p: Progress) => void>();
  /** Per-job progress callbacks, keyed by `${worker generation}:${request id}` (ids restart with each worker). */
  private readonly progressRoutes = new Map<string, (p: Progress) => void>();
  /** Per-job compute callbacks and the compute lines already logged, keyed like progressRoutes. */
  private readonly computeRoutes = new Map<string, { job: string; on?: (c: ComputeInfo) => void; logged: Set<string> }>();
  private generation = 0;

  constructor(private readonly opts: WorkerClientOptions = {}) {}

  get status(): ClientStatus {
    return this.statusValue;
  }
  /** The worker's pid while one runs. */
  get pid(): number | undefined {
    return this.conn && !this.conn.exited ? this.conn.child.pid : undefined;
  }
  /** How many workers this client has started (a fresh one after each death). */
  get starts(): number {
    return this.generation;
  }

  onStatus(listener: (s: ClientStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => void this.statusListeners.delete(listener);
  }
  /** Progress of every job (the status bar); per-job progress goes to `JobOptions.onProgress`. */
  onProgress(listener: (p: Progress) => void): () => void {
    this.progressListeners.add(listener);
    return () => void this.progressListeners.delete(listener);
  }

  /** Runs one job in the worker, starting it if needed. Rejects with an RpcError naming the job. */
  async request<M extends WorkerJob>(method: M, params: JobParams<M>, opts: JobOptions = {}): Promise<JobResult<M>> {
    const label = opts.label ?? defaultLabel(params);
    const named = `${method}${label ? ` (${label})` : ""}`;
    if (this.disposed) throw new RpcError("disposed", `${named} was not started: the worker client was disposed`, named);
    // Validate before starting a process for it.
    const check = workerRequests[method].params.safeParse(params);
    if (!check.success) throw new RpcError("invalid-params", `${named}: invalid options: ${describeZodError(check.error)}`, named);
    if (opts.signal?.aborted) throw new RpcError("cancelled", `${named} was cancelled before it started`, named);

    const conn = await this.connect(opts.signal, named).catch((err: unknown) => {
      if (this.disposed) throw new RpcError("disposed", `${named} was abandoned: the worker client was disposed`, named);
      throw err;
    });
    const model = (params as { model?: unknown; compact?: unknown }).model ?? (params as { compact?: unknown }).compact;
    if (typeof model === "string") conn.model = model;
    delete conn.memoryNeed; // the next job reports its own
    const started = conn.rpc.start(method, params as never, { ...(opts.signal ? { signal: opts.signal } : {}), ...(label ? { label } : {}) });
    const route = `${conn.generation}:${started.id}`;
    if (opts.onProgress) this.progressRoutes.set(route, opts.onProgress);
    this.computeRoutes.set(route, { job: started.job, ...(opts.onCompute ? { on: opts.onCompute } : {}), logged: new Set() });
    const timeoutMs = opts.timeoutMs ?? this.opts.jobTimeoutMs?.[method] ?? 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        const why = `${started.job} did not finish within ${formatMs(timeoutMs)}`;
        conn.rpc.fail(
          started.id,
          new RpcError(
            "timeout",
            `${why}; the worker was stopped (presumed hung) and its staging removed. If the job needs longer, raise the limit (--timeout MINUTES on the command line, headshare.worker.jobTimeoutMinutes in VS Code; 0 = none). The next request starts a fresh worker.`,
            started.job,
          ),
        );
        this.kill(conn, `${why} (presumed hung)`);
      }, timeoutMs);
    }
    try {
      return (await started.result) as JobResult<M>;
    } finally {
      if (timer) clearTimeout(timer);
      this.progressRoutes.delete(route);
      this.computeRoutes.delete(route);
    }
  }

  /** Stops the current worker (if any); the next request starts a fresh one. */
  restart(reason = "it was restarted by request"): void {
    if (!this.conn) return;
    this.conn.expectedExit = true;
    this.kill(this.conn, reason);
  }

  /** Asks the worker to shut down (jobs are aborted), kills it if it does not exit within `graceMs`, rejects what is pending. */
  async dispose(graceMs = 2000): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const conn = this.conn;
    if (conn && !conn.exited) {
      const exited = new Promise<void>((res) => conn.child.once("exit", () => res()));
      conn.rpc.failAll((p) => new RpcError("disposed", `${p.job} was abandoned: the worker client was disposed`, p.job));
      conn.killReason = "the worker client was disposed";
      conn.expectedExit = true;
      void conn.rpc.request("headshare/shutdown", {}).catch(() => undefined);
      const timer = setTimeout(() => conn.child.kill("SIGKILL"), graceMs);
      // A process that never started never emits 'exit': do not wait for it forever.
      let giveUp: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([exited, new Promise<void>((res) => (giveUp = setTimeout(res, graceMs + 2000)))]);
      clearTimeout(timer);
      if (giveUp) clearTimeout(giveUp);
    }
    this.setStatus({ state: "stopped", provider: this.statusValue.provider });
    this.statusListeners.clear();
    this.progressListeners.clear();
  }

  // ---------------------------------------------------------------- internals

  private async connect(signal: AbortSignal | undefined, named: string): Promise<Connection> {
    if (!this.conn || this.conn.exited) {
      const workerPath = this.opts.workerPath ?? defaultWorkerPath();
      if (!fs.existsSync(workerPath)) {
        throw new RpcError(
          "worker-missing",
          `${named} cannot run: the compute worker ${workerPath} does not exist. Build it with \`npm run build\` (or reinstall the extension).`,
          named,
        );
      }
      this.conn = this.spawn(workerPath);
    }
    const conn = this.conn;
    if (!signal) {
      await conn.ready;
      return conn;
    }
    // A cancel while the worker starts rejects this job only; the worker keeps starting for later jobs.
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new RpcError("cancelled", `${named} was cancelled before it started`, named));
      signal.addEventListener("abort", onAbort, { once: true });
      conn.ready.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
    return conn;
  }

  private spawn(workerPath: string): Connection {
    this.generation++;
    const child = fork(workerPath, [], {
      serialization: "advanced",
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      execArgv: [...(this.opts.execArgv ?? [])],
      env: { ...process.env, ...this.opts.env },
    });
    const rpc = new Rpc(
      clientSide,
      workerSide,
      {
        send: (msg) => {
          if (!child.connected) throw new Error("the worker's IPC channel is closed");
          child.send(msg, (err) => err && this.log("warn", `could not send ${msg.kind} to the worker: ${err.message}`));
        },
      },
      {
        name: "client",
        log: (level, message) => this.log(level, message),
        ...(this.opts.cancelGraceMs !== undefined ? { cancelGraceMs: this.opts.cancelGraceMs } : {}),
        onUnansweredCancel: (p: PendingInfo) => this.kill(conn, `${p.job} did not stop within ${formatMs(this.opts.cancelGraceMs ?? 5000)} of being cancelled`),
      },
    );
    let ready!: Promise<void>;
    const conn: Connection = {
      child,
      rpc,
      get ready() {
        return ready;
      },
      tail: "",
      exited: false,
      generation: this.generation,
      memory: cgroupMemory(),
    };
    const collect = (chunk: Buffer): void => {
      const text = chunk.toString("utf8");
      conn.tail = (conn.tail + text).slice(-TAIL_BYTES);
      for (const line of text.split("\n")) if (line.trim()) this.log("debug", `worker: ${line}`);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    child.on("message", (msg: unknown) => rpc.receive(msg));
    rpc.on("headshare/progress", (p) => {
      if (p.memoryNeed) conn.memoryNeed = p.memoryNeed;
      this.progressRoutes.get(`${conn.generation}:${p.job}`)?.(p);
      for (const l of this.progressListeners) l(p);
    });
    rpc.on("headshare/compute", (e) => {
      const r = this.computeRoutes.get(`${conn.generation}:${e.job}`);
      if (!r) return;
      // The log gets each fact once: the device when the first graph is placed, then each graph's nodes per provider and the job's notes.
      for (const line of [computeText(e.compute), ...e.compute.sessions.filter((s) => s.nodes).map((s) => sessionsText([s])), ...(e.compute.notes ?? [])]) {
        if (!r.logged.has(line)) {
          r.logged.add(line);
          this.log("info", `${r.job}: ${line}`);
        }
      }
      r.on?.(e.compute);
    });
    rpc.on("headshare/status", (s) => this.setStatus(s));
    child.on("error", (err) => {
      // Spawn failures (ENOENT, EACCES) and IPC errors; 'exit' may or may not follow.
      this.log("error", `worker process error: ${err.message}`);
      if (!conn.exited && child.exitCode === null && child.signalCode === null && child.pid === undefined) this.onExit(conn, null, null, err.message);
    });
    child.on("exit", (code, sig) => this.onExit(conn, code, sig));

    const startTimeoutMs = this.opts.startTimeoutMs ?? 30_000;
    ready = (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new RpcError(
                "worker-start-failed",
                `the compute worker (${workerPath}) did not answer within ${formatMs(startTimeoutMs)} of starting; it was stopped`,
              ),
            ),
          startTimeoutMs,
        );
      });
      try {
        const hello = await Promise.race([
          rpc.request("headshare/initialize", {
            protocolVersion: WORKER_PROTOCOL_VERSION,
            providers: this.opts.providers ?? "auto",
            followSymlinks: this.opts.followSymlinks ?? false,
          }),
          timeout,
        ]);
        this.log("info", `worker started (pid ${hello.pid}, node ${hello.node})`);
      } catch (err) {
        if (this.disposed) throw new RpcError("disposed", "the worker client was disposed while the worker was starting");
        this.kill(conn, "it failed to start");
        const why = err instanceof RpcError && err.code === "worker-exited" ? exitDescription(conn) : err instanceof Error ? err.message : String(err);
        throw new RpcError("worker-start-failed", `the compute worker (${workerPath}) failed to start: ${why}`);
      } finally {
        if (timer) clearTimeout(timer);
      }
    })();
    conn.ready.catch(() => undefined); // observed by callers; avoid an unhandled rejection when none waits
    return conn;
  }

  private onExit(conn: Connection, code: number | null, sig: NodeJS.Signals | null, errorMessage?: string): void {
    if (conn.exited) return;
    conn.exited = true;
    conn.exitInfo = errorMessage ?? (sig ? `signal ${sig}` : `exit code ${code}`);
    // A SIGKILL nobody here sent: the OOM killer, most likely. Say so, with the limit and the model's size.
    if (sig === "SIGKILL" && !conn.killReason) conn.exitInfo += `: ${oomReport(conn.memory, cgroupMemory(), modelWeightBytes(conn.model), conn.memoryNeed)}`;
    const how = exitDescription(conn);
    conn.rpc.dispose((p) => new RpcError("worker-exited", `${p.job} failed: ${how}. The next request starts a fresh worker.`, p.job));
    if (this.conn === conn) this.conn = undefined;
    // A worker killed and already replaced must not overwrite the new one's status.
    if (!this.disposed && this.conn === undefined)
      this.setStatus({ state: conn.expectedExit ? "stopped" : "error", provider: this.statusValue.provider, message: how });
  }

  private kill(conn: Connection, reason: string): void {
    if (conn.exited) return;
    conn.killReason ??= reason;
    this.log("warn", `stopping the worker: ${reason}`);
    conn.child.kill("SIGKILL");
    // Detach now, not at its 'exit' event: a request made meanwhile must start a fresh worker
    // instead of being sent to the dying one (and failing with this kill's reason).
    if (this.conn === conn) this.conn = undefined;
  }

  private setStatus(s: ClientStatus): void {
    this.statusValue = s;
    for (const l of this.statusListeners) {
      try {
        l(s);
      } catch (err) {
        this.log("error", `status listener threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private log(level: LogLevel, message: string): void {
    this.opts.log?.(level, message);
  }
}

/** "the compute worker exited (signal SIGKILL) …; its last output: …" */
function exitDescription(conn: Connection): string {
  const info = conn.exitInfo ?? "unknown reason";
  const why = conn.killReason
    ? `the compute worker was stopped because ${conn.killReason} (${info})`
    : `the compute worker exited unexpectedly (${info}${oomHint(conn.tail)})`;
  const tail = conn.tail.trim().split("\n").slice(-3).join(" | ").slice(-600);
  return tail ? `${why}; its last output: ${tail}` : why;
}

function oomHint(tail: string): string {
  return /heap out of memory|Allocation failed|ENOMEM|std::bad_alloc/i.test(tail) ? ", out of memory" : "";
}

function defaultLabel(params: unknown): string | undefined {
  if (typeof params !== "object" || params === null) return undefined;
  const p = params as Record<string, unknown>;
  const file = p.model ?? p.compact;
  return typeof file === "string" && file.length > 0 ? path.basename(file) : undefined;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}
