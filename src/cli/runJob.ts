/**
 * Running one long job from the CLI: a WorkerClient for the duration of the command, a progress
 * line on stderr (redrawn in place on a TTY, one line per phase otherwise), and Ctrl-C handling:
 * the first SIGINT cancels the job and waits for the worker to clean up (no output folder is left
 * behind), a second one stops the worker at once. Results go to stdout, never through here.
 */
import path from "node:path";
import { RpcError } from "../protocol/rpc";
import { computeText, providerNameSchema, type ComputeInfo } from "../protocol/common";
import { followSymlinksConsent } from "../core/safetensors/contained";
import { workerRequests, type JobParams, type JobResult, type Progress, type WorkerJob } from "../protocol/worker";
import { WorkerClient } from "../host/workerClient";
import type { Providers } from "../protocol/common";
import { UsageError } from "./args";

/** Exit code of a command cancelled with Ctrl-C (128 + SIGINT). */
export const EXIT_CANCELLED = 130;

/** `--providers cpu,cuda` or `auto` → the protocol's providers value. */
export function parseProviders(raw: string | undefined, command: string, usage: string): Providers {
  if (raw === undefined || raw === "auto") return "auto";
  const names = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const out: Providers = [];
  for (const n of names) {
    const ok = providerNameSchema.safeParse(n);
    if (!ok.success)
      throw new UsageError(
        `${command}: --providers: unknown execution provider "${n}"; use a comma list of ${providerNameSchema.options.join(", ")}, or auto`,
        usage,
      );
    if (!out.includes(ok.data)) out.push(ok.data);
  }
  if (out.length === 0) throw new UsageError(`${command}: --providers needs at least one provider (e.g. cpu or cuda,cpu) or auto`, usage);
  return out;
}

/** Resolves a user path against the cwd (the worker resolves nothing itself). */
export function absolute(p: string): string {
  return path.resolve(p);
}

/** Progress on stderr: in place on a TTY, one line per phase otherwise. */
export class ProgressLine {
  private lastPhase: string | undefined;
  private drawn = false;
  private readonly t0 = Date.now();
  constructor(
    private readonly title: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  update(p: Progress): void {
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    if (this.out.isTTY) {
      const secs = ((Date.now() - this.t0) / 1000).toFixed(0);
      const text = `${this.title}: ${p.phase} ${fmt(p.done)}/${fmt(p.total)} (${(100 * frac).toFixed(0)}%) ${secs}s${p.message ? ` · ${p.message}` : ""}`;
      const width = Math.max(20, (this.out.columns ?? 100) - 1);
      this.out.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      this.drawn = true;
    } else if (p.phase !== this.lastPhase) {
      this.out.write(`${this.title}: ${p.phase}…\n`);
    }
    this.lastPhase = p.phase;
  }

  note(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
  }

  clear(): void {
    if (this.drawn && this.out.isTTY) this.out.write("\r\x1b[2K");
    this.drawn = false;
  }
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export interface RunJobOptions {
  readonly providers?: Providers;
  /** Shown before the progress (default: the method without its namespace). */
  readonly title?: string;
  /** Worker log lines to stderr (--debug). */
  readonly debug?: boolean;
  /** Run on this client (several jobs, one worker); it is left running. Default: a client for this job only. */
  readonly client?: WorkerClient;
}

/** Every job stops after this long unless `--timeout MINUTES` says otherwise (0: no limit). */
export const DEFAULT_JOB_TIMEOUT_MINUTES = 24 * 60;
let jobTimeoutMinutes = DEFAULT_JOB_TIMEOUT_MINUTES;
/** The global `--timeout` (main.ts). */
export function setJobTimeoutMinutes(minutes: number): void {
  jobTimeoutMinutes = minutes;
}

/** A worker client for CLI commands. */
export function cliClient(providers: Providers = "auto", debug = false): WorkerClient {
  const ms = jobTimeoutMinutes * 60_000;
  return new WorkerClient({
    providers,
    ...(ms > 0 ? { jobTimeoutMs: Object.fromEntries(Object.keys(workerRequests).map((m) => [m, ms])) } : {}),
    // A big model's ORT run may take a while to reach its next abort check; a second Ctrl-C forces.
    cancelGraceMs: 60_000,
    // --follow-symlinks (or HEADSHARE_FOLLOW_SYMLINKS=1 in the user's shell) reaches the worker in its handshake.
    followSymlinks: followSymlinksConsent(),
    ...(debug ? { log: (level: string, message: string) => process.stderr.write(`[${level}] ${message}\n`) } : {}),
  });
}

/** The error a command gets when the user cancelled its job. */
export class CancelledError extends Error {
  override readonly name = "CancelledError";
  readonly code = "cancelled";
  /** 130 for Ctrl-C; 143 / 129 when stopped by SIGTERM / SIGHUP. */
  constructor(
    message: string,
    readonly exitCode = EXIT_CANCELLED,
  ) {
    super(message);
  }
}

/** Device lines already printed in full by this process. */
const explained = new Set<string>();

/** Runs one worker job with progress and Ctrl-C handling; throws CancelledError when cancelled. */
export async function runJob<M extends WorkerJob>(method: M, params: JobParams<M>, opts: RunJobOptions = {}): Promise<JobResult<M>> {
  const title = opts.title ?? method.replace(/^headshare\//, "");
  const client = opts.client ?? cliClient(opts.providers, opts.debug);
  const line = new ProgressLine(title);
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      line.note(`headshare: cancelling ${title}… (Ctrl-C again to stop at once)`);
      ac.abort();
    } else {
      line.note("headshare: stopped");
      client.restart("the user pressed Ctrl-C twice");
      process.exit(EXIT_CANCELLED);
    }
  };
  // SIGTERM and SIGHUP (a closed terminal): cancel like Ctrl-C (the worker removes its staging), and
  // stop at once if the worker has not confirmed within a few seconds. Exit code 128 + the signal.
  let stoppedBy: { signal: string; code: number } | undefined;
  const onTerminate = (signal: NodeJS.Signals): void => {
    if (stoppedBy) return;
    stoppedBy = { signal, code: signal === "SIGHUP" ? 129 : 143 };
    ac.abort();
    setTimeout(() => {
      client.restart(`headshare received ${signal}`);
      process.exit(stoppedBy!.code);
    }, 5000).unref();
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onTerminate);
  process.on("SIGHUP", onTerminate);
  try {
    // The first line names where the job's graphs run (provider, adapter) and why providers before it
    // were skipped (the reasons once per command: `demo` runs several jobs on one worker).
    let named = false;
    const onCompute = (c: ComputeInfo): void => {
      if (named) return;
      named = true;
      const text = computeText(c);
      line.note(`${title} runs on ${explained.has(text) ? computeText({ ...c, skipped: [] }) : text}`);
      explained.add(text);
    };
    return await client.request(method, params, { signal: ac.signal, onProgress: (p) => line.update(p), onCompute });
  } catch (e) {
    if (ac.signal.aborted && e instanceof RpcError && e.code === "cancelled") {
      // Confirmed by the worker: the job removed what it had started writing. Unconfirmed: the
      // worker was killed, and temporary files (.headshare-tmp-*) may remain until the next run.
      const confirmed = !/did not confirm/.test(e.message);
      const by = stoppedBy ? ` by ${stoppedBy.signal}` : "";
      throw new CancelledError(
        confirmed
          ? `${title} was cancelled${by}; nothing was written (a previous output is as it was)`
          : `${title} was stopped${by} (the worker did not confirm the cancel and was killed); a previous output is as it was, and temporary .headshare-tmp-* files may remain beside it until the next run removes them`,
        stoppedBy?.code,
      );
    }
    throw e;
  } finally {
    line.clear();
    // Keep the handler while the worker shuts down, so a second Ctrl-C still ends in exit code 130.
    if (!opts.client) await client.dispose();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onTerminate);
    process.off("SIGHUP", onTerminate);
  }
}

/** Wraps a command body: a CancelledError becomes one stderr line and exit code 130. */
export async function cancellable(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof CancelledError) {
      process.stderr.write(`headshare: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
