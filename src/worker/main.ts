/**
 * Entry point of the compute process (`dist/worker.js`), started by `WorkerClient` with
 * `child_process.fork`. It serves the job table over the IPC channel; see ./serve.ts and ./jobTable.ts.
 */
import { runWorkerProcess } from "./ipc";
import { jobTable } from "./jobTable";

runWorkerProcess(jobTable);
