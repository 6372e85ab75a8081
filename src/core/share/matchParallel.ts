/**
 * The match kernel on several threads (method.md §2, same result bit for bit): each match thread
 * (matchThread.ts, bundled alone as matchThread.js beside the running bundle) opens the checkpoint,
 * reads every P-th block into its own chunk and multiplies it on its own ORT session; this thread
 * adds the blocks' float32 products and squared-norm sums in block order, exactly as the one-thread
 * loop does. onnxruntime's run() blocks the thread that calls it, so on one thread the reading and
 * BF16 widening wait for the Gemms; with two, one thread decodes while the other multiplies.
 *
 *   main ──workerData──► thread t: blocks t, t+P, t+2P, …
 *        ◄── ready {provider} · block {k, products, norms, seconds} · done {bytes} · error {code, message}
 *        ──► merged {upTo}: a thread starts block k only when k < upTo + window (bounded memory)
 *        ──► stop: on cancel or failure; threads end after their current Gemm and are waited for
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { Granularity } from "../model/types";
import type { ProviderName } from "../runtime/ort";
import { MatchError, type MatchErrorCode } from "./errors";
import type { GramSums } from "./gram";
import type { Strategy } from "./types";
import { followSymlinksConsent } from "../safetensors/contained";

/** The match both sides agree on. */
export interface ParallelMatch {
  readonly weightsPath: string;
  readonly strategy: Strategy;
  readonly granularity: Granularity;
  readonly chunkBytes: number;
  /** The schedule the main thread made (units, blocks): a thread that finds another refuses to run. */
  readonly units: number;
  readonly blocks: number;
}

/** What a match thread is started with (structured-cloned). */
export interface ThreadInput extends ParallelMatch {
  /** This thread reads blocks index, index + count, … */
  readonly index: number;
  readonly count: number;
  readonly intraOpThreads: number;
  /** Blocks a thread may run ahead of the merge. */
  readonly window: number;
  /** This process's consent to follow links out of the model folder (a thread's module state starts empty). */
  readonly followSymlinks: boolean;
}

/** Thread → main. */
export type ThreadMessage =
  | { readonly type: "ready"; readonly provider: ProviderName }
  | {
      readonly type: "block";
      readonly k: number;
      readonly products: Float32Array[];
      readonly norms: Float64Array;
      readonly decode: number;
      readonly gram: number;
      readonly waited: number;
    }
  | { readonly type: "done"; readonly bytes: number }
  | { readonly type: "error"; readonly code: MatchErrorCode; readonly message: string };

/** Main → thread: blocks [0, upTo) are merged; or stop (cancelled, or another thread failed): finish the current Gemm and exit. */
export type MainMessage = { readonly type: "merged"; readonly upTo: number } | { readonly type: "stop" };

/** A match thread could not start (its script failed to load or it died before opening the model): the caller may fall back to one thread. */
export class ThreadStartError extends MatchError {
  constructor(message: string) {
    super("read-failed", message);
  }
}

/** How long a stopped thread may take to exit before it is terminated (a Gemm call takes well under a second). */
const STOP_GRACE_MS = 30_000;

/** The thread script beside the running bundle, or undefined when this build has none. */
export function matchThreadScript(dir: string = __dirname): string | undefined {
  const p = path.join(dir, "matchThread.js");
  return fs.existsSync(p) ? p : undefined;
}

let activeRuns = 0;

/** Parallel matches running in this process now (the worker may run several jobs at once). */
export function activeParallelRuns(): number {
  return activeRuns;
}

/** Cores this process may use. */
export function availableCores(): number {
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
}

export interface ParallelRun extends ParallelMatch {
  readonly threads: number;
  readonly intraOpThreads: number;
  readonly script: string;
  readonly signal?: AbortSignal;
  /** Called after block k is merged. */
  readonly onMerged?: (k: number) => void;
}

export interface ParallelResult {
  readonly bytes: number;
  readonly provider: ProviderName;
  /** Thread-seconds spent waiting for async reads, reading+decoding, and in the Gemms. */
  readonly readWait: number;
  readonly decode: number;
  readonly gram: number;
}

/** Runs the blocks on `threads` match threads, adding their products and squared norms to `sums` in block order. */
export async function runParallel(run: ParallelRun, sums: GramSums): Promise<ParallelResult> {
  activeRuns++;
  try {
    return await startThreads(run, sums);
  } finally {
    activeRuns--;
  }
}

function startThreads(run: ParallelRun, sums: GramSums): Promise<ParallelResult> {
  return new Promise<ParallelResult>((resolve, reject) => {
    const workers: Worker[] = [];
    const exited: Promise<void>[] = [];
    const pending = new Map<number, Extract<ThreadMessage, { type: "block" }>>();
    const done = new Array<boolean>(run.threads).fill(false);
    let next = 0,
      doneThreads = 0,
      bytes = 0,
      readWait = 0,
      decode = 0,
      gram = 0;
    let provider: ProviderName = "cpu";
    const ready = new Array<boolean>(run.threads).fill(false);
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      run.signal?.removeEventListener("abort", onAbort);
      // Threads are asked to stop and waited for, never terminated inside a Gemm: terminating a
      // thread while onnxruntime-node runs in it aborts the whole process. Settle once every
      // thread has exited, so a caller that exits right after never tears the process down under one.
      for (const w of workers) w.postMessage({ type: "stop" } satisfies MainMessage);
      const grace = setTimeout(() => {
        for (const w of workers) void w.terminate();
      }, STOP_GRACE_MS);
      void Promise.all(exited).then(() => {
        clearTimeout(grace);
        if (err) reject(err);
        else resolve({ bytes, provider, readWait, decode, gram });
      });
    };
    const onAbort = (): void => finish(new MatchError("aborted", "matching was cancelled"));
    if (run.signal?.aborted) return onAbort();
    run.signal?.addEventListener("abort", onAbort);
    const window = 2 * run.threads;
    for (let t = 0; t < run.threads; t++) {
      const input: ThreadInput = {
        weightsPath: run.weightsPath,
        strategy: run.strategy,
        granularity: run.granularity,
        chunkBytes: run.chunkBytes,
        units: run.units,
        blocks: run.blocks,
        index: t,
        count: run.threads,
        intraOpThreads: run.intraOpThreads,
        window,
        followSymlinks: followSymlinksConsent(),
      };
      let w: Worker;
      try {
        w = new Worker(run.script, { workerData: input });
      } catch (e) {
        finish(new ThreadStartError(`a match thread could not start (${run.script}): ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      workers.push(w);
      exited.push(new Promise<void>((r) => w.once("exit", () => r())));
      w.on("message", (m: ThreadMessage) => {
        if (settled) return;
        switch (m.type) {
          case "ready":
            provider = m.provider;
            ready[t] = true;
            return;
          case "error":
            return finish(new MatchError(m.code, m.message));
          case "done":
            bytes += m.bytes;
            done[t] = true;
            doneThreads++;
            break;
          case "block":
            pending.set(m.k, m);
            readWait += m.waited;
            decode += m.decode;
            gram += m.gram;
            try {
              for (let b = pending.get(next); b; b = pending.get(next)) {
                pending.delete(next);
                sums.add(b.products, b.norms);
                run.onMerged?.(next);
                next++;
              }
            } catch (e) {
              return finish(e instanceof Error ? e : new Error(String(e))); // e.g. a progress callback that throws
            }
            for (const other of workers) other.postMessage({ type: "merged", upTo: next } satisfies MainMessage);
            break;
        }
        if (doneThreads === run.threads && next === run.blocks) finish();
      });
      w.on("error", (e) =>
        finish(
          ready[t]
            ? new MatchError("read-failed", `${run.weightsPath}: a match thread failed: ${e.message}`)
            : new ThreadStartError(`a match thread could not start (${run.script}): ${e.message}`),
        ),
      );
      w.on("exit", (code) => {
        // messages it posted before exiting are delivered first; look once they have been handled
        setImmediate(() => {
          if (settled) return;
          if (code !== 0) {
            finish(
              ready[t]
                ? new MatchError("read-failed", `${run.weightsPath}: a match thread exited with code ${code}`)
                : new ThreadStartError(`a match thread exited with code ${code} before it started (${run.script})`),
            );
          } else if (!done[t]) finish(new MatchError("read-failed", `${run.weightsPath}: a match thread stopped before finishing its blocks`));
        });
      });
    }
  });
}
