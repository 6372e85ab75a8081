/** Typed errors of the model layer (config.json, adapters, checkpoints, unit slices). */
export type ModelErrorCode =
  | "io"
  | "missing-config"
  | "bad-config" // config.json not JSON / not an object / a field of the wrong type
  | "unsupported-architecture"
  | "inconsistent-config" // e.g. heads not dividing the width, kv heads not dividing heads
  | "missing-tensor" // a tensor the architecture needs is absent
  | "shape-mismatch" // a tensor's shape disagrees with config.json
  | "no-weights" // a folder without model.safetensors / index
  | "bad-unit" // layer/unit/granularity out of range
  | "compact-checkpoint" // an operation that needs the dense layout on a compact checkpoint
  | "bad-options"; // invalid options to a model-layer function

export class ModelError extends Error {
  override readonly name = "ModelError";
  constructor(
    readonly code: ModelErrorCode,
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}
