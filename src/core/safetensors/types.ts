/**
 * The contract of the safetensors engine. Implementations: `reader.ts` (one file), `sharded.ts`
 * (an index of shards), `writer.ts`. Everything is positioned reads over a file handle: opening
 * a multi-GB file reads only its header.
 */

/** Every dtype the format defines that we understand. F8 types are inspect-only. */
export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2";

/** One entry of a safetensors header. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  /** Row-major shape; [] is a scalar. */
  readonly shape: readonly number[];
  /** Byte range [begin, end) relative to the start of the data region (as in the file). */
  readonly dataOffsets: readonly [number, number];
  /** Which file holds it (for sharded sources: the shard's absolute path). */
  readonly file: string;
}

/** A readable set of tensors: one `.safetensors` file or a sharded checkpoint. */
export interface TensorSource {
  /** Absolute path of the file, or of the index json for sharded checkpoints. */
  readonly path: string;
  /** `__metadata__` (merged across shards: the first shard's wins on conflicts). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in header order (file by file for shards). */
  readonly tensors: readonly TensorInfo[];
  has(name: string): boolean;
  /** Throws a SafetensorsError (code "missing-tensor") naming the file when absent. */
  info(name: string): TensorInfo;
  /** Raw bytes of a tensor, or of the byte range [byteBegin, byteEnd) within it. */
  readBytes(name: string, byteBegin?: number, byteEnd?: number): Promise<Uint8Array>;
  /**
   * `out.byteLength` raw bytes of a tensor from byte `byteBegin` (default 0: with `out` its byte
   * size, the whole tensor) read into `out` (a view of a buffer reused across reads). Optional:
   * callers fall back to readBytes and a copy when absent.
   */
  readBytesInto?(name: string, out: Uint8Array, byteBegin?: number): Promise<void>;
  /**
   * A tensor's raw bytes (the whole tensor, or the byte range [byteBegin, byteEnd) of it) read with
   * O_DIRECT (bypassing the page cache: for reads that overlap compute, see directRead.ts) into
   * `region`, a scratch region of at least their size + DIRECT_PAD bytes that the read may
   * overwrite anywhere; returns the view of `region` that holds them. Undefined when a direct read
   * is not possible here (platform, file system, fewer than DIRECT_MIN_BYTES): nothing was read,
   * and the caller reads the ordinary way. Optional.
   */
  readBytesDirect?(name: string, region: Uint8Array, byteBegin?: number, byteEnd?: number): Promise<Uint8Array | undefined>;
  /** Rows [rowBegin, rowEnd) of a tensor of rank >= 1 (row = the first axis), converted exactly to float32. */
  readRowsF32(name: string, rowBegin: number, rowEnd: number): Promise<Float32Array>;
  /** A whole float tensor as float32 (exact for F16/BF16/F32; F64 is rounded). */
  readF32(name: string): Promise<Float32Array>;
  /**
   * `count` chunks of `chunkBytes` bytes at byte offsets `byteBegin + i·strideBytes` within a
   * tensor, concatenated (e.g. a column block of a 2-D tensor, one chunk per row). Optional:
   * callers fall back to readBytes per chunk when absent.
   */
  readStridedBytes?(name: string, byteBegin: number, chunkBytes: number, strideBytes: number, count: number): Promise<Uint8Array>;
  /** Total bytes read from disk so far (for tests and benchmarks). */
  readonly bytesRead: number;
  close(): Promise<void>;
}

/** A tensor to write: either bytes already in the target dtype, or a producer of them. */
export interface TensorToWrite {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** The data, exactly elements × dtype size bytes; or a function called once when the writer reaches it. */
  readonly data: Uint8Array | (() => Promise<Uint8Array>);
}
