/**
 * The job table: method → thin handler. Each validates what the schema cannot (files exist, …),
 * calls the core function with the job's AbortSignal and throttled progress, and returns the typed
 * result naming the provider it used.
 */
import type { JobTable } from "./serve";

export const jobTable: JobTable = {};
