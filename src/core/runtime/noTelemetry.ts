/**
 * Imported before onnxruntime-node (by ort.ts): onnxruntime 1.30 otherwise keeps a usage database
 * under ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ (SQLite pages written at every session) and
 * leaves an empty /tmp/mat-debug-<pid>.log per process. headshare writes nothing it was not asked to
 * (an evaluation writes 0 bytes: measured by `npm run bench -- --only scale`), so telemetry is off
 * unless the user set ORT_DISABLE_TELEMETRY themselves.
 */
process.env.ORT_DISABLE_TELEMETRY ??= "1";
export {};
