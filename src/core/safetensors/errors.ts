/**
 * Typed errors of the safetensors engine. Every message names the file and what is wrong, and
 * says what to do; `code` is stable for tests and callers.
 */
export type SafetensorsErrorCode =
  | "io" // the file could not be opened/read/written
  | "empty-file"
  | "too-short" // fewer than 8 bytes: no header length
  | "header-too-large" // declared header length > 100 MB
  | "header-out-of-bounds" // declared header length runs past the end of the file
  | "header-not-json"
  | "header-not-object"
  | "bad-dtype"
  | "bad-shape"
  | "bad-offsets" // malformed data_offsets (not two non-negative integers, begin > end)
  | "size-mismatch" // data_offsets length != elements × dtype size
  | "offsets-overlap"
  | "offsets-gap"
  | "offsets-out-of-range"
  | "trailing-bytes" // data region longer than the tensors cover
  | "bad-metadata"
  | "bad-entry" // a header entry that is not a tensor description
  | "missing-tensor"
  | "bad-range" // a requested byte/row range outside the tensor
  | "not-float" // float conversion of a dtype that has none (F8 types)
  | "closed"
  | "bad-index" // model.safetensors.index.json malformed
  | "shard-outside-folder"
  | "symlink-outside-folder" // a file of the model folder links outside it (contained.ts)
  | "missing-shard"
  | "shard-mismatch" // index says a tensor is in a shard that does not hold it
  | "index-incomplete" // shards hold tensors the index's weight_map does not list
  | "duplicate-tensor"
  | "bad-tensor" // a tensor given to the writer is malformed
  | "overwrite-input"; // the writer was asked to replace a file it is reading from

export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
  constructor(
    readonly code: SafetensorsErrorCode,
    /** The file concerned (absolute when known). */
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}
