// Worker entry point: see src/worker (the compute process).
export {};
