/**
 * The worker end of the child-process IPC channel: a Transport over `process.send`, and the wiring
 * that feeds `process.on("message")` into the server and shuts down cleanly on
 * `headshare/shutdown` or when the parent disconnects (parent exited or killed).
 */
import type { Envelope } from "../protocol/envelope";
import type { LogLevel, Transport } from "../protocol/rpc";
import { watchParent } from "./parentWatch";
import { serveWorker, type JobTable, type WorkerServer } from "./serve";

/**
 * Writes worker log lines to stderr (the client collects them for crash reports). A caller that
 * died has closed that pipe: writing then must never throw or kill the cleanup (EPIPE is dropped).
 */
export function stderrLog(level: LogLevel, message: string): void {
  if (level === "debug" && !process.env.HEADSHARE_WORKER_DEBUG) return;
  if (process.stderr.destroyed || !process.stderr.writable) return;
  try {
    process.stderr.write(`[headshare worker ${level}] ${message}\n`);
  } catch {
    // the pipe is gone
  }
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
  // Writes to a closed pipe (the caller died) raise 'error' on the stream: never let that kill the cleanup.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  const server = serveWorker(table, processTransport(), { log: stderrLog, onShutdown: () => exit(0) });
  process.on("message", (msg: unknown) => server.rpc.receive(msg));
  // Ctrl-C in a terminal reaches the whole process group: the parent decides (it cancels the job
  // and waits for the cleanup), so the worker must not die of it mid-write.
  process.on("SIGINT", () => stderrLog("debug", "SIGINT ignored: the parent cancels jobs"));
  // Stop jobs (they remove their staging), then leave: on SIGTERM, SIGHUP (a closed terminal), and
  // when the parent is gone (IPC disconnect, or the parent watch when this thread was busy).
  let leaving = false;
  const leave = (code: number): void => {
    if (leaving) return;
    leaving = true;
    void server.stop(3000).then(() => exit(code));
  };
  process.on("SIGTERM", () => leave(143));
  process.on("SIGHUP", () => leave(129));
  process.on("disconnect", () => leave(0));
  watchParent(() => leave(0));
  return server;
}
