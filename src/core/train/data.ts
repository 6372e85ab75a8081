/**
 * Training data: plain-text files split into documents (at `<|endoftext|>`, or at blank lines when
 * a file has no such marker), tokenized with the model's tokenizer (each document = BOS + tokens),
 * a held-out split never trained on, and the training documents packed into one token stream
 * from which fixed-length blocks are drawn.
 *
 *   stream [T_total] = doc₀ ‖ doc₁ ‖ …        block b = stream[o_b, o_b + S + 1)
 *   input_ids [B, S] = block[:, 0:S]          targets [B, S] = block[:, 1:S+1]
 */
import { readRegularFile, RegularFileError } from "../safetensors/regularFile";
import { TrainError } from "./errors";
import { Rng } from "./rng";

export const DOC_SEPARATOR = "<|endoftext|>";

/** Documents of a text: split at `<|endoftext|>` (else at blank lines), trimmed, empty ones dropped. */
export function splitDocuments(text: string): string[] {
  const t = text.replace(/\r\n/g, "\n");
  const parts = t.includes(DOC_SEPARATOR) ? t.split(DOC_SEPARATOR) : t.split(/\n\s*\n/);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Training text is read whole into memory: bounded so a huge file is refused up front rather than exhausting the heap. */
const MAX_TRAIN_TEXT_BYTES = 512 * 2 ** 20;

export async function readDocuments(files: readonly string[]): Promise<string[]> {
  const docs: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = (await readRegularFile(f, MAX_TRAIN_TEXT_BYTES)).toString("utf8");
    } catch (e) {
      const r = e instanceof RegularFileError ? e.reason : "io";
      const why =
        r === "not-regular"
          ? "it is not a regular file: a folder, FIFO or device"
          : r === "too-large"
            ? `it is ${(e as RegularFileError).size} bytes, more than the ${MAX_TRAIN_TEXT_BYTES / 2 ** 20} MiB read whole for training; pass a smaller corpus`
            : r === "missing"
              ? "it does not exist"
              : e instanceof Error
                ? e.message
                : String(e);
      throw new TrainError("bad-data", `cannot read the text file (${why}); pass an existing UTF-8 text file`, f);
    }
    const d = splitDocuments(text);
    if (d.length === 0) throw new TrainError("bad-data", "the text file is empty; pass a file with text", f);
    docs.push(...d);
  }
  return docs;
}

export interface DataSplitOptions {
  /** Held-out documents from separate files (then no training document is held out). */
  readonly heldoutFiles?: readonly string[];
  /** Else: the last `heldoutDocs` documents of the training text are held out… */
  readonly heldoutDocs?: number;
  /** …or this fraction of them (default 0.2, at least 1). */
  readonly heldoutFraction?: number;
}

export interface TokenizedData {
  /** Training documents, each BOS + ids. */
  readonly train: readonly Int32Array[];
  /** Held-out documents, each BOS + ids. Never trained on. */
  readonly heldout: readonly Int32Array[];
  /** Packed training stream. */
  readonly stream: Int32Array;
}

export type Encode = (text: string) => number[];

export async function loadTextData(files: readonly string[], encode: Encode, o: DataSplitOptions = {}): Promise<TokenizedData> {
  if (files.length === 0) throw new TrainError("bad-data", "no training text given; pass at least one text file");
  const docs = await readDocuments(files);
  let trainDocs: string[], heldDocs: string[];
  if (o.heldoutFiles && o.heldoutFiles.length > 0) {
    trainDocs = docs;
    heldDocs = await readDocuments(o.heldoutFiles);
  } else {
    const frac = o.heldoutFraction ?? 0.2;
    if (!(frac > 0 && frac < 1)) throw new TrainError("bad-options", `heldoutFraction must be in (0, 1), got ${frac}`);
    const n = o.heldoutDocs ?? Math.max(1, Math.round(docs.length * frac));
    if (!Number.isInteger(n) || n < 1 || n >= docs.length) {
      throw new TrainError(
        "bad-data",
        `cannot hold out ${n} of ${docs.length} documents; give more text, a smaller held-out count or a --heldout file`,
        files[0],
      );
    }
    trainDocs = docs.slice(0, docs.length - n);
    heldDocs = docs.slice(docs.length - n);
  }
  const train = trainDocs.map((d) => Int32Array.from(encode(d)));
  const heldout = heldDocs.map((d) => Int32Array.from(encode(d)));
  const total = train.reduce((s, d) => s + d.length, 0);
  const stream = new Int32Array(total);
  let at = 0;
  for (const d of train) {
    stream.set(d, at);
    at += d.length;
  }
  return { train, heldout, stream };
}

/** Where a training loop gets micro-batch k: input_ids and targets, [B, S] int64 row-major. */
export interface BatchSource {
  readonly batchSize: number;
  readonly seqLen: number;
  batch(k: number): { inputIds: BigInt64Array; targets: BigInt64Array };
}

/** Micro-batch rows from window start offsets: row b = stream[o_b, o_b + S + 1). */
function windows(stream: Int32Array, offsets: ArrayLike<number>, S: number): { inputIds: BigInt64Array; targets: BigInt64Array } {
  const B = offsets.length;
  const inputIds = new BigInt64Array(B * S),
    targets = new BigInt64Array(B * S); // [B, S] int64
  for (let b = 0; b < B; b++) {
    const o = offsets[b]!;
    for (let s = 0; s < S; s++) {
      inputIds[b * S + s] = BigInt(stream[o + s]!);
      targets[b * S + s] = BigInt(stream[o + s + 1]!);
    }
  }
  return { inputIds, targets };
}

/** Draws batches of blocks at seeded random offsets: batch k of a run is a function of (seed, k). */
export class BlockSampler implements BatchSource {
  constructor(
    readonly stream: Int32Array,
    readonly batchSize: number,
    readonly seqLen: number,
    readonly seed: number,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new TrainError("bad-options", `batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(seqLen) || seqLen < 2) throw new TrainError("bad-options", `sequence length must be an integer ≥ 2, got ${seqLen}`);
    if (stream.length < seqLen + 1) {
      throw new TrainError(
        "bad-data",
        `the training text has ${stream.length} tokens, fewer than one block of ${seqLen + 1}; give more text or a shorter --seq-len`,
      );
    }
  }

  /** The window start offsets of micro-batch `k` ([B], each in [0, T − S)). */
  offsets(k: number): Int32Array {
    const rng = new Rng((this.seed * 0x9e3779b1 + k * 0x85ebca77) >>> 0);
    const out = new Int32Array(this.batchSize);
    for (let b = 0; b < this.batchSize; b++) out[b] = rng.int(this.stream.length - this.seqLen);
    return out;
  }

  /** Micro-batch `k`: input_ids and targets, [B, S] int64 row-major. */
  batch(k: number): { inputIds: BigInt64Array; targets: BigInt64Array } {
    return windows(this.stream, this.offsets(k), this.seqLen);
  }
}

/**
 * Batches from an explicit window order (a PostShare job's order.bin): micro-batch k is rows
 * order[k·B, (k+1)·B) of window start offsets into the stream. Lets headshare's trainer replay
 * exactly the batches an exported job trains on.
 */
export class OrderedSampler implements BatchSource {
  constructor(
    readonly stream: Int32Array,
    readonly order: Int32Array,
    readonly batchSize: number,
    readonly seqLen: number,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1 || order.length % batchSize !== 0) {
      throw new TrainError("bad-data", `the window order has ${order.length} offsets, not a whole number of batches of ${batchSize}`);
    }
    for (let i = 0; i < order.length; i++) {
      const o = order[i]!;
      if (!(o >= 0 && o + seqLen + 1 <= stream.length)) {
        throw new TrainError("bad-data", `window ${i} starts at ${o}, outside the ${stream.length}-token stream for windows of ${seqLen + 1}`);
      }
    }
  }

  get microBatches(): number {
    return this.order.length / this.batchSize;
  }

  batch(k: number): { inputIds: BigInt64Array; targets: BigInt64Array } {
    if (!(Number.isInteger(k) && k >= 0 && k < this.microBatches)) {
      throw new TrainError(
        "bad-data",
        `micro-batch ${k} is past the window order's ${this.microBatches} micro-batches; export the job with at least as many --steps`,
      );
    }
    return windows(this.stream, this.order.subarray(k * this.batchSize, (k + 1) * this.batchSize), this.seqLen);
  }
}
