/**
 * The worker dies with its caller. The IPC channel's 'disconnect' event (./ipc.ts) covers a parent
 * that exits while this process's event loop is free; this watch covers the rest: a thread of its
 * own polls the parent PID (a dead parent's children are re-parented, so the PID changes), tells
 * the main thread, and if the main thread has not exited `graceMs` later (stuck in a long
 * computation, a regex, a native call) removes this process's live staging folders
 * (src/core/output/live.ts) itself and SIGKILLs the process. It works whatever the main thread does.
 */
import { Worker } from "node:worker_threads";
import { watchLiveStaging } from "../core/output/live";

export interface ParentWatch {
  stop(): void;
}

/** The watch thread's code (plain JS: it runs from a string, beside any bundle). */
const THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
let staging = [];
parentPort.on("message", (m) => { if (m && m.staging) staging = m.staging; });
const timer = setInterval(() => {
  if (process.ppid === workerData.ppid) return;
  clearInterval(timer);
  parentPort.postMessage({ orphaned: true });
  setTimeout(() => {
    for (const p of staging) { try { fs.rmSync(p, { recursive: true, force: true }); } catch {} }
    process.kill(workerData.pid, "SIGKILL");
  }, workerData.graceMs);
}, workerData.pollMs);
`;

/** Starts the watch; `onOrphaned` runs on the main thread (when it is free) once the parent is gone. */
export function watchParent(onOrphaned: () => void, opts: { graceMs?: number; pollMs?: number } = {}): ParentWatch {
  const thread = new Worker(THREAD, {
    eval: true,
    workerData: { ppid: process.ppid, pid: process.pid, graceMs: opts.graceMs ?? 4000, pollMs: opts.pollMs ?? 250 },
    stdout: false,
    stderr: false,
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
  });
  thread.unref();
  thread.on("message", (m: { orphaned?: boolean }) => {
    if (m?.orphaned) onOrphaned();
  });
  thread.on("error", () => undefined); // a watch that fails leaves the IPC disconnect as the only signal
  const unwatch = watchLiveStaging((staging) => thread.postMessage({ staging }));
  return {
    stop() {
      unwatch();
      void thread.terminate();
    },
  };
}
