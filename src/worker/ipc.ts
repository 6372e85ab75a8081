/**
 * The worker end of the child-process IPC channel: a Transport over `process.send`, and the wiring
 * that feeds `process.on("message")` into the server and shuts down cleanly on
 * `headshare/shutdown` or when the parent disconnects (parent exited or killed).
 */
import type { Envelope } from "../protocol/envelope";
import type { LogLevel, Transport } from "../protocol/rpc";
import { serveWorker, type JobTable, type WorkerServer } from "./serve";

/** Writes worker log lines to stderr (the client collects them for crash reports). */
export function stderrLog(level: LogLevel, message: string): void {
  if (level === "debug" && !process.env.HEADSHARE_WORKER_DEBUG) return;
  process.stderr.write(`[headshare worker ${level}] ${message}\n`);
}

export function processTransport(proc: NodeJS.Process = process): Transport {
  return {
    send(message: Envelope): void {
      if (!proc.send || !proc.connected) throw new Error("the IPC channel to the parent is closed");
      // The callback swallows asynchronous send errors (channel closed mid-send) instead of an 'error' event.
      proc.send(message, undefined, {}, (err: Error | null) => {
        if (err) stderrLog("warn", `could not send ${message.kind}: ${err.message}`);
      });
    },
  };
}

/** Serves `table` over this process's IPC channel until shutdown or disconnect; then exits. */
export function runWorkerProcess(table: JobTable): WorkerServer {
  if (!process.send) {
    process.stderr.write("headshare worker: no IPC channel. This script is started by the headshare extension or CLI (child_process.fork), not by hand.\n");
    process.exit(2);
  }
  let exiting = false;
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    if (process.connected) process.disconnect();
    process.exit(code);
  };
  const server = serveWorker(table, processTransport(), { log: stderrLog, onShutdown: () => exit(0) });
  process.on("message", (msg: unknown) => server.rpc.receive(msg));
  // Ctrl-C in a terminal reaches the whole process group: the parent decides (it cancels the job
  // and waits for the cleanup), so the worker must not die of it mid-write.
  process.on("SIGINT", () => stderrLog("debug", "SIGINT ignored: the parent cancels jobs"));
  process.on("SIGTERM", () => void server.stop(5000).then(() => exit(0)));
  process.on("disconnect", () => {
    // The parent is gone: abort jobs (they remove their temporary files), then leave.
    void server.stop(5000).then(() => exit(0));
  });
  return server;
}
