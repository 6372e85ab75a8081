/**
 * Parsing and full validation of a safetensors header, as the format (and the reference
 * `safetensors` library) defines it:
 *   [u64 LE n][n bytes of UTF-8 JSON object, may be space-padded][data region]
 * Each tensor entry is {dtype, shape, data_offsets:[begin,end]} relative to the data region; the
 * ranges sorted by begin must be contiguous from 0 and cover the data region exactly.
 * `__metadata__`, when present, maps strings to strings.
 */
import { DTYPE_SIZE, isDType, numel } from "./dtype";
import { SafetensorsError } from "./errors";
import type { TensorInfo } from "./types";

/** The reference library's limit on the header length. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface ParsedHeader {
  readonly tensors: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute byte position of the data region in the file (8 + n). */
  readonly dataStart: number;
  readonly headerLength: number;
}

/** Validates the 8-byte prefix against the file size; returns n (the JSON header length). */
export function parseHeaderLength(file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize === 0) {
    throw new SafetensorsError("empty-file", file, "the file is empty (0 bytes), so it is not a safetensors file; re-export or re-download it");
  }
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new SafetensorsError(
      "too-short",
      file,
      `the file has ${fileSize} bytes, fewer than the 8-byte header length a safetensors file starts with; it is truncated or not safetensors`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      "header-too-large",
      file,
      `the header declares ${n} bytes of JSON, more than the format's limit of ${MAX_HEADER_BYTES}; the file is corrupt or not safetensors`,
    );
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new SafetensorsError(
      "header-out-of-bounds",
      file,
      `the header declares ${len} bytes of JSON but the file has only ${fileSize - 8} bytes after the length prefix; the file is truncated or corrupt`,
    );
  }
  return len;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Parses and validates the JSON header. `json` is exactly the n header bytes; `fileSize` is the
 * whole file's size (the data region is `fileSize - 8 - n` bytes). `file` is the shard path put
 * into each TensorInfo and into error messages.
 */
export function parseHeader(file: string, json: Uint8Array, fileSize: number): ParsedHeader {
  const headerLength = json.byteLength;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    throw new SafetensorsError(
      "header-not-json",
      file,
      "the header is not valid UTF-8, so it cannot be the JSON a safetensors header must be; the file is corrupt or not safetensors",
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SafetensorsError("header-not-json", file, `the header is not valid JSON (${why}); the file is corrupt or not safetensors`);
  }
  if (!isPlainObject(parsed)) {
    const kind = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : typeof parsed;
    throw new SafetensorsError(
      "header-not-object",
      file,
      `the header is JSON ${kind}, not an object mapping tensor names to descriptions; the file is not safetensors`,
    );
  }

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === "__metadata__") {
      if (!isPlainObject(entry)) {
        throw new SafetensorsError("bad-metadata", file, "__metadata__ is not an object of string values; fix the writer that produced this file");
      }
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") {
          throw new SafetensorsError(
            "bad-metadata",
            file,
            `__metadata__["${k}"] is ${v === null ? "null" : typeof v}, but metadata values must be strings; fix the writer that produced this file`,
          );
        }
      }
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    if (!isPlainObject(entry)) {
      throw new SafetensorsError("bad-entry", file, `tensor "${name}": its header entry is not an object {dtype, shape, data_offsets}`);
    }
    const { dtype, shape, data_offsets: offs } = entry;
    if (!isDType(dtype)) {
      throw new SafetensorsError(
        "bad-dtype",
        file,
        `tensor "${name}": unknown dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(DTYPE_SIZE).join(", ")}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      throw new SafetensorsError("bad-shape", file, `tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !isNonNegInt(offs[0]) || !isNonNegInt(offs[1]) || offs[0] > offs[1]) {
      throw new SafetensorsError(
        "bad-offsets",
        file,
        `tensor "${name}": data_offsets ${JSON.stringify(offs)} is not [begin, end] with integers 0 <= begin <= end`,
      );
    }
    const elements = numel(shape as number[]);
    const expected = elements * DTYPE_SIZE[dtype];
    if (!Number.isSafeInteger(expected) || offs[1] - offs[0] !== expected) {
      throw new SafetensorsError(
        "size-mismatch",
        file,
        `tensor "${name}": data_offsets [${offs[0]}, ${offs[1]}] span ${offs[1] - offs[0]} bytes, but shape [${shape.join(", ")}] × ${dtype} (${DTYPE_SIZE[dtype]} bytes) needs ${expected}`,
      );
    }
    tensors.push({
      name,
      dtype,
      shape: Object.freeze([...(shape as number[])]),
      dataOffsets: Object.freeze([offs[0], offs[1]]) as readonly [number, number],
      file,
    });
  }

  // Contiguity: sorted by begin (stable on ties so empty tensors keep their order), each begins
  // where the previous ended, the first at 0, the last ends exactly at the end of the data region.
  const sorted = [...tensors].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    const [b, e] = t.dataOffsets;
    if (e > dataSize) {
      throw new SafetensorsError(
        "offsets-out-of-range",
        file,
        `tensor "${t.name}": data_offsets [${b}, ${e}] run past the data region (${dataSize} bytes after the header); the file is truncated or corrupt`,
      );
    }
    if (b < end) {
      throw new SafetensorsError(
        "offsets-overlap",
        file,
        `tensor "${t.name}": data_offsets [${b}, ${e}] overlap tensor "${prev?.name}" which ends at ${end}; the file is corrupt`,
      );
    }
    if (b > end) {
      throw new SafetensorsError(
        "offsets-gap",
        file,
        `tensor "${t.name}": data_offsets begin at ${b} but the previous tensor${prev ? ` "${prev.name}"` : ""} ends at ${end}: ${b - end} unaccounted bytes; the file is corrupt`,
      );
    }
    end = e;
    prev = t;
  }
  if (end !== dataSize) {
    throw new SafetensorsError(
      "trailing-bytes",
      file,
      `the tensors cover ${end} bytes of data but the file holds ${dataSize} bytes after the header: ${dataSize - end} trailing bytes; the file is corrupt or was appended to`,
    );
  }
  return { tensors, metadata, dataStart, headerLength };
}
